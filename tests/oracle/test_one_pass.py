"""One-pass IVF_FLAT / IVF_SQ builds (issue 17): the same bytes as the spill path, and Lance reads them.

`create-index` in one process over a local dataset leaves only each row's partition in phase 2 and
writes every partition's rows once, read from the dataset (docs/build-staging.md, task-N.run). The
per-phase subcommands and MPI ranks keep the partition-sorted spills. Both must write the same
index.idx and auxiliary.idx bytes, for float32 and float16 vectors, every metric, datasets with
nulls, NaN rows, deletions and stable row ids, one or two threads, and the build must resume from
the labels a killed build left, also when another driver finishes it.

LANCER_PLACE_ROWS=always forces the one pass on these small rows (below 2 KiB of storage a row the
spill is faster). LANCER_REFERENCE_BIN=<an older lancer> also compares every build with that binary's create-index
(the spill path before the one-pass build existed)."""

from __future__ import annotations

import glob
import json
import os
import shutil
import subprocess

import lance
import numpy as np
import pyarrow as pa
import pytest

from lancer_cli import lancer_bin

DIM = 24
FRAGMENTS = 5
ROWS_PER_FRAGMENT = 700
PARTITIONS = 20
MPIRUN = shutil.which("mpirun")
REFERENCE_BIN = os.environ.get("LANCER_REFERENCE_BIN")


def env(**extra):
    # These rows are small (the one pass starts at 2 KiB of storage a row): forced.
    e = dict(os.environ, LANCER_PLACE_ROWS="always", OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
             OMPI_MCA_btl_vader_single_copy_mechanism="none", OMPI_MCA_rmaps_base_oversubscribe="1")
    e.update(extra)
    return e


def run(argv, check=True, **extra):
    r = subprocess.run(argv, capture_output=True, text=True, timeout=300, env=env(**extra))
    if check:
        assert r.returncode == 0, f"{' '.join(argv)} failed ({r.returncode}):\n{r.stdout}\n{r.stderr}"
    return r


def args(uri, index_type, metric, threads=2):
    return [uri, "--column", "vector", "--index-type", index_type, "--metric", metric, "--num-partitions",
            str(PARTITIONS), "--seed", "3", "--threads", str(threads)]


def index_bytes(uri):
    dirs = glob.glob(os.path.join(uri, "_indices", "*"))
    assert len(dirs) == 1, dirs
    return {name: open(os.path.join(dirs[0], name), "rb").read() for name in ("index.idx", "auxiliary.idx")}


def write_dataset(uri, dtype, stable):
    """Clustered vectors in several fragments, with null vectors, NaN rows and deleted rows."""
    rng = np.random.default_rng(17)
    rows = FRAGMENTS * ROWS_PER_FRAGMENT
    centres = rng.standard_normal((12, DIM)) * 4
    values = (centres[rng.integers(0, 12, rows)] + rng.standard_normal((rows, DIM))).astype(dtype)
    values[[3, 901, 2222]] = np.nan  # left out of the index
    nulls = rng.random(rows) < 0.05
    flat = pa.array(values.ravel(), type=pa.float16() if dtype == np.float16 else pa.float32())
    vector = pa.FixedSizeListArray.from_arrays(flat, DIM, mask=pa.array(nulls))
    table = pa.table({"id": np.arange(rows), "vector": vector})
    kw = {"max_rows_per_file": ROWS_PER_FRAGMENT}
    if stable:
        kw["enable_stable_row_ids"] = True
    ds = lance.write_dataset(table, uri, **kw)
    ds.delete("id % 7 = 2")
    if stable:  # rows moved: their stable ids are no longer their addresses
        ds.update({"id": "id + 100000"}, where="id < 40")
    return values, nulls


@pytest.fixture(scope="module", params=[("f32", False), ("f16", False), ("f32", True)],
                ids=["f32", "f16", "f32-stable-ids"])
def base(request, tmp_path_factory):
    dtype, stable = request.param
    uri = str(tmp_path_factory.mktemp("one_pass") / "base.lance")
    values, nulls = write_dataset(uri, np.float16 if dtype == "f16" else np.float32, stable)
    return uri, values, nulls


def copy(base, tmp_path, name):
    uri = str(tmp_path / name)
    shutil.copytree(base[0], uri)
    return uri


def staged_outputs(uri):
    """Each task's record's `output` (labels or spill) in the staging folder a killed build left."""
    out = []
    for path in sorted(glob.glob(os.path.join(uri, "_lancer", "*", "tasks", "*.done"))):
        text = open(path).read()
        out.append(json.loads(text[: text.rindex("#fnv1a64")]).get("output", "spill"))
    return out


def per_phase(uri, a):
    tasks = int(run([lancer_bin(), "plan", *a]).stdout.strip())
    run([lancer_bin(), "train", *a])
    for t in range(tasks):
        run([lancer_bin(), "build-task", *a, "--task", str(t)])
    run([lancer_bin(), "finalize", *a])


@pytest.mark.parametrize("metric", ["l2", "cosine", "dot"])
@pytest.mark.parametrize("index_type", ["IVF_FLAT", "IVF_SQ"])
def test_one_pass_equals_the_spill_path(base, tmp_path, index_type, metric):
    # The spill path: the per-phase subcommands.
    spilled = copy(base, tmp_path, "spilled.lance")
    per_phase(spilled, args(spilled, index_type, metric, threads=1))
    expected = index_bytes(spilled)
    # One pass, with two threads and with one; a kill during the merge leaves labels, not spills.
    for threads in (2, 1):
        uri = copy(base, tmp_path, f"one-pass-{threads}.lance")
        killed = run([lancer_bin(), "create-index", *args(uri, index_type, metric, threads)], check=False,
                     LANCER_FAULT_KILL_AT="merge")
        assert killed.returncode != 0 and "killed at merge" in killed.stderr
        assert set(staged_outputs(uri)) == {"labels"}
        run([lancer_bin(), "create-index", *args(uri, index_type, metric, threads)])
        assert index_bytes(uri) == expected, f"{threads} threads"
    if REFERENCE_BIN:
        uri = copy(base, tmp_path, "reference.lance")
        run([REFERENCE_BIN, "create-index", *args(uri, index_type, metric)])
        assert index_bytes(uri) == expected


@pytest.mark.parametrize("index_type", ["IVF_FLAT", "IVF_SQ"])
def test_labels_left_by_a_killed_build_finish_under_another_driver(base, tmp_path, index_type):
    """finalize by the subcommand reads the rows a one-pass build's tasks placed; MPI ranks spill."""
    ref = copy(base, tmp_path, "ref.lance")
    run([lancer_bin(), "create-index", *args(ref, index_type, "l2")])
    uri = copy(base, tmp_path, "killed.lance")
    a = args(uri, index_type, "l2")
    run([lancer_bin(), "create-index", *a], check=False, LANCER_FAULT_KILL_AT="merge")
    assert set(staged_outputs(uri)) == {"labels"}
    run([lancer_bin(), "finalize", *a])
    assert index_bytes(uri) == index_bytes(ref)
    if MPIRUN:
        uri = copy(base, tmp_path, "mpi.lance")
        run([MPIRUN, "--oversubscribe", "-np", "2", lancer_bin(), "create-index", *args(uri, index_type, "l2", 1)])
        assert index_bytes(uri) == index_bytes(ref)


def test_lance_searches_a_one_pass_index(base, tmp_path):
    uri = copy(base, tmp_path, "search.lance")
    run([lancer_bin(), "create-index", *args(uri, "IVF_FLAT", "l2")])
    ds = lance.dataset(uri)
    live = ds.to_table(columns=["id", "vector"], with_row_id=True)
    vectors = np.stack(live["vector"].to_numpy(zero_copy_only=False)[live["vector"].is_valid().to_numpy(
        zero_copy_only=False)]).astype(np.float32)
    finite = np.isfinite(vectors).all(1)
    (idx,) = [i for i in ds.describe_indices() if i.name == "vector_idx"]
    assert idx.num_rows_indexed == ds.count_rows()  # (Lance counts the covered fragments' live rows)
    ids = np.asarray(live["id"].to_numpy(zero_copy_only=False))[live["vector"].is_valid().to_numpy(
        zero_copy_only=False)][finite]
    vectors = vectors[finite]
    for qi in (0, 77, 500):
        q = vectors[qi]
        got = ds.to_table(nearest={"column": "vector", "q": q, "k": 10, "nprobes": PARTITIONS}, columns=["id"])
        assert idx.segments[0].uuid in ds.scanner(nearest={"column": "vector", "q": q, "k": 10}).explain_plan(True)
        exact = ids[np.argsort(((vectors - q) ** 2).sum(1), kind="stable")[:10]]
        assert sorted(got["id"].to_pylist()) == sorted(exact.tolist())
