#!/usr/bin/env bash
# Runs the Slurm job-array recipe of docs/distributed.md without Slurm.
#
# The five files of the recipe (lancer.env, lancer-submit.sh, lancer-*.sbatch) are taken
# from docs/distributed.md (the fenced block after each `<!-- slurm-recipe: NAME -->`), so
# what runs is what the document shows. lancer.env is then rewritten for a generated
# dataset and this checkout's build/lancer. lancer-submit.sh runs unchanged, with a stand-in
# `sbatch` first on PATH that runs each job at once, in submission order, setting what Slurm
# sets (SLURM_JOB_ID, SLURM_JOB_NAME, SLURM_CPUS_PER_TASK, SLURM_ARRAY_JOB_ID,
# SLURM_ARRAY_TASK_ID), writing --output files, honouring --export=ALL,VAR=... and afterok
# dependencies (a job whose dependency did not succeed does not run). It does not emulate
# queueing, nodes, resource limits, requeue, sacct or scancel.
#
# Then: one array task is made to fail once (its first run only), finalize therefore does not
# run; the failed index and finalize are resubmitted as the document says; the index must be
# byte-identical to a one-process `lancer create-index` of a copy of the dataset.
#
# Usage: scripts/slurm_recipe_dryrun.sh [--keep]     (--keep: leave the work folder)
# Env:   LANCER_BIN (default build/lancer), PYTHON (default .venv/bin/python),
#        DRYRUN_PARALLEL (array tasks at once, default 2), DRYRUN_FAIL_TASK (default 1; -1: none),
#        DRYRUN_RECOVERY=resubmit (default: the failed indices, then finalize) or rerun
#        (./lancer-submit.sh again)
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
doc=$repo/docs/distributed.md
lancer=${LANCER_BIN:-$repo/build/lancer}
python=${PYTHON:-$repo/.venv/bin/python}
keep=0
[ "${1:-}" = "--keep" ] && keep=1
[ -x "$lancer" ] || { echo "no lancer binary at $lancer (build it, or set LANCER_BIN)" >&2; exit 1; }

work=$(mktemp -d /tmp/lancer-slurm-dryrun.XXXXXX)
cleanup() { if [ "$keep" = 1 ]; then echo "(kept $work)"; else rm -rf "$work"; fi; }
trap cleanup EXIT
cd "$work"
say() { printf '\n### %s\n' "$*"; }

# --- the recipe, from the document ---------------------------------------------------------
for f in lancer.env lancer-submit.sh lancer-train.sbatch lancer-task.sbatch lancer-finalize.sbatch; do
  awk -v name="$f" '
    $0 == "<!-- slurm-recipe: " name " -->" { found = 1; next }
    found == 1 && /^```/ { found = 2; next }
    found == 2 && /^```/ { exit }
    found == 2 { print }' "$doc" >"$f"
  [ -s "$f" ] || { echo "recipe file $f not found in $doc" >&2; exit 1; }
done
chmod +x lancer-submit.sh
# Point lancer.env at this run's dataset and binary; keep the document's OPTS line but drop
# the parameters that only suit a large dataset.
opts=$(grep '^OPTS=' lancer.env | sed 's/ --num-partitions [0-9]*//; s/ --num-sub-vectors [0-9]*//')
cat >lancer.env <<EOF
LANCER=$work/bin/lancer-flaky
DATASET=$work/items.lance
$opts
EOF

# --- a dataset: 8 fragments of 9,000 x 64-d float32, hence 8 tasks -------------------------
"$python" - <<'EOF'
import lance, numpy as np, pyarrow as pa
rng = np.random.default_rng(3)
rows, dim = 72_000, 64
centres = rng.standard_normal((200, dim), dtype=np.float32)
values = centres[rng.integers(0, 200, rows)] + 0.3 * rng.standard_normal((rows, dim), dtype=np.float32)
table = pa.table({"id": np.arange(rows), "vector": pa.FixedSizeListArray.from_arrays(pa.array(values.ravel()), dim)})
lance.write_dataset(table, "items.lance", max_rows_per_file=9_000)
EOF
cp -r items.lance reference.lance

mkdir -p bin
# lancer, except that `build-task --task $DRYRUN_FAIL_TASK` fails the first time (a lost node).
cat >bin/lancer-flaky <<EOF
#!/bin/bash
fail=${DRYRUN_FAIL_TASK:-1}
if [ "\$1" = build-task ] && [ "\${*: -2:1}" = --task ] && [ "\${*: -1}" = "\$fail" ] &&
   mkdir "$work/.failed-once" 2>/dev/null; then
  echo "dry run: task \$fail fails this once (as if its node were lost)" >&2
  exit 1
fi
exec "$lancer" "\$@"
EOF

# --- the stand-in sbatch -------------------------------------------------------------------
cat >bin/sbatch <<'EOF'
#!/bin/bash
# Stand-in for sbatch (see scripts/slurm_recipe_dryrun.sh): runs the job now.
set -uo pipefail
state=${DRYRUN_STATE:?}
parsable=0 array="" deps="" export_="" name="" output="" cpus=""
parse_opt() {
  case "$1" in
    --parsable) parsable=1 ;;
    --array=*) array=${1#--array=} ;;
    --dependency=*) deps=${1#--dependency=} ;;
    --export=*) export_=${1#--export=} ;;
    --job-name=*) name=${1#--job-name=} ;;
    --output=*) output=${1#--output=} ;;
    --cpus-per-task=*) cpus=${1#--cpus-per-task=} ;;
    *) ;;  # other options (time, ntasks, requeue, ...) have nothing to emulate here
  esac
}
while [ $# -gt 0 ] && [ "${1#--}" != "$1" ]; do
  parse_opt "$1"; shift
done
script=$1; shift
script_args=("$@")
# #SBATCH lines, unless the command line said otherwise.
cl_array=$array cl_name=$name cl_output=$output cl_cpus=$cpus
while read -r opt; do parse_opt "$opt"; done < <(sed -n 's/^#SBATCH[[:space:]]\+//p' "$script" | tr ' ' '\n')
[ -n "$cl_array" ] && array=$cl_array; [ -n "$cl_name" ] && name=$cl_name
[ -n "$cl_output" ] && output=$cl_output; [ -n "$cl_cpus" ] && cpus=$cl_cpus
name=${name:-$(basename "$script")}
cpus=${cpus:-1}
[ "$cpus" -gt "$(nproc)" ] && cpus=$(nproc)
id=$(( $(cat "$state/next-id" 2>/dev/null || echo 1000) + 1 ))
echo "$id" >"$state/next-id"
note() { echo "[sbatch stand-in] job $id ($name${array:+, array $array}): $*" >&2; }
reply() { if [ "$parsable" = 1 ]; then echo "$id"; else echo "Submitted batch job $id"; fi; }

if [ -n "$deps" ]; then
  [ "${deps#afterok:}" != "$deps" ] || { note "only afterok dependencies are emulated"; exit 1; }
  for dep in $(echo "${deps#afterok:}" | tr ':' ' '); do
    if [ "$(cat "$state/$dep.status" 2>/dev/null)" != COMPLETED ]; then
      echo DEPENDENCY_NEVER_SATISFIED >"$state/$id.status"
      note "not run: dependency afterok:$dep not satisfied (Slurm: PENDING, reason DependencyNeverSatisfied)"
      reply; exit 0
    fi
  done
fi
env_args=()
if [ -n "$export_" ]; then
  IFS=, read -r -a items <<<"$export_"
  for it in "${items[@]}"; do
    case "$it" in
      ALL) ;;
      *=*) env_args+=("$it") ;;
      *) note "--export=$export_: only ALL,VAR=value is emulated"; exit 1 ;;
    esac
  done
fi
run_one() {  # $1 = array index or empty
  local out=${output:-slurm-%j.out}
  out=${out//%x/$name}; out=${out//%j/$id}; out=${out//%A/$id}; out=${out//%a/${1:-0}}
  env "${env_args[@]}" SLURM_JOB_ID="$id" SLURM_JOB_NAME="$name" SLURM_CPUS_PER_TASK="$cpus" \
    SLURM_SUBMIT_DIR="$PWD" ${1:+SLURM_ARRAY_JOB_ID=$id SLURM_ARRAY_TASK_ID=$1} \
    bash "$script" "${script_args[@]}" >"$out" 2>&1
  local rc=$?
  echo "$rc" >"$state/$id.${1:-job}.rc"
  return "$rc"
}
if [ -z "$array" ]; then
  if run_one ""; then echo COMPLETED >"$state/$id.status"; note "COMPLETED"
  else echo FAILED >"$state/$id.status"; note "FAILED (exit $(cat "$state/$id.job.rc"))"; fi
  reply; exit 0
fi
spec=${array%\%*}
indices=()
IFS=, read -r -a parts <<<"$spec"
for p in "${parts[@]}"; do
  if [ "${p#*-}" != "$p" ]; then for ((i = ${p%-*}; i <= ${p#*-}; i++)); do indices+=("$i"); done
  else indices+=("$p"); fi
done
limit=${DRYRUN_PARALLEL:-2}
[ "$array" != "$spec" ] && [ "${array#*%}" -lt "$limit" ] && limit=${array#*%}
running=0
for i in "${indices[@]}"; do
  run_one "$i" &
  running=$((running + 1))
  if [ "$running" -ge "$limit" ]; then wait -n; running=$((running - 1)); fi
done
wait
failed=()
for i in "${indices[@]}"; do [ "$(cat "$state/$id.$i.rc")" = 0 ] || failed+=("$i"); done
if [ ${#failed[@]} -eq 0 ]; then echo COMPLETED >"$state/$id.status"; note "all ${#indices[@]} tasks COMPLETED"
else echo FAILED >"$state/$id.status"; note "FAILED: array indices ${failed[*]} exited non-zero"; fi
reply
EOF
chmod +x bin/sbatch bin/lancer-flaky
mkdir -p state
export PATH=$work/bin:$PATH DRYRUN_STATE=$work/state

say "the recipe: ./lancer-submit.sh (lancer.env below)"
cat lancer.env
submitted=$(./lancer-submit.sh)
echo "$submitted"
for f in lancer-train-*.out lancer-task-*.out lancer-finalize-*.out; do
  [ -e "$f" ] || continue
  if [ -s "$f" ]; then say "$f"; cat "$f"; else echo "($f: empty)"; fi
done

say "recovery (DRYRUN_RECOVERY=${DRYRUN_RECOVERY:-resubmit})"
array_job=$(echo "$submitted" | sed -n 's/.*task array \([0-9]*\).*/\1/p')
failed=()
for rc in state/"$array_job".*.rc; do
  i=${rc#state/"$array_job".}; i=${i%.rc}
  [ "$(cat "$rc")" = 0 ] || failed+=("$i")
done
if [ ${#failed[@]} -gt 0 ] && [ "${DRYRUN_RECOVERY:-resubmit}" = rerun ]; then
  echo "failed array indices of job $array_job: ${failed[*]}; recovery: run ./lancer-submit.sh again"
  submitted=$(./lancer-submit.sh)
  echo "$submitted"
  final=$(echo "$submitted" | sed -n 's/.*finalize job \([0-9]*\).*/\1/p')
  for f in lancer-train-*.out; do say "$f"; cat "$f"; done
  say "lancer-finalize-$final.out"
  cat "lancer-finalize-$final.out"
elif [ ${#failed[@]} -gt 0 ]; then
  list=$(IFS=,; echo "${failed[*]}")
  echo "failed array indices of job $array_job: $list"
  export LANCER_ENV=$work/lancer.env
  tasks=$(sbatch --parsable --array="$list" lancer-task.sbatch)
  final=$(sbatch --parsable --dependency=afterok:"$tasks" lancer-finalize.sbatch)
  say "lancer-finalize-$final.out"
  cat "lancer-finalize-$final.out"
else
  echo "no array task failed (DRYRUN_FAIL_TASK=${DRYRUN_FAIL_TASK:-1})"
fi

say "check: the index against a one-process create-index of a copy"
read -r -a opt_array < <(bash -c "source lancer.env; echo \"\${OPTS[*]}\"")
"$lancer" create-index reference.lance "${opt_array[@]}" >/dev/null 2>&1
status=0
for f in index.idx auxiliary.idx; do
  if ! a=$(ls items.lance/_indices/*/"$f" 2>/dev/null); then
    echo "no $f in items.lance: the build did not commit"; status=1; continue
  fi
  b=$(ls reference.lance/_indices/*/"$f")
  if cmp -s "$a" "$b"; then echo "$f: identical ($(stat -c %s "$a") bytes)"; else echo "$f: DIFFERS"; status=1; fi
done
[ -d items.lance/_lancer/build-vector_idx ] && { echo "staging folder left behind"; status=1; }
"$python" -c "
import lance
ds = lance.dataset('items.lance')
print('lance lists:', [(i.name, i.num_rows_indexed) for i in ds.describe_indices()])"
[ "$status" = 0 ] && echo "dry run OK" || echo "dry run FAILED"
exit "$status"
