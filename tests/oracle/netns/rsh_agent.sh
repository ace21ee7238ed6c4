#!/bin/sh
# An rsh/ssh stand-in for Open MPI (`--mca plm_rsh_agent`) that "logs in" to a
# network namespace on this machine, so that one machine can play several hosts
# (tests/oracle/test_two_hosts.py).
#
# mpirun calls it as:  rsh_agent.sh HOST COMMAND...   (COMMAND is shell text, as for ssh)
#
# LANCER_NETNS_CONF names a file with one line per host:
#     HOST NAMESPACE HOSTNAME [VAR=VALUE ...]
# HOST is what the hostfile says (an IP here), NAMESPACE the `ip netns` name,
# HOSTNAME what gethostname() returns there (in its own UTS namespace; set
# LANCER_NETNS_UTS=0 where `unshare --uts` does not work), and VAR=VALUE
# environment that only this host has (as its login environment would).
# The command runs with a clean environment, as over ssh: PATH, HOME, the
# host's VAR=VALUEs, and OMPI_ALLOW_RUN_AS_ROOT(_CONFIRM) when mpirun has them.
# LANCER_NETNS_LOG, if set, gets one line per launch.
set -u
host=$1
shift
cmd=$*
conf=${LANCER_NETNS_CONF:?LANCER_NETNS_CONF is not set}
line=$(awk -v h="$host" '$1 == h { print; exit }' "$conf")
if [ -z "$line" ]; then
  echo "rsh_agent: unknown host $host (not in $conf)" >&2
  exit 255
fi
# shellcheck disable=SC2086
set -- $line
ns=$2
name=$3
shift 3
env_vars="PATH=/usr/local/bin:/usr/bin:/bin HOME=${HOME:-/root} $*"
for v in OMPI_ALLOW_RUN_AS_ROOT OMPI_ALLOW_RUN_AS_ROOT_CONFIRM; do
  eval "val=\${$v:-}"
  [ -n "$val" ] && env_vars="$env_vars $v=$val"
done
[ -n "${LANCER_NETNS_LOG:-}" ] && echo "$host -> netns $ns ($name): $cmd" >>"$LANCER_NETNS_LOG"
if [ "${LANCER_NETNS_UTS:-1}" = 1 ]; then
  # shellcheck disable=SC2086
  exec ip netns exec "$ns" env -i $env_vars unshare --uts sh -c 'hostname "$1" && exec sh -c "$2"' sh "$name" "$cmd"
fi
# shellcheck disable=SC2086
exec ip netns exec "$ns" env -i $env_vars sh -c "$cmd"
