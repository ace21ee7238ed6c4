"""Distributed and resumable create-index (issue 5), judged by bytes and by Lance.

The index files must be byte-identical whether built by one process or by
several MPI ranks, with one or two threads each, by the per-phase subcommands
in any order, or by a rerun after a rank was SIGKILLed in training, in the
middle of phase 2, or during the merge."""

from __future__ import annotations

import fcntl
import glob
import json
import os
import random
import shutil
import subprocess
import time

import lance
import numpy as np
import pyarrow as pa
import pytest

from datasets import write_clustered
from lancer_cli import lancer_bin

DIM = 16
FRAGMENTS = 48
ROWS_PER_FRAGMENT = 1100
TYPES = ["IVF_FLAT", "IVF_SQ", "IVF_PQ"]
MPIRUN = shutil.which("mpirun")

pytestmark = pytest.mark.skipif(MPIRUN is None, reason="mpirun not installed (openmpi-bin)")


def mpi_env(**extra):
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
               OMPI_MCA_btl_vader_single_copy_mechanism="none", OMPI_MCA_rmaps_base_oversubscribe="1")
    env.update(extra)
    return env


def build_args(uri, index_type, *extra, partitions=12):
    return [uri, "--column", "vector", "--index-type", index_type, "--num-partitions", str(partitions), *extra]


def run(argv, env=None, check=True, timeout=300):
    r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=env or mpi_env())
    if check:
        assert r.returncode == 0, f"{' '.join(argv)} failed ({r.returncode}):\n{r.stdout}\n{r.stderr}"
    return r


def lancer(*args, **kw):
    return run([lancer_bin(), *args], **kw)


def mpi_lancer(ranks, *args, **kw):
    return run([MPIRUN, "--oversubscribe", "-np", str(ranks), lancer_bin(), *args], **kw)


def index_bytes(uri):
    dirs = glob.glob(os.path.join(uri, "_indices", "*"))
    assert len(dirs) == 1, dirs
    return {name: open(os.path.join(dirs[0], name), "rb").read() for name in ("index.idx", "auxiliary.idx")}


def staging_dirs(uri):
    return glob.glob(os.path.join(uri, "_lancer", "*"))


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    uri = str(tmp_path_factory.mktemp("distributed") / "base.lance")
    return uri, write_clustered(uri, FRAGMENTS, ROWS_PER_FRAGMENT, DIM, clusters=30, seed=11)


@pytest.fixture(scope="module")
def reference(base, tmp_path_factory):
    """Bytes of a single-process, single-thread build of each type."""
    out = {}
    for t in TYPES:
        uri = str(tmp_path_factory.mktemp("ref") / "ds.lance")
        shutil.copytree(base[0], uri)
        lancer("create-index", *build_args(uri, t, "--threads", "1"))
        out[t] = index_bytes(uri)
    return out


def copy(base, tmp_path):
    uri = str(tmp_path / "ds.lance")
    shutil.copytree(base[0], uri)
    return uri


def lance_checks(uri, values, index_type):
    ds = lance.dataset(uri)
    idx = [i for i in ds.describe_indices() if i.name == "vector_idx"]
    assert len(idx) == 1
    assert idx[0].num_rows_indexed == len(values)
    uuid = idx[0].segments[0].uuid
    q = values[17]
    plan = ds.scanner(nearest={"column": "vector", "q": q, "k": 10, "nprobes": 12}).explain_plan(True)
    assert uuid in plan
    got = ds.to_table(nearest={"column": "vector", "q": q, "k": 10, "nprobes": 12}, columns=["id"])
    assert got.num_rows == 10
    if index_type == "IVF_FLAT":  # all partitions probed: exact
        exact = np.argsort(((values - q) ** 2).sum(1), kind="stable")[:10]
        assert sorted(got["id"].to_pylist()) == sorted(exact.tolist())


@pytest.mark.parametrize("index_type", TYPES)
def test_three_ranks_match_one_process(base, reference, tmp_path, index_type):
    uri = copy(base, tmp_path)
    report = str(tmp_path / "report.json")
    mpi_lancer(3, "create-index", *build_args(uri, index_type, "--threads", "1", "--report", report))
    assert index_bytes(uri) == reference[index_type]
    assert staging_dirs(uri) == []
    r = json.load(open(report))
    assert r["tasks"] >= 3 and len(r["workers"]) >= 2
    assert sum(w["tasks"] for w in r["workers"]) == r["tasks"]
    check_rank_report(r, 3)
    lance_checks(uri, base[1], index_type)


def check_rank_report(r, ranks):
    """Each rank's start-up and phases: the tasks it ran add up, no time is negative or
    longer than its phase, and only rank 0 runs the single phase (the others wait for it)."""
    assert [k["worker"].split("@")[0] for k in r["ranks"]] == [f"rank {i}" for i in range(ranks)]
    for i, k in enumerate(r["ranks"]):
        assert list(k["phases"]) == ["train", "encode", "finalize"]
        assert k["startup_s"] > 0 and k["sample_s"] > 0 and k["sample_cpu_s"] > 0
        for p in k["phases"].values():
            assert 0 <= p["end_wait_s"] <= p["wait_s"] <= p["wall_s"] + 1e-6 and p["cpu_s"] >= 0
        if i > 0:
            fin = k["phases"]["finalize"]
            assert fin["end_wait_s"] == pytest.approx(fin["wait_s"]) and fin["wait_s"] > 0
    assert sum(k["phases"]["encode"]["tasks"] for k in r["ranks"]) == r["tasks"]
    by_rank = {k["worker"]: k["phases"]["encode"]["tasks"] for k in r["ranks"]}
    assert by_rank == {w["worker"]: w["tasks"] for w in r["workers"] if w["worker"] in by_rank} | \
        {name: 0 for name in by_rank if name not in {w["worker"] for w in r["workers"]}}


def test_ranks_and_threads_do_not_change_bytes(base, reference, tmp_path):
    uri = copy(base, tmp_path)
    mpi_lancer(2, "create-index", *build_args(uri, "IVF_PQ", "--threads", "2"))
    assert index_bytes(uri) == reference["IVF_PQ"]
    uri2 = copy(base, tmp_path / "t2")
    lancer("create-index", *build_args(uri2, "IVF_PQ", "--threads", "2"))
    assert index_bytes(uri2) == reference["IVF_PQ"]


# task:1 on any rank: 6 tasks over 3 ranks, so some rank starts a second task (and dies
# there) after finishing its first; which rank it is depends on timing.
@pytest.mark.parametrize("point,rank", [("train", "1"), ("task:1", None), ("merge", "0")])
def test_resume_after_a_rank_is_killed(base, reference, tmp_path, point, rank):
    uri = copy(base, tmp_path)
    versions_before = sorted(os.listdir(os.path.join(uri, "_versions")))
    args = build_args(uri, "IVF_PQ", "--threads", "1")
    fault = {"LANCER_FAULT_KILL_AT": point, **({"LANCER_FAULT_RANK": rank} if rank else {})}
    killed = mpi_lancer(3, "create-index", *args, env=mpi_env(**fault), check=False)
    assert killed.returncode != 0, killed.stdout
    assert "fault injection: killed at " + point in killed.stderr
    assert sorted(os.listdir(os.path.join(uri, "_versions"))) == versions_before  # nothing committed
    assert len(staging_dirs(uri)) == 1
    staged = staging_dirs(uri)[0]
    done_before = len(glob.glob(os.path.join(staged, "tasks", "*.done")))
    report = str(tmp_path / "report.json")
    mpi_lancer(3, "create-index", *args, "--report", report)
    r = json.load(open(report))
    assert r["resumed"] is True
    assert r["reused_tasks"] == done_before
    if point == "task:1":
        assert 0 < done_before < r["tasks"]  # redid only the unfinished tasks
    if point == "merge":
        assert done_before == r["tasks"]
    assert index_bytes(uri) == reference["IVF_PQ"]
    assert staging_dirs(uri) == []
    lance_checks(uri, base[1], "IVF_PQ")


# Killed after the commit, before the staging folder went (bench/random_kill_trials.py found it):
# the rerun must recognise its own committed index, not build and commit a second one.
@pytest.mark.parametrize("ranks", [1, 2])
def test_rerun_after_a_kill_between_commit_and_cleanup_is_a_no_op(base, reference, tmp_path, ranks):
    uri = copy(base, tmp_path)
    args = build_args(uri, "IVF_PQ", "--threads", "1")
    start = (lambda *a, **kw: lancer(*a, **kw)) if ranks == 1 else (lambda *a, **kw: mpi_lancer(ranks, *a, **kw))
    killed = start("create-index", *args, env=mpi_env(LANCER_FAULT_KILL_AT="commit", LANCER_FAULT_RANK="0"),
                   check=False)
    assert killed.returncode != 0, killed.stdout
    assert "fault injection: killed at commit" in killed.stderr
    committed = lance.dataset(uri).version
    assert [i.name for i in lance.dataset(uri).describe_indices()] == ["vector_idx"]
    assert len(staging_dirs(uri)) == 1
    report = str(tmp_path / "report.json")
    rerun = start("create-index", *args, "--report", report)
    assert "already committed" in rerun.stdout
    r = json.load(open(report))
    assert r["already_committed"] is True and r["version"] == committed
    assert lance.dataset(uri).version == committed  # nothing built, nothing committed
    assert staging_dirs(uri) == [] and not os.path.exists(os.path.join(uri, "_lancer"))
    assert index_bytes(uri) == reference["IVF_PQ"]
    lance_checks(uri, base[1], "IVF_PQ")


# Killed while writing a file of the dataset (bench/random_kill_trials.py found a
# `_versions/latest_version_hint.json.tmp_*` left so): the file is written without a name
# (O_TMPFILE) and named once complete, so a kill leaves nothing a rerun or cleanup must know of.
@pytest.mark.parametrize("name", ["latest_version_hint.json", "manifest"])
def test_a_kill_while_writing_a_dataset_file_leaves_no_temporary_file(base, reference, tmp_path, name):
    uri = copy(base, tmp_path)
    before = lance.dataset(uri).version
    target = name if name != "manifest" else lancer_manifest_name(uri, before + 1)
    args = build_args(uri, "IVF_PQ", "--threads", "1")
    killed = lancer("create-index", *args, env=mpi_env(LANCER_FAULT_KILL_AT="publish:" + target), check=False)
    assert "fault injection: killed at publish:" + target in killed.stderr
    assert lance.dataset(uri).version == (before + 1 if name != "manifest" else before)
    temporary = [f for d in ("_versions", "_transactions") for f in os.listdir(os.path.join(uri, d)) if ".tmp_" in f]
    assert temporary == []
    lancer("create-index", *args)
    lancer("cleanup", uri)
    assert not os.path.exists(os.path.join(uri, "_lancer"))
    assert index_bytes(uri) == reference["IVF_PQ"]
    lance_checks(uri, base[1], "IVF_PQ")


def lancer_manifest_name(uri, version):
    """The file name version `version` gets: the naming scheme of the dataset's manifests."""
    names = [n for n in os.listdir(os.path.join(uri, "_versions")) if n.endswith(".manifest")]
    if any(len(n) == len("18446744073709551615.manifest") for n in names):  # V2: u64::MAX - version
        return f"{2**64 - 1 - version:020d}.manifest"
    return f"{version}.manifest"


def test_phase_subcommands_in_random_order(base, reference, tmp_path):
    uri = copy(base, tmp_path)
    args = build_args(uri, "IVF_SQ", "--threads", "1")
    tasks = int(lancer("plan", *args).stdout.strip())
    assert tasks >= 3
    lancer("train", *args)
    order = list(range(tasks)) + [1]
    random.Random(5).shuffle(order)
    early = lancer("finalize", *args, check=False)  # tasks missing: refused, naming them
    assert early.returncode != 0 and "not built yet" in early.stderr
    procs = [subprocess.Popen([lancer_bin(), "build-task", *args, "--task", str(t)], stderr=subprocess.PIPE, text=True)
             for t in order[: len(order) // 2]]
    for p in procs:
        assert p.wait(timeout=300) == 0, p.stderr.read()
    for t in order[len(order) // 2:]:
        lancer("build-task", *args, "--task", str(t))
    lancer("finalize", *args)
    assert index_bytes(uri) == reference["IVF_SQ"]
    assert staging_dirs(uri) == []


def test_run_phase_loops_over_the_listed_phases(base, reference, tmp_path):
    """`run-phase` over the phases `--list` prints, by kind as a scheduler would
    (independent tasks in a random order, some concurrently): the same bytes."""
    uri = copy(base, tmp_path)
    args = build_args(uri, "IVF_PQ", "--threads", "1")
    tasks = int(lancer("plan", *args).stdout.strip())
    listed = [line.split() for line in lancer("run-phase", *args, "--list").stdout.splitlines()]
    assert listed == [["train", "collective", "1"], ["encode", "independent", str(tasks)],
                      ["finalize", "single", "1"]]
    early = lancer("run-phase", *args, "--phase", "encode", "--task", "0", check=False)
    assert early.returncode == 2 and "train phase is not done" in early.stderr
    unknown = lancer("run-phase", *args, "--phase", "graph", check=False)
    assert unknown.returncode == 2 and "no phase" in unknown.stderr
    report = str(tmp_path / "r.json")
    for name, kind, count in listed:
        order = list(range(int(count)))
        if kind == "independent":
            random.Random(7).shuffle(order)
            procs = [subprocess.Popen([lancer_bin(), "run-phase", *args, "--phase", name, "--task", str(t)],
                                      stderr=subprocess.PIPE, text=True) for t in order[: len(order) // 2]]
            for p in procs:
                assert p.wait(timeout=300) == 0, p.stderr.read()
            order = order[len(order) // 2:]
        for t in order:
            lancer("run-phase", *args, "--phase", name, "--task", str(t), "--report", report)
    assert index_bytes(uri) == reference["IVF_PQ"]
    assert staging_dirs(uri) == []
    r = json.load(open(report))
    assert r["tasks"] == tasks and r["rows"] == len(base[1])


def test_stale_plan_is_never_reused(base, reference, tmp_path):
    uri = copy(base, tmp_path)
    lancer("plan", *build_args(uri, "IVF_PQ", partitions=7))  # other parameters
    report = str(tmp_path / "r.json")
    lancer("create-index", *build_args(uri, "IVF_PQ", "--threads", "1", "--report", report))
    assert json.load(open(report))["resumed"] is False
    assert index_bytes(uri) == reference["IVF_PQ"]
    # A plan for an older dataset version is not reused either.
    uri2 = copy(base, tmp_path / "v")
    lancer("plan", *build_args(uri2, "IVF_FLAT"))
    extra = pa.table({"id": np.arange(5), "vector": pa.FixedSizeListArray.from_arrays(
        pa.array(np.ones(5 * DIM, dtype=np.float32)), DIM)})
    lance.write_dataset(extra, uri2, mode="append")
    lancer("create-index", *build_args(uri2, "IVF_FLAT", "--report", report))
    r = json.load(open(report))
    assert r["resumed"] is False and r["rows"] == len(base[1]) + 5


def test_subcommand_parameters_must_match_the_plan(base, tmp_path):
    uri = copy(base, tmp_path)
    lancer("plan", *build_args(uri, "IVF_PQ"))
    r = lancer("train", *build_args(uri, "IVF_PQ", "--max-iters", "3"), check=False)
    assert r.returncode == 2 and "other parameters" in r.stderr
    r = lancer("build-task", *build_args(uri, "IVF_PQ"), "--task", "0", check=False)
    assert r.returncode != 0 and "not trained" in r.stderr


def test_cleanup_spares_running_builds(base, tmp_path):
    uri = copy(base, tmp_path)
    lancer("plan", *build_args(uri, "IVF_PQ", "--name", "a"))
    lancer("plan", *build_args(uri, "IVF_PQ", "--name", "b"))
    assert len(staging_dirs(uri)) == 2
    running = os.path.join(uri, "_lancer", "build-b", "lock")
    with open(running) as f:
        fcntl.flock(f, fcntl.LOCK_SH)  # as a running build holds it
        out = lancer("cleanup", uri).stdout
        assert "build-a" in out and "build-b" not in out
        assert [os.path.basename(d) for d in staging_dirs(uri)] == ["build-b"]
    lancer("cleanup", uri)
    assert not os.path.exists(os.path.join(uri, "_lancer"))


def test_bad_input_under_mpi_changes_nothing(base, tmp_path):
    uri = copy(base, tmp_path)
    before = {p: open(p, "rb").read() for p in glob.glob(os.path.join(uri, "**"), recursive=True) if os.path.isfile(p)}
    r = mpi_lancer(2, "create-index", uri, "--column", "vector", "--index-type", "IVF_PQ", "--num-sub-vectors", "5",
                   check=False)
    assert r.returncode != 0 and "num_sub_vectors" in r.stderr
    after = {p: open(p, "rb").read() for p in glob.glob(os.path.join(uri, "**"), recursive=True) if os.path.isfile(p)}
    assert after == before


def _planned_and_built(uri, index_type="IVF_PQ"):
    args = build_args(uri, index_type, "--threads", "1")
    tasks = int(lancer("plan", *args).stdout.strip())
    lancer("train", *args)
    for t in range(tasks):
        lancer("build-task", *args, "--task", str(t))
    return args


def test_concurrent_delete_and_update_between_plan_and_commit_are_rebased(base, tmp_path):
    uri = copy(base, tmp_path)
    args = _planned_and_built(uri)
    ds = lance.dataset(uri)
    ds.delete("id % 10 = 3")
    ds.update({"vector": "[" + ",".join(["0.5"] * DIM) + "]"}, where="id < 5")  # rewrites the indexed field
    lancer("finalize", *args)
    ds = lance.dataset(uri)
    assert ds.version == 4  # base, delete, update, our commit
    q = base[1][123]
    got = ds.to_table(nearest={"column": "vector", "q": q, "k": 5, "nprobes": 12}, columns=["id"])["id"].to_pylist()
    assert all(i % 10 != 3 for i in got) and got
    segment = [i for i in ds.describe_indices() if i.name == "vector_idx"][0].segments[0]
    assert segment.uuid in ds.scanner(nearest={"column": "vector", "q": q, "k": 5}).explain_plan(True)
    # Lance's update moved the rows (deleted in fragment 0, rewritten in a new fragment): the
    # index keeps covering the original fragments, the new one is searched unindexed.
    assert sorted(segment.fragment_ids) == list(range(FRAGMENTS))
    moved = ds.to_table(nearest={"column": "vector", "q": np.full(DIM, 0.5, np.float32), "k": 5, "nprobes": 1},
                        columns=["id"])["id"].to_pylist()
    assert sorted(moved)[:4] == [0, 1, 2, 4]  # id 3 was deleted before the update


def test_concurrent_compaction_of_indexed_fragments_is_a_clean_conflict(base, tmp_path):
    uri = copy(base, tmp_path)
    args = _planned_and_built(uri)
    lance.dataset(uri).optimize.compact_files(target_rows_per_fragment=10 * ROWS_PER_FRAGMENT)
    snapshot = {p: open(p, "rb").read() for p in glob.glob(os.path.join(uri, "**"), recursive=True)
                if os.path.isfile(p) and "/_lancer/" not in p}
    r = lancer("finalize", *args, check=False)
    assert r.returncode != 0 and "rewrote (compacted) fragments this index covers" in r.stderr
    after = {p: open(p, "rb").read() for p in glob.glob(os.path.join(uri, "**"), recursive=True)
             if os.path.isfile(p) and "/_lancer/" not in p}
    assert after == snapshot  # no version, no index files left behind
    assert lance.dataset(uri).describe_indices() == []


def test_conflict_under_mpi_leaves_nothing_behind(base, tmp_path):
    """A commit refused under mpirun (a compaction of the indexed fragments between plan and commit)
    exits 6 and removes the staging folder and its index files, as a one-process build does; the
    staging folder stayed (found by bench/concurrent_writer_trials.py)."""
    uri = copy(base, tmp_path)
    # every encode task first sleeps 3 s: the compaction lands after the plan, before the commit
    p = subprocess.Popen([MPIRUN, "--oversubscribe", "-np", "2", lancer_bin(), "create-index",
                          *build_args(uri, "IVF_FLAT", "--threads", "1")],
                         env=mpi_env(LANCER_FAULT_TASK_DELAY_MS="3000"), stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    model_done = os.path.join(uri, "_lancer", "build-vector_idx", "model.done")
    end = time.monotonic() + 120
    while not os.path.exists(model_done) and p.poll() is None and time.monotonic() < end:
        time.sleep(0.02)
    assert os.path.exists(model_done), p.communicate()
    paused_until = time.monotonic() + 3
    lance.dataset(uri).optimize.compact_files(target_rows_per_fragment=10 * ROWS_PER_FRAGMENT)
    assert time.monotonic() < paused_until, "the compaction ended after the pause: machine too loaded?"
    snapshot = {p: open(p, "rb").read() for p in glob.glob(os.path.join(uri, "**"), recursive=True)
                if os.path.isfile(p) and "/_lancer/" not in p}
    _, err = p.communicate(timeout=300)
    assert p.returncode == 6, err
    assert "rewrote (compacted) fragments this index covers" in err, err
    assert staging_dirs(uri) == []
    after = {p: open(p, "rb").read() for p in glob.glob(os.path.join(uri, "**"), recursive=True)
             if os.path.isfile(p) and "/_lancer/" not in p}
    assert after == snapshot  # no version, no index files
    assert lance.dataset(uri).describe_indices() == []


def test_num_segments_commits_unmerged_segments(base, tmp_path):
    uri = copy(base, tmp_path)
    report = str(tmp_path / "r.json")
    mpi_lancer(2, "create-index", *build_args(uri, "IVF_FLAT", "--num-segments", "3", "--threads", "1",
                                              "--report", report))
    assert json.load(open(report))["segments"] == 3
    ds = lance.dataset(uri)
    [idx] = ds.describe_indices()
    assert len(idx.segments) == 3 and idx.num_rows_indexed == len(base[1])
    bitmaps = [sorted(s.fragment_ids) for s in idx.segments]
    assert sorted(f for b in bitmaps for f in b) == list(range(FRAGMENTS))  # disjoint, complete
    values = base[1]
    for qi in (5, 5000, 40000):
        q = values[qi]
        got = ds.to_table(nearest={"column": "vector", "q": q, "k": 10, "nprobes": 12}, columns=["id"])["id"]
        exact = np.argsort(((values - q) ** 2).sum(1), kind="stable")[:10]
        assert sorted(got.to_pylist()) == sorted(exact.tolist())


def test_a_shared_work_dir_never_mixes_datasets(base, tmp_path):
    a, b = copy(base, tmp_path / "a"), copy(base, tmp_path / "b")
    work = str(tmp_path / "work")
    lancer("plan", *build_args(a, "IVF_PQ", "--work-dir", work))
    lancer("train", *build_args(a, "IVF_PQ", "--work-dir", work))
    r = lancer("train", *build_args(b, "IVF_PQ", "--work-dir", work), check=False)
    assert r.returncode == 2 and "belongs to the dataset" in r.stderr
    report = str(tmp_path / "r.json")
    lancer("create-index", *build_args(b, "IVF_PQ", "--work-dir", work, "--report", report))
    assert json.load(open(report))["resumed"] is False  # a's plan was not reused
    lancer("plan", *build_args(a, "IVF_PQ", "--work-dir", work))
    out = lancer("cleanup", a, "--work-dir", work).stdout
    assert work in out and not os.path.exists(work)
