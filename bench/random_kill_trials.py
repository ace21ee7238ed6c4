#!/usr/bin/env python3
"""Random-kill trials (issue 18): SIGKILL a build at a random moment, then check it resumes.

For each kind of build -- one process (`lancer create-index`), MPI (`mpirun -np 2 ... --threads 1`)
and Ray (`lancer.create_index(..., engine="ray", num_workers=2)` in a child Python process) --
the script first times an uninterrupted build of each index type on a fresh copy of a small
dataset (its index digest and file listing are the reference), then runs N trials. A trial
copies the dataset, starts the build, sleeps a time drawn uniformly from [0, that duration),
and SIGKILLs:
  local  the lancer process;
  mpi    the whole mpirun process group (even trials) or one random rank (odd trials);
  ray    the driver (even trials) or one Ray worker process of the cluster (odd trials).
Then it checks that
  1. every version of the dataset opens in pylance (count_rows, list_indices, and a nearest
     query when an index is listed);
  2. rerunning the same build succeeds and the index files (index.idx, auxiliary.idx) are
     byte-identical to the uninterrupted build's. When the kill came after the commit, lancer
     either recognises its own committed index (staging folder still there: the rerun only
     removes it) or, the staging already gone, builds a clean second index that replaces the
     first (create-index replaces an index of the same name by default); both are checked;
  3. `lancer cleanup` leaves no `_lancer/` folder and no stray file: the listing equals the
     uninterrupted build's, apart from index folders, manifests and transaction files, of
     which only those the versions name may be there (and every index folder holds exactly
     index.idx and auxiliary.idx).
Prints each trial's kill time and result and `<kind>: trials N, failures F`; exits 1 on any failure.

  /work/main/.venv/bin/python bench/random_kill_trials.py [--kinds local,mpi,ray] [--trials 20]
      [--seed 1] [--rows 40000] [--dim 64] [--fragments 8] [--build build] [--keep]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import lance
import numpy as np
import pyarrow as pa

# Index types cycled over the trials, with parameters that keep a build to a few seconds.
CONFIGS = [
    ("IVF_PQ", {"num_partitions": 32, "num_sub_vectors": 8}),
    ("IVF_HNSW_SQ", {"num_partitions": 16}),
    ("IVF_FLAT", {"num_partitions": 32}),
]
MPI_ENV = {"OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1", "OMPI_MCA_btl": "self,tcp",
           "OMPI_MCA_rmaps_base_oversubscribe": "1"}
# The drivers connect to the script's own local cluster (no token to hand around), quietly.
RAY_ENV = {"RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0"}
UUID_DIR = re.compile(r"^_indices/[0-9a-f-]{36}/")

RAY_HEAD = r"""
import sys, time, ray
ctx = ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
print(ctx.address_info["gcs_address"], flush=True)
sys.stdin.read()  # until the parent closes it
"""

RAY_DRIVER = r"""
import json, sys, lancer
uri, itype, params = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
lancer.create_index(uri, "vector", itype, engine="ray", num_workers=2, **params)
"""


def make_dataset(uri: str, rows: int, dim: int, fragments: int) -> None:
    rng = np.random.default_rng(7)
    centres = rng.standard_normal((64, dim)).astype(np.float32) * 3
    vectors = (centres[rng.integers(0, 64, rows)] + rng.standard_normal((rows, dim))).astype(np.float32)
    table = pa.table({"id": np.arange(rows), "vector": pa.FixedSizeListArray.from_arrays(pa.array(vectors.ravel()), dim)})
    lance.write_dataset(table, uri, max_rows_per_file=(rows + fragments - 1) // fragments)
    lance.dataset(uri).delete("id % 97 = 3")  # a second version, with deletion files


def listing(uri: str) -> list[str]:
    out = []
    for root, _, files in os.walk(uri):
        for f in files:
            out.append(os.path.relpath(os.path.join(root, f), uri))
    return sorted(out)


def index_digest(uri: str) -> str:
    ds = lance.dataset(uri)
    idx = [i for i in ds.list_indices() if i["name"] == "vector_idx"]
    if len(idx) != 1:
        raise AssertionError(f"{len(idx)} indices named vector_idx in the latest version")
    h = hashlib.sha256()
    for name in ("index.idx", "auxiliary.idx"):
        h.update(open(os.path.join(uri, "_indices", idx[0]["uuid"], name), "rb").read())
    return h.hexdigest()[:16]


def check_versions(uri: str, query: np.ndarray) -> tuple[int, bool]:
    """Every version opens and answers; returns (the latest version, whether it lists the index)."""
    versions = [v["version"] for v in lance.dataset(uri).versions()]
    listed = False
    for v in versions:
        ds = lance.dataset(uri, version=v)
        ds.count_rows()
        indices = ds.list_indices()
        listed = any(i["name"] == "vector_idx" for i in indices)
        if listed:
            got = ds.to_table(nearest={"column": "vector", "q": query, "k": 5, "nprobes": 4}, columns=["id", "_distance"])
            if got.num_rows != 5:
                raise AssertionError(f"version {v}: the nearest query returned {got.num_rows} rows")
    return versions[-1], listed


def stray_files(uri: str, reference: list[str]) -> list[str]:
    """Files that are neither in the uninterrupted build's listing nor an index folder, manifest or
    transaction file that some version names."""
    named_indices, named_txns, manifests = set(), set(), set()
    for v in lance.dataset(uri).versions():
        ds = lance.dataset(uri, version=v["version"])
        named_indices.update(i["uuid"] for i in ds.list_indices())
    for name in os.listdir(os.path.join(uri, "_versions")):
        manifests.add("_versions/" + name)
    for v in lance.dataset(uri).versions():
        txn = lance.dataset(uri).read_transaction(v["version"])
        if txn is not None:
            named_txns.add(txn.uuid)
    reference_set = set(reference)
    stray = []
    for f in listing(uri):
        if f in reference_set:
            continue
        if UUID_DIR.match(f):
            uuid, name = f.split("/")[1], f.split("/")[2]
            if uuid in named_indices and name in ("index.idx", "auxiliary.idx"):
                continue
        elif re.fullmatch(r"_versions/\d+\.manifest", f):
            continue
        elif f.startswith("_transactions/") and f.endswith(".txn"):
            if any(u in f for u in named_txns):
                continue
        stray.append(f)
    return stray


def descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            ppid = int(open(f"/proc/{d}/stat").read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(d))
    out, todo = [], [pid]
    while todo:
        for c in children.get(todo.pop(), []):
            out.append(c)
            todo.append(c)
    return out


def cmdline(pid: int) -> str:
    try:
        return open(f"/proc/{pid}/cmdline", "rb").read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def processes_on(uri: str) -> list[int]:
    """Processes still working on the trial's dataset (a rank that outlived mpirun, say)."""
    return [int(d) for d in os.listdir("/proc") if d.isdigit() and int(d) != os.getpid() and uri in cmdline(int(d))]


class Runner:
    """Starts one kind of build and kills it."""

    def __init__(self, kind: str, lancer: str, python: str, ray_address: str | None, ray_head: int | None):
        self.kind, self.lancer, self.python = kind, lancer, python
        self.ray_address, self.ray_head = ray_address, ray_head

    def command(self, uri: str, itype: str, params: dict) -> list[str]:
        if self.kind == "ray":
            return [self.python, "-c", RAY_DRIVER, uri, itype, json.dumps(params)]
        cli = [self.lancer, "create-index", uri, "--column", "vector", "--index-type", itype]
        for k, v in params.items():
            cli += ["--" + k.replace("_", "-"), str(v)]
        if self.kind == "mpi":
            return ["mpirun", "-np", "2", "--oversubscribe"] + cli + ["--threads", "1"]
        return cli + ["--threads", "2"]

    def start(self, uri: str, itype: str, params: dict) -> subprocess.Popen:
        env = dict(os.environ, **MPI_ENV)
        if self.ray_address:
            env.update(RAY_ENV, RAY_ADDRESS=self.ray_address)
        return subprocess.Popen(self.command(uri, itype, params), env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, start_new_session=True, text=True)

    def kill(self, proc: subprocess.Popen, trial: int, rng: random.Random) -> str:
        """SIGKILLs this trial's target; returns what was killed."""
        if proc.poll() is not None:
            return "nothing (the build had finished)"
        if self.kind == "local":
            os.kill(proc.pid, signal.SIGKILL)
            return "lancer"
        if self.kind == "mpi":
            ranks = [p for p in descendants(proc.pid) if self.lancer in cmdline(p)]
            if trial % 2 == 0 or not ranks:
                os.killpg(proc.pid, signal.SIGKILL)
                return "mpirun's process group"
            victim = rng.choice(sorted(ranks))
            os.kill(victim, signal.SIGKILL)
            return f"rank pid {victim} of {len(ranks)}"
        # Worker processes: idle ("ray::IDLE") or running a lancer task ("ray::_phase_task",
        # "ray::_collective_rank"); not the agents (ray::DashboardAgent...), which share the raylet's fate.
        titles = {p: cmdline(p).split(" ")[0] for p in descendants(self.ray_head)}
        workers = [p for p, t in titles.items() if t == "ray::IDLE" or t.startswith("ray::_")]
        busy = [p for p in workers if titles[p].startswith("ray::_")]
        if trial % 2 == 0 or not workers:
            os.kill(proc.pid, signal.SIGKILL)
            return "the Ray driver"
        victim = rng.choice(sorted(busy or workers))
        title = cmdline(victim).split()[0]
        os.kill(victim, signal.SIGKILL)
        return f"Ray worker {title}"


def run_to_end(runner: Runner, uri: str, itype: str, params: dict, timeout: float = 600) -> tuple[int, str, float]:
    t = time.perf_counter()
    p = runner.start(uri, itype, params)
    out, _ = p.communicate(timeout=timeout)
    return p.returncode, out, time.perf_counter() - t


def cleanup(lancer: str, uri: str) -> None:
    r = subprocess.run([lancer, "cleanup", uri], capture_output=True, text=True)
    if r.returncode != 0:
        raise AssertionError(f"lancer cleanup exited {r.returncode}: {r.stderr.strip()}")


def trial(runner: Runner, args, work: str, base: str, ref: dict, n: int, rng: random.Random, query) -> str:
    """One kill + check + rerun; returns a line describing it, raises AssertionError on a failure."""
    itype, params = CONFIGS[n % len(CONFIGS)]
    r = ref[itype]
    uri = os.path.join(work, f"{runner.kind}-{n}.lance")
    shutil.copytree(base, uri)
    kill_at = rng.uniform(0, r["seconds"])
    proc = runner.start(uri, itype, params)
    time.sleep(kill_at)
    what = runner.kill(proc, n, rng)
    try:
        proc.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        raise AssertionError(f"the build did not end within 120 s of killing {what}")
    deadline = time.time() + 30  # ranks or Ray workers that outlive the kill
    while processes_on(uri) and time.time() < deadline:
        time.sleep(0.2)
    left = processes_on(uri)
    if left:
        raise AssertionError(f"processes still on the dataset 30 s after the kill: {left}")
    if proc.returncode == 0 and not what.startswith("nothing"):
        what += " (the build still succeeded)"
    versions, committed = check_versions(uri, query)
    # The build record still there (the kill came before lancer removed its staging folder, whose
    # record goes first): the rerun must recognise the build's committed index.
    record_left = os.path.exists(os.path.join(uri, "_lancer", "build-vector_idx", "build.json"))
    rc, out2, rerun_s = run_to_end(runner, uri, itype, params)
    if rc != 0:
        raise AssertionError(f"the rerun exited {rc}: {out2.strip()[-800:]}")
    after_versions = [v["version"] for v in lance.dataset(uri).versions()]
    if committed:
        if record_left and after_versions[-1] != versions:
            raise AssertionError(f"rerun after a committed build with its record left made version "
                                 f"{after_versions[-1]} (expected a no-op at {versions})")
        if after_versions[-1] not in (versions, versions + 1):  # a no-op, or one commit replacing the index
            raise AssertionError(f"rerun after a committed build went from version {versions} to {after_versions[-1]}")
        outcome = "committed before the kill, " + ("record left" if record_left else "no record left") + "; rerun " + (
            "a no-op" if after_versions[-1] == versions else f"a second index (version {after_versions[-1]})")
    else:
        outcome = f"rerun {rerun_s:.1f} s"
    check_versions(uri, query)
    digest = index_digest(uri)
    if digest != r["digest"]:
        raise AssertionError(f"index digest {digest} != uninterrupted build's {r['digest']}")
    cleanup(args.lancer, uri)
    if os.path.exists(os.path.join(uri, "_lancer")):
        raise AssertionError("_lancer/ left after cleanup: " + str(listing(os.path.join(uri, "_lancer"))))
    stray = stray_files(uri, r["listing"])
    if stray:
        raise AssertionError(f"stray files after cleanup: {stray}")
    if not committed and after_versions[-1] != r["versions"]:
        raise AssertionError(f"version {after_versions[-1]} after the rerun, {r['versions']} after an uninterrupted build")
    if not args.keep:
        shutil.rmtree(uri)
    return f"{itype:11} kill at {kill_at:5.2f}/{r['seconds']:.2f} s: {what}; versions 1-{versions} open; {outcome}; same bytes, clean"


def start_ray_head(python: str) -> tuple[subprocess.Popen, str]:
    head = subprocess.Popen([python, "-c", RAY_HEAD], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                            start_new_session=True, env=dict(os.environ, **RAY_ENV))
    address = head.stdout.readline().strip()
    if not address:
        raise RuntimeError("the Ray head did not start")
    return head, address


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--kinds", default="local,mpi,ray")
    ap.add_argument("--trials", type=int, default=20)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--rows", type=int, default=40_000)
    ap.add_argument("--dim", type=int, default=64)
    ap.add_argument("--fragments", type=int, default=8)
    ap.add_argument("--build", default="build", help="folder with the lancer binary")
    ap.add_argument("--python", default=sys.executable, help="Python with the lancer package (Ray trials)")
    ap.add_argument("--work", default=None, help="folder for the datasets (default: a new temporary one)")
    ap.add_argument("--keep", action="store_true", help="keep every trial's dataset")
    args = ap.parse_args()
    args.lancer = os.path.abspath(os.path.join(args.build, "lancer"))
    rng = random.Random(args.seed)
    work = args.work or tempfile.mkdtemp(prefix="lancer-kill-")
    os.makedirs(work, exist_ok=True)
    base = os.path.join(work, "base.lance")
    shutil.rmtree(base, ignore_errors=True)
    make_dataset(base, args.rows, args.dim, args.fragments)
    query = np.random.default_rng(1).standard_normal(args.dim).astype(np.float32)
    print(f"{args.rows} x {args.dim}, {args.fragments} fragments, seed {args.seed}, {args.trials} trials per kind, "
          f"work {work}", flush=True)
    failures_total = 0
    started = time.perf_counter()
    for kind in args.kinds.split(","):
        head, address = (start_ray_head(args.python) if kind == "ray" else (None, None))
        try:
            runner = Runner(kind, args.lancer, args.python, address, head.pid if head else None)
            ref = {}
            for itype, params in CONFIGS[: min(len(CONFIGS), args.trials)]:
                uri = os.path.join(work, f"{kind}-ref-{itype}.lance")
                shutil.rmtree(uri, ignore_errors=True)
                shutil.copytree(base, uri)
                rc, out, seconds = run_to_end(runner, uri, itype, params)
                if rc != 0:
                    raise RuntimeError(f"{kind} {itype}: the uninterrupted build exited {rc}: {out[-800:]}")
                cleanup(args.lancer, uri)
                ref[itype] = {"seconds": seconds, "digest": index_digest(uri), "listing": listing(uri),
                              "versions": lance.dataset(uri).version}
                print(f"{kind}: uninterrupted {itype} {seconds:.2f} s, digest {ref[itype]['digest']}", flush=True)
            failures = 0
            t_kind = time.perf_counter()
            for n in range(args.trials):
                try:
                    line = trial(runner, args, work, base, ref, n, rng, query)
                    print(f"{kind} trial {n:2}: ok   {line}", flush=True)
                except Exception as e:  # a failed check, or pylance refusing a version
                    failures += 1
                    what = str(e) if isinstance(e, AssertionError) else f"{type(e).__name__}: {e}"
                    print(f"{kind} trial {n:2}: FAIL {CONFIGS[n % len(CONFIGS)][0]}: {what}", flush=True)
            print(f"{kind}: trials {args.trials}, failures {failures} ({time.perf_counter() - t_kind:.0f} s)", flush=True)
            failures_total += failures
        finally:
            if head is not None:
                head.stdin.close()
                try:
                    head.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    os.killpg(head.pid, signal.SIGKILL)
    print(f"wall {time.perf_counter() - started:.0f} s", flush=True)
    if failures_total:
        print(f"the failed trials' datasets are in {work}")
    elif not args.keep and not args.work:
        shutil.rmtree(work, ignore_errors=True)
    return 1 if failures_total else 0


if __name__ == "__main__":
    sys.exit(main())
