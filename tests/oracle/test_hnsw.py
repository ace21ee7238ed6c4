"""IVF_HNSW_FLAT / IVF_HNSW_SQ / IVF_HNSW_PQ built by lancer (issue 16), judged by pylance 14.0.2:
the graph file as Lance reads it (lance-hnsw-rq-format.md 3), the parameters in the manifest,
recall against Lance's own graph over the same IVF model, and the same graph bytes for any thread
or MPI rank count. Listing, planning, searching, append + optimize, Lance 10 and lancer search
against pylance are test_create_index.py's, which runs over these types too."""

from __future__ import annotations

import glob
import json
import os
import shutil
import subprocess

import lance
import numpy as np
import pytest
from lance.file import LanceFileReader

import lanceraw as R
from datasets import write_clustered

HNSW_TYPES = ["IVF_HNSW_FLAT", "IVF_HNSW_SQ", "IVF_HNSW_PQ"]
MPIRUN = shutil.which("mpirun")


def run_lancer(lancer, *args, check=True, env=None):
    r = subprocess.run([lancer.lancer_bin(), *map(str, args)], capture_output=True, text=True, timeout=600, env=env)
    if check:
        assert r.returncode == 0, f"lancer {' '.join(map(str, args))} failed ({r.returncode}):\n{r.stderr}"
    return r


def build(lancer, uri, index_type, *extra, partitions=6, report=None):
    args = ["create-index", uri, "--column", "vector", "--index-type", index_type, "--num-partitions", partitions]
    if index_type.endswith("PQ"):
        args += ["--num-sub-vectors", "8"]
    if report:
        args += ["--report", report]
    run_lancer(lancer, *args, *extra)


def index_folder(uri):
    (folder,) = glob.glob(os.path.join(uri, "_indices", "*"))
    return folder


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    uri = str(tmp_path_factory.mktemp("hnsw") / "base.lance")
    values = write_clustered(uri, 3, 2000, 32, clusters=15, seed=4)
    return uri, values


def copy(base_uri, dest):
    uri = str(dest / "ds.lance")
    shutil.copytree(base_uri, uri)
    return uri


@pytest.mark.parametrize("index_type", HNSW_TYPES)
def test_graph_file_is_what_lance_reads(lancer, base, tmp_path, index_type):
    uri = copy(base[0], tmp_path)
    build(lancer, uri, index_type, "--m", 8, "--ef-construction", 40, "--max-level", 4)
    ds = lance.dataset(uri)
    (desc,) = ds.describe_indices()
    assert desc.index_type == index_type
    meta = LanceFileReader(os.path.join(index_folder(uri), "index.idx")).metadata()
    schema = meta.schema
    assert [f.name for f in schema] == ["__vector_id", "__neighbors", "_distance"]
    md = {k.decode(): v.decode() for k, v in schema.metadata.items()}
    assert json.loads(md["lance:index"]) == {"type": index_type, "distance_type": "l2"}
    partitions = json.loads(md["lance:hnsw"])
    assert len(partitions) == 6
    table = LanceFileReader(os.path.join(index_folder(uri), "index.idx")).read_all().to_table()
    stats = ds.stats.index_stats("vector_idx")["indices"][0]
    sizes = [p["size"] for p in stats["partitions"]]
    assert sum(sizes) == len(base[1])
    at = 0
    for p, text in enumerate(partitions):
        if sizes[p] == 0:
            assert text == ""
            continue
        g = json.loads(text)
        assert g["params"] == {"max_level": 4, "m": 8, "ef_construction": 40, "prefetch_distance": 2}
        offsets = g["level_offsets"]
        assert len(offsets) == 5 and offsets[0] == 0 and offsets[1] == sizes[p]
        rows = table.slice(at, offsets[-1])
        ids = rows["__vector_id"].to_pylist()
        assert ids[:sizes[p]] == list(range(sizes[p]))  # level 0: every node, in id order
        top = max(level for level in range(4) if offsets[level + 1] > offsets[level])
        assert g["entry_point"] in ids[offsets[top]:offsets[top + 1]]
        for level in range(4):
            lists = rows["__neighbors"].to_pylist()[offsets[level]:offsets[level + 1]]
            dists = rows["_distance"].to_pylist()[offsets[level]:offsets[level + 1]]
            cap = 16 if level == 0 else 8
            assert all(len(n) <= cap and len(n) == len(d) for n, d in zip(lists, dists))
            assert all(0 <= x < sizes[p] for n in lists for x in n)
            members = set(ids[offsets[level]:offsets[level + 1]])
            assert all(x in members for n in lists for x in n), "an edge leaves its level"
        at += offsets[-1]
    assert at == table.num_rows


def test_bad_graph_parameters_are_refused_by_name(lancer, base, tmp_path):
    uri = copy(base[0], tmp_path)
    before = sorted(os.listdir(uri))
    for args, name in ((["--m", "2"], "m"), (["--max-level", "0"], "max_level"),
                       (["--m", "30", "--ef-construction", "10"], "ef_construction")):
        r = run_lancer(lancer, "create-index", uri, "--column", "vector", "--index-type", "IVF_HNSW_SQ", *args,
                       check=False)
        assert r.returncode == 2, r.stderr
        assert name in r.stderr
    assert sorted(os.listdir(uri)) == before


def recall_at(ds, qs, truth, nprobes, k=10):
    hits = 0
    for q, exact in zip(qs, truth):
        got = ds.to_table(nearest={"column": "vector", "q": q, "k": k, "nprobes": nprobes}, with_row_id=True,
                          columns=["_distance"])["_rowid"].to_pylist()
        hits += len(set(got) & exact)
    return hits / (k * len(qs))


@pytest.mark.parametrize("index_type", ["IVF_HNSW_SQ", "IVF_HNSW_PQ"])
def test_recall_at_least_lances_own_graph(lancer, tmp_path, index_type):
    """Lance builds its graph over lancer's IVF model (and PQ codebook): the graphs then differ only
    in how they were built. The suite's size; the bench repeats this at 200,000 x 128 and
    60,000 x 1024 with 1,000 queries."""
    base = str(tmp_path / "base.lance")
    values = write_clustered(base, 4, 5000, 32, clusters=60, seed=9)
    rng = np.random.default_rng(1)
    qs = values[rng.choice(len(values), 300, replace=False)] + rng.standard_normal((300, 32)).astype(np.float32)
    d = ((qs ** 2).sum(1)[:, None] - 2 * qs @ values.T + (values ** 2).sum(1)[None, :])
    truth = [set(np.argsort(row)[:10].tolist()) for row in d]
    ours = str(tmp_path / "ours.lance")
    shutil.copytree(base, ours)
    build(lancer, ours, index_type, partitions=30)
    ds = lance.dataset(ours)
    centroids = np.array(ds.stats.index_stats("vector_idx")["indices"][0]["centroids"], dtype=np.float32)
    extra = {}
    if index_type.endswith("PQ"):  # and lancer's codebook: the aux file's global buffer 2 (a Tensor)
        buf = LanceFileReader(os.path.join(index_folder(ours), "auxiliary.idx")).read_global_buffer(2)
        data = R.first(R.parse_message(bytes(buf)), 3).value
        extra = {"num_sub_vectors": 8, "pq_codebook": np.frombuffer(data, dtype=np.float32).reshape(8, 256, 4)}
    theirs = str(tmp_path / "theirs.lance")
    shutil.copytree(base, theirs)
    lance.dataset(theirs).create_index("vector", index_type, num_partitions=30, ivf_centroids=centroids, **extra)
    their_ds = lance.dataset(theirs)
    for nprobes in (1, 10, 20):
        mine, lances = recall_at(ds, qs, truth, nprobes), recall_at(their_ds, qs, truth, nprobes)
        # 300 queries: a standard error of ~0.005 around recall 0.9.
        assert mine >= lances - 0.02, (nprobes, mine, lances)


def graph_bytes(uri):
    with open(os.path.join(index_folder(uri), "index.idx"), "rb") as f:
        return f.read()


def test_same_graph_bytes_for_any_thread_or_rank_count(lancer, base, tmp_path):
    files = []
    for threads in (1, 2):
        (tmp_path / f"t{threads}").mkdir()
        uri = copy(base[0], tmp_path / f"t{threads}")
        build(lancer, uri, "IVF_HNSW_FLAT", "--threads", threads, "--seed", 3)
        files.append(graph_bytes(uri))
    assert files[0] == files[1]
    if MPIRUN is None:
        pytest.skip("mpirun not installed (openmpi-bin)")
    (tmp_path / "mpi").mkdir()
    uri = copy(base[0], tmp_path / "mpi")
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
               OMPI_MCA_btl_vader_single_copy_mechanism="none", OMPI_MCA_rmaps_base_oversubscribe="1")
    r = subprocess.run([MPIRUN, "--oversubscribe", "-np", "2", lancer.lancer_bin(), "create-index", uri, "--column",
                        "vector", "--index-type", "IVF_HNSW_FLAT", "--num-partitions", "6", "--threads", "1",
                        "--seed", "3"], capture_output=True, text=True, timeout=600, env=env)
    assert r.returncode == 0, r.stderr
    assert graph_bytes(uri) == files[0]


def test_graph_phase_as_subcommands_gives_the_one_process_bytes(lancer, base, tmp_path):
    """plan, train, build-task N, run-phase --phase graph --task N, finalize: the graph tasks are
    a phase of their own (any worker, any order); finalize refuses while one is missing."""
    (tmp_path / "one").mkdir()
    one = copy(base[0], tmp_path / "one")
    build(lancer, one, "IVF_HNSW_PQ", "--seed", 5)
    (tmp_path / "steps").mkdir()
    uri = copy(base[0], tmp_path / "steps")
    opts = ["--column", "vector", "--index-type", "IVF_HNSW_PQ", "--num-partitions", "6", "--num-sub-vectors", "8",
            "--seed", "5"]
    tasks = json.loads(run_lancer(lancer, "plan", uri, *opts, "--json").stdout)["tasks"]
    run_lancer(lancer, "train", uri, *opts)
    for t in range(tasks):
        run_lancer(lancer, "build-task", uri, *opts, "--task", t)
    listed = run_lancer(lancer, "run-phase", uri, *opts, "--list").stdout
    (graph_line,) = [line for line in listed.splitlines() if line.startswith("graph ")]
    assert graph_line.split()[1] == "independent"
    graph_tasks = int(graph_line.split()[2])
    assert graph_tasks == 6  # one per partition here (at most 32 per segment)
    for t in reversed(range(1, graph_tasks)):
        run_lancer(lancer, "run-phase", uri, *opts, "--phase", "graph", "--task", t)
    refused = run_lancer(lancer, "finalize", uri, *opts, check=False)
    assert refused.returncode == 2 and "graph tasks are not built yet" in refused.stderr, refused.stderr
    run_lancer(lancer, "run-phase", uri, *opts, "--phase", "graph", "--task", 0)
    run_lancer(lancer, "finalize", uri, *opts)
    assert graph_bytes(uri) == graph_bytes(one)
    aux = [open(os.path.join(index_folder(u), "auxiliary.idx"), "rb").read() for u in (uri, one)]
    assert aux[0] == aux[1]
