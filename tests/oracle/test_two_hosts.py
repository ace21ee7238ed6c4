"""Distributed create-index across two "hosts" (issue 5): two network namespaces on
this machine, joined by a veth pair, play host A (10.77.0.1) and host B (10.77.0.2).

mpirun runs inside namespace A and starts its daemon on host B through an rsh agent
(tests/oracle/netns/rsh_agent.sh) that "logs in" with `ip netns exec`, a clean
environment and a hostname of its own, as ssh would. Open MPI is limited to the TCP
transport on the veth subnet (`--mca btl tcp,self`, `btl/oob_tcp_if_include`), so rank
0 (host A) and ranks 1-2 (host B) really talk over the veth. The filesystem is shared,
as a cluster's would be. The index must be byte-identical to a single-process build
of a copy of the dataset, and Lance must list and use it.

Needs root, `ip` (iproute2), `mpirun` and network namespaces; skips, saying why, where
any is missing. The namespaces (and anything left running in them) are removed in the
fixture's finalizer, also when a test fails.
"""

from __future__ import annotations

import glob
import json
import os
import re
import shutil
import subprocess
import time
import uuid

import lance
import numpy as np
import pyarrow as pa
import pytest

from datasets import write_clustered
from lancer_cli import lancer_bin

HERE = os.path.dirname(os.path.abspath(__file__))
AGENT = os.path.join(HERE, "netns", "rsh_agent.sh")
MPIRUN = shutil.which("mpirun")
IP = shutil.which("ip")
SUBNET = "10.77.0.0/24"
HOST_A, HOST_B = "10.77.0.1", "10.77.0.2"
NAME_A, NAME_B = "lancer-host-a", "lancer-host-b"
DIM = 32
FRAGMENTS = 24
ROWS_PER_FRAGMENT = 4096  # 98304 rows: 12 tasks of 8192 rows
PARTITIONS = 64
MPI_TIMEOUT = 50


def build_args(uri, *extra):
    return [uri, "--column", "vector", "--index-type", "IVF_PQ", "--num-partitions", str(PARTITIONS),
            "--threads", "1", *extra]


def _run(argv, timeout=30, **kw):
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, **kw)


def _ip(*args, check=True):
    r = _run([IP, *args])
    if check and r.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)} failed ({r.returncode}): {r.stderr.strip()}")
    return r


class TwoHosts:
    """Two namespaces joined by a veth pair, and what mpirun needs to use them."""

    def __init__(self, root):
        tag = uuid.uuid4().hex[:8]
        self.ns = {HOST_A: f"lancer2h-{tag}-a", HOST_B: f"lancer2h-{tag}-b"}
        self.created = []
        self.root = str(root)
        self.conf = os.path.join(self.root, "hosts.conf")
        self.hostfile = os.path.join(self.root, "hostfile")
        self.log = os.path.join(self.root, "agent.log")
        self.uts = False

    def setup(self):
        a, b = self.ns[HOST_A], self.ns[HOST_B]
        r = _ip("netns", "add", a, check=False)
        if r.returncode != 0:
            pytest.skip(f"cannot create a network namespace (`ip netns add`): {r.stderr.strip()}")
        self.created.append(a)
        _ip("netns", "add", b)
        self.created.append(b)
        # Both ends are created inside their namespaces: no name can clash with the host's.
        _ip("link", "add", "veth-lancer", "netns", a, "type", "veth", "peer", "name", "veth-lancer", "netns", b)
        for ns, addr in ((a, HOST_A), (b, HOST_B)):
            _ip("-n", ns, "addr", "add", addr + "/24", "dev", "veth-lancer")
            _ip("-n", ns, "link", "set", "lo", "up")
            _ip("-n", ns, "link", "set", "veth-lancer", "up")
        # A hostname per host where a UTS namespace can be made (it names the workers in the report).
        unshare = shutil.which("unshare")
        self.uts = unshare is not None and _run([unshare, "--uts", "true"]).returncode == 0
        with open(self.conf, "w") as f:
            f.write(f"{HOST_A} {a} {NAME_A}\n{HOST_B} {b} {NAME_B}\n")
        with open(self.hostfile, "w") as f:
            f.write(f"{HOST_A} slots=1\n{HOST_B} slots=2\n")  # rank 0 on A, ranks 1-2 on B

    def set_host_env(self, host, **env):
        """Environment only `host`'s logins get (as if that machine had it set)."""
        lines = open(self.conf).read().splitlines()
        with open(self.conf, "w") as f:
            for line in lines:
                fields = line.split()[:3]
                if fields[0] == host:
                    fields += [f"{k}={v}" for k, v in env.items()]
                f.write(" ".join(fields) + "\n")

    def veth_bytes(self, host):
        r = _ip("-j", "-s", "-n", self.ns[host], "link", "show", "veth-lancer")
        stats = json.loads(r.stdout)[0]["stats64"]
        return stats["rx"]["bytes"], stats["tx"]["bytes"]

    def pids(self, host):
        r = _ip("netns", "pids", self.ns[host], check=False)
        return [int(p) for p in r.stdout.split()]

    def mpirun(self, ranks, *lancer_args, mpi_args=(), env=None):
        """mpirun started on host A (in its namespace, under its hostname)."""
        if "LANCER_SIMD" in os.environ and "LANCER_SIMD" not in (env or {}):
            mpi_args = ("-x", "LANCER_SIMD", *mpi_args)  # the suite's setting, on both hosts
        argv = [MPIRUN, "--display-map", "--hostfile", self.hostfile, "-np", str(ranks),
                "--mca", "plm_rsh_agent", AGENT, "--mca", "plm_rsh_no_tree_spawn", "1",
                "--mca", "btl", "tcp,self", "--mca", "btl_tcp_if_include", SUBNET,
                "--mca", "oob_tcp_if_include", SUBNET, *mpi_args, lancer_bin(), *lancer_args]
        if self.uts:
            argv = ["unshare", "--uts", "sh", "-c", 'hostname "$0" && exec "$@"', NAME_A, *argv]
        full_env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
                        LANCER_NETNS_CONF=self.conf, LANCER_NETNS_LOG=self.log,
                        LANCER_NETNS_UTS="1" if self.uts else "0")
        full_env.update(env or {})
        open(self.log, "w").close()
        try:
            return _run([IP, "netns", "exec", self.ns[HOST_A], *argv], timeout=MPI_TIMEOUT, env=full_env)
        except subprocess.TimeoutExpired as e:
            self.kill_all()
            raise AssertionError(f"mpirun over the two namespaces timed out after {MPI_TIMEOUT} s\n"
                                 f"stdout: {e.stdout}\nstderr: {e.stderr}")

    def launches(self):
        """What the rsh agent launched during the last mpirun, a line each."""
        return open(self.log).read().splitlines()

    def wait_idle(self, timeout=10.0):
        """True once no process is left in either namespace (the remote daemon has exited)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.pids(HOST_A) and not self.pids(HOST_B):
                return True
            time.sleep(0.1)
        return False

    def kill_all(self):
        for ns in self.created:
            for pid in _ip("netns", "pids", ns, check=False).stdout.split():
                try:
                    os.kill(int(pid), 9)
                except (ProcessLookupError, ValueError):
                    pass

    def teardown(self):
        self.kill_all()
        for ns in reversed(self.created):  # also removes the veth pair
            _ip("netns", "del", ns, check=False)
        self.created.clear()


@pytest.fixture(scope="module")
def hosts(tmp_path_factory):
    if MPIRUN is None:
        pytest.skip("mpirun not installed (openmpi-bin)")
    if IP is None:
        pytest.skip("`ip` not installed (iproute2): cannot make network namespaces")
    if os.geteuid() != 0:
        pytest.skip("network namespaces need root (running as uid %d)" % os.geteuid())
    h = TwoHosts(tmp_path_factory.mktemp("two-hosts"))
    try:
        try:
            h.setup()
        except RuntimeError as e:  # e.g. no veth support in this kernel
            pytest.skip(f"cannot set up the two namespaces: {e}")
        yield h
    finally:
        h.teardown()
        leftover = [n for n in h.ns.values() if n in _ip("netns", "list", check=False).stdout]
        assert not leftover, f"network namespaces left behind: {leftover}"


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    uri = str(tmp_path_factory.mktemp("two-hosts-data") / "base.lance")
    return uri, write_clustered(uri, FRAGMENTS, ROWS_PER_FRAGMENT, DIM, clusters=40, seed=7)


def index_bytes(uri):
    dirs = glob.glob(os.path.join(uri, "_indices", "*"))
    assert len(dirs) == 1, dirs
    return {name: open(os.path.join(dirs[0], name), "rb").read() for name in ("index.idx", "auxiliary.idx")}


@pytest.fixture(scope="module")
def reference(base, tmp_path_factory):
    """A single-process build/lancer create-index of a copy of the dataset."""
    uri = str(tmp_path_factory.mktemp("two-hosts-ref") / "ds.lance")
    shutil.copytree(base[0], uri)
    r = _run([lancer_bin(), "create-index", *build_args(uri)], timeout=120)
    assert r.returncode == 0, r.stderr
    return index_bytes(uri)


def copy(base, path):
    uri = str(path / "ds.lance")
    shutil.copytree(base[0], uri)
    return uri


def describe(r):
    return f"rc={r.returncode}\nstdout:\n{r.stdout[-4000:]}\nstderr:\n{r.stderr[-4000:]}"


def procs_on(stdout, host):
    """Ranks `--display-map` placed on `host`."""
    placed = {}
    for m in re.finditer(r"Data for node: (\S+)\s[^\n]*\n(.*?)(?=\n\s*\n)", stdout, re.S):
        placed[m.group(1)] = [int(x) for x in re.findall(r"Process rank: (\d+)", m.group(2))]
    return placed.get(host, [])


def lance_checks(uri, values):
    ds = lance.dataset(uri)
    idx = [i for i in ds.describe_indices() if i.name == "vector_idx"]
    assert len(idx) == 1, ds.describe_indices()
    assert idx[0].num_rows_indexed == len(values)
    seg = idx[0].segments[0].uuid
    q = values[123]
    plan = ds.scanner(nearest={"column": "vector", "q": q, "k": 10, "nprobes": 8}).explain_plan(True)
    assert seg in plan
    got = ds.to_table(nearest={"column": "vector", "q": q, "k": 10, "nprobes": 8}, columns=["id"])
    assert got.num_rows == 10 and 123 in got["id"].to_pylist()


def test_two_hosts_build_matches_one_process(hosts, base, reference, tmp_path):
    uri = copy(base, tmp_path)
    report = str(tmp_path / "report.json")
    rx0, tx0 = hosts.veth_bytes(HOST_B)
    r = hosts.mpirun(3, "create-index", *build_args(uri, "--report", report))
    assert r.returncode == 0, describe(r)
    # Placement: rank 0 on host A (mpirun's own), ranks 1 and 2 on host B, launched by the agent.
    assert procs_on(r.stdout, HOST_B) == [1, 2], r.stdout
    launches = hosts.launches()
    assert len(launches) == 1 and launches[0].startswith(f"{HOST_B} -> netns {hosts.ns[HOST_B]}"), launches
    # The ranks talked over the veth: the training exchange alone is megabytes.
    rx1, tx1 = hosts.veth_bytes(HOST_B)
    assert rx1 - rx0 > 1 << 20 and tx1 - tx0 > 1 << 20, (rx1 - rx0, tx1 - tx0)
    # Same bytes as one process; Lance lists and uses the index; staging is gone.
    assert index_bytes(uri) == reference
    lance_checks(uri, base[1])
    assert glob.glob(os.path.join(uri, "_lancer", "*")) == []
    rep = json.load(open(report))
    assert rep["tasks"] == 12 and rep["resumed"] is False
    assert sum(w["tasks"] for w in rep["workers"]) == rep["tasks"]
    if hosts.uts:  # each worker is named rank R@hostname
        names = {w["worker"] for w in rep["workers"]}
        assert f"rank 0@{NAME_A}" in names, names
        assert any(n.endswith("@" + NAME_B) for n in names), f"host B built no task: {rep['workers']}"
    assert hosts.wait_idle(), "Open MPI daemons still running in the namespaces after mpirun returned"


def test_two_hosts_resume_after_a_remote_rank_is_killed(hosts, base, reference, tmp_path):
    """Rank 1 (host B) SIGKILLs itself in training (every rank trains, so the fault always
    fires; a phase-2 kill point could be missed when the other ranks drain the queue):
    mpirun on host A ends the job; rerunning the same command completes it."""
    uri = copy(base, tmp_path)
    args = build_args(uri)
    fault = ["-x", "LANCER_FAULT_KILL_AT=train", "-x", "LANCER_FAULT_RANK=1"]  # reaches host B's ranks
    killed = hosts.mpirun(3, "create-index", *args, mpi_args=fault)
    assert killed.returncode != 0, describe(killed)
    assert "fault injection: killed at train" in killed.stderr, describe(killed)
    assert hosts.wait_idle(), "processes left in the namespaces after a rank was killed"
    staged = glob.glob(os.path.join(uri, "_lancer", "*"))
    assert len(staged) == 1
    done_before = len(glob.glob(os.path.join(staged[0], "tasks", "*.done")))
    report = str(tmp_path / "report.json")
    r = hosts.mpirun(3, "create-index", *args, "--report", report)
    assert r.returncode == 0, describe(r)
    rep = json.load(open(report))
    assert rep["resumed"] is True and rep["reused_tasks"] == done_before
    assert index_bytes(uri) == reference
    lance_checks(uri, base[1])


# Hosts of different CPU generations and BLAS set-ups build the one-process bytes
# (docs/decisions/same-bytes-any-hardware.md).
def test_hosts_with_different_kernels_build_the_same_bytes(hosts, base, reference, tmp_path):
    """Host B runs the generic kernels (LANCER_SIMD=scalar, OpenBLAS's Prescott core), as an old CPU
    would; host A its best (AVX-512 where this CPU has it)."""
    hosts.set_host_env(HOST_B, LANCER_SIMD="scalar", OPENBLAS_CORETYPE="Prescott")
    try:
        uri = copy(base, tmp_path)
        r = hosts.mpirun(3, "create-index", *build_args(uri), env={"LANCER_SIMD": "avx512"})
        assert hosts.wait_idle()
        assert r.returncode == 0, describe(r)
        assert index_bytes(uri) == reference
        lance_checks(uri, base[1])
    finally:
        hosts.set_host_env(HOST_B)


# Issue 15: the two hosts share nothing but an object store.
S3_SETUP = """
import sys, boto3, lance
endpoint, base, uri = sys.argv[1:4]
boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket="lancer")
lance.write_dataset(lance.dataset(base).to_table(), uri, max_rows_per_file=%d)
""" % ROWS_PER_FRAGMENT

S3_FETCH = """
import json, sys, boto3, lance
endpoint, uri = sys.argv[1:3]
s3 = boto3.client("s3", endpoint_url=endpoint)
(idx,) = lance.dataset(uri).describe_indices()
prefix = uri.split("/", 3)[3]
keys = [o["Key"] for o in s3.list_objects_v2(Bucket="lancer", Prefix=prefix + "/").get("Contents", [])]
files = {n: s3.get_object(Bucket="lancer", Key=f"{prefix}/_indices/{idx.segments[0].uuid}/{n}")["Body"].read().hex()
         for n in ("index.idx", "auxiliary.idx")}
print(json.dumps({"keys": keys, "files": files}))
"""


def test_two_hosts_share_nothing_but_an_object_store(hosts, base, reference, tmp_path):
    """An S3 server on host A (moto bound to 10.77.0.1): the dataset and the staging live there,
    ranks on host B reach it over the veth with credentials from the environment (-x), and the
    job's working folder and TMPDIR stay empty. Same bytes as one process on a local copy."""
    import sys

    from s3_server import ACCESS_KEY, REGION, SECRET_KEY, free_port

    port = free_port()
    endpoint = f"http://{HOST_A}:{port}"
    env = {"AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY, "AWS_REGION": REGION,
           "AWS_ENDPOINT": endpoint, "AWS_ALLOW_HTTP": "true"}
    in_a = [IP, "netns", "exec", hosts.ns[HOST_A]]
    moto = subprocess.Popen([*in_a, os.path.join(os.path.dirname(sys.executable), "moto_server"), "-H", HOST_A,
                             "-p", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        uri = "s3://lancer/two-hosts/ds.lance"
        for _ in range(100):
            r = _run([*in_a, sys.executable, "-c", S3_SETUP, endpoint, base[0], uri], env=dict(os.environ, **env),
                     timeout=120)
            if r.returncode == 0 or "Could not connect" not in r.stderr:
                break
            time.sleep(0.2)
        assert r.returncode == 0, describe(r)
        private = tmp_path / "private"
        private.mkdir()
        fwd = [x for k in env for x in ("-x", k)]
        r = hosts.mpirun(3, "create-index", *build_args(uri),
                         mpi_args=(*fwd, "-x", f"TMPDIR={private}", "-wdir", str(private)), env=env)
        assert r.returncode == 0, describe(r)
        assert procs_on(r.stdout, HOST_B) == [1, 2], r.stdout
        got = _run([*in_a, sys.executable, "-c", S3_FETCH, endpoint, uri], env=dict(os.environ, **env), timeout=120)
        assert got.returncode == 0, describe(got)
        state = json.loads(got.stdout)
        assert {n: bytes.fromhex(h) for n, h in state["files"].items()} == reference
        assert not [k for k in state["keys"] if "/_lancer/" in k], state["keys"]
        assert os.listdir(private) == []
    finally:
        moto.terminate()
        moto.wait(timeout=10)
