"""lancer create-index, judged by Lance itself (pylance 14.0.2, and pylance 10
as a subprocess): Lance lists the index with the right type and metric, plans
queries with its uuid, answers them like brute force where it must, and keeps
maintaining it. A failed build leaves the dataset exactly as it was."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import lance
import numpy as np
import pyarrow as pa
import pytest

from conftest import LANCE10_PYTHON

DIM = 32
NLIST = 8
TYPES = ["IVF_FLAT", "IVF_SQ", "IVF_PQ", "IVF_HNSW_FLAT", "IVF_HNSW_SQ", "IVF_HNSW_PQ"]
METRICS = ["l2", "cosine", "dot"]


def clustered(rows: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((40, DIM)).astype(np.float32) * 3
    return (centres[rng.integers(0, 40, rows)] + rng.standard_normal((rows, DIM))).astype(np.float32)


def write_base(uri: str, version: str = "2.2") -> np.ndarray:
    values = clustered(3000, 7)
    nulls = np.zeros(len(values), dtype=bool)
    nulls[::101] = True
    vec = pa.FixedSizeListArray.from_arrays(pa.array(values.ravel()), DIM, mask=pa.array(nulls))
    table = pa.table({"id": pa.array(np.arange(len(values))), "vector": vec})
    ds = lance.write_dataset(table, uri, data_storage_version=version, max_rows_per_file=1200)
    ds.delete("id % 17 = 5")
    return values


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    d = tmp_path_factory.mktemp("create_index")
    uri = str(d / "base.lance")
    values = write_base(uri)
    return uri, values


def fresh_copy(base_uri: str, dest) -> str:
    uri = str(dest / "ds.lance")
    shutil.copytree(base_uri, uri)
    return uri


def run_lancer(lancer, *args, check=True):
    r = subprocess.run([lancer.lancer_bin(), *args], capture_output=True, text=True, timeout=300)
    if check:
        assert r.returncode == 0, f"lancer {' '.join(args)} failed ({r.returncode}):\n{r.stderr}"
    return r


def queries(values: np.ndarray, n: int, seed: int = 3) -> np.ndarray:
    rng = np.random.default_rng(seed)
    picks = values[rng.integers(0, len(values), n)]
    return (picks + 0.05 * rng.standard_normal(picks.shape)).astype(np.float32)


def search(ds, q, metric, **extra):
    nearest = {"column": "vector", "q": q, "k": 10, "metric": metric, **extra}
    return ds.to_table(nearest=nearest, with_row_id=True, columns=["_distance"])


@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("index_type", TYPES)
def test_lance_lists_plans_and_answers(lancer, base, tmp_path, index_type, metric):
    uri = fresh_copy(base[0], tmp_path)
    before = lance.dataset(uri).version
    report_path = str(tmp_path / "report.json")
    run_lancer(lancer, "create-index", uri, "--column", "vector", "--index-type", index_type, "--metric", metric,
               "--num-partitions", str(NLIST), "--report", report_path)
    report = json.load(open(report_path))
    ds = lance.dataset(uri)
    assert ds.version == before + 1 == report["version"]
    (desc,) = ds.describe_indices()
    assert desc.name == "vector_idx"
    assert desc.index_type == index_type
    assert desc.details["metric_type"] == metric.upper()
    assert [s.uuid for s in desc.segments] == [report["uuid"]]
    stats = ds.stats.index_stats("vector_idx")
    assert stats["num_unindexed_rows"] == 0
    assert stats["indices"][0]["num_partitions"] == NLIST
    # Lance counts live rows (nulls included); lancer indexed the non-null ones.
    assert sum(p["size"] for p in stats["indices"][0]["partitions"]) == report["rows"]
    txn = ds.read_transaction(ds.version)
    assert type(txn.operation).__name__ == "CreateIndex"

    recalls = []
    for q in queries(base[1], 12):
        plan = ds.scanner(nearest={"column": "vector", "q": q, "k": 10, "metric": metric, "nprobes": NLIST},
                          with_row_id=True).explain_plan()
        assert f"uuid={report['uuid']}" in plan, plan
        got = search(ds, q, metric, nprobes=NLIST)
        exact = search(ds, q, metric, use_index=False)
        ids, exact_ids = got["_rowid"].to_pylist(), exact["_rowid"].to_pylist()
        if index_type == "IVF_FLAT":
            assert ids == exact_ids
            np.testing.assert_allclose(got["_distance"].to_numpy(), exact["_distance"].to_numpy(), rtol=1e-4,
                                       atol=1e-5)
        else:
            refined = search(ds, q, metric, nprobes=NLIST, refine_factor=30)
            assert refined["_rowid"].to_pylist() == exact_ids
        recalls.append(len(set(ids) & set(exact_ids)) / 10)
    if index_type == "IVF_FLAT":
        return
    # Recall against Lance's own index with the same parameters on the same data.
    own = str(tmp_path / "own.lance")
    shutil.copytree(base[0], own)
    extra = {"num_sub_vectors": DIM // 16} if index_type.endswith("PQ") else {}
    lance.dataset(own).create_index("vector", index_type, metric=metric, num_partitions=NLIST, **extra)
    own_ds = lance.dataset(own)
    own_recalls = []
    for q in queries(base[1], 12):
        got = search(own_ds, q, metric, nprobes=NLIST)["_rowid"].to_pylist()
        exact = search(own_ds, q, metric, use_index=False)["_rowid"].to_pylist()
        own_recalls.append(len(set(got) & set(exact)) / 10)
    # 12 queries: allow sampling noise around Lance's figure.
    assert np.mean(recalls) >= np.mean(own_recalls) - 0.1, (recalls, own_recalls)


def test_same_model_gives_same_answers_as_lances_own_build(lancer, base, tmp_path):
    """With lancer's centroids and codebook handed to Lance's builder, both IVF_PQ
    indexes must hold the same codes: identical row ids and distances."""
    (tmp_path / "a").mkdir()
    ours = fresh_copy(base[0], tmp_path / "a")
    rng = np.random.default_rng(11)
    values = base[1]
    centroids = values[rng.choice(len(values), NLIST, replace=False)]
    m = DIM // 8
    codebook = rng.standard_normal((m, 256, DIM // m)).astype(np.float32)
    np.save(tmp_path / "c.npy", centroids)
    np.save(tmp_path / "pq.npy", codebook)
    run_lancer(lancer, "create-index", ours, "--column", "vector", "--index-type", "IVF_PQ", "--num-partitions",
               str(NLIST), "--num-sub-vectors", str(m), "--ivf-centroids", str(tmp_path / "c.npy"),
               "--pq-codebook", str(tmp_path / "pq.npy"))
    (tmp_path / "b").mkdir()
    theirs = str(tmp_path / "b" / "ds.lance")
    shutil.copytree(base[0], theirs)
    lance.dataset(theirs).create_index("vector", "IVF_PQ", num_partitions=NLIST, num_sub_vectors=m,
                                       ivf_centroids=centroids, pq_codebook=codebook)
    a, b = lance.dataset(ours), lance.dataset(theirs)
    for q in queries(values, 10, seed=5):
        ra = search(a, q, "l2", nprobes=3)
        rb = search(b, q, "l2", nprobes=3)
        assert ra["_rowid"].to_pylist() == rb["_rowid"].to_pylist()
        np.testing.assert_allclose(ra["_distance"].to_numpy(), rb["_distance"].to_numpy(), rtol=1e-4, atol=1e-4)


def test_lance_keeps_maintaining_the_index(lancer, base, tmp_path):
    uri = fresh_copy(base[0], tmp_path)
    run_lancer(lancer, "create-index", uri, "--column", "vector", "--index-type", "IVF_PQ", "--num-partitions",
               str(NLIST))
    stale = lance.dataset(uri, version=lance.dataset(uri).version - 1)  # opened before the commit
    more = clustered(500, 9)
    table = pa.table({"id": pa.array(np.arange(5000, 5500)),
                      "vector": pa.FixedSizeListArray.from_arrays(pa.array(more.ravel()), DIM)})
    ds = lance.write_dataset(table, uri, mode="append")
    assert ds.stats.index_stats("vector_idx")["num_unindexed_rows"] == 500
    ds.optimize.optimize_indices()
    ds = lance.dataset(uri)
    assert ds.stats.index_stats("vector_idx")["num_unindexed_rows"] == 0
    assert len(ds.describe_indices()) == 1
    # a handle from before lancer's commit rebases over it by reading lancer's transaction
    lance.write_dataset(table, stale.uri, mode="append")
    assert lance.dataset(uri).describe_indices()[0].name == "vector_idx"


@pytest.mark.skipif(not os.path.exists(LANCE10_PYTHON), reason="second oracle .venv-lance10 missing")
@pytest.mark.parametrize("index_type", TYPES)
def test_lance10_opens_and_uses_the_index(lancer, tmp_path, index_type):
    uri = str(tmp_path / "ds.lance")
    values = write_base(uri, version="2.1")
    r = run_lancer(lancer, "create-index", uri, "--column", "vector", "--index-type", index_type, "--num-partitions",
                   str(NLIST), "--report", str(tmp_path / "r.json"))
    uuid = json.load(open(tmp_path / "r.json"))["uuid"]
    np.save(tmp_path / "q.npy", queries(values, 5))
    script = f"""
import lance, numpy as np, pyarrow as pa
ds = lance.dataset({uri!r})
qs = np.load({str(tmp_path / 'q.npy')!r})
for q in qs:
    nn = {{"column": "vector", "q": q, "k": 10, "nprobes": {NLIST}, "refine_factor": 30}}
    assert "uuid={uuid}" in ds.scanner(nearest=nn, with_row_id=True).explain_plan()
    got = ds.to_table(nearest=nn, with_row_id=True)["_rowid"].to_pylist()
    exact = ds.to_table(nearest={{**nn, "use_index": False}}, with_row_id=True)["_rowid"].to_pylist()
    assert got == exact, (got, exact)
# a Lance 10 append and index optimize on top of lancer's commit
t = pa.table({{"id": pa.array(np.arange(9000, 9100)),
               "vector": pa.FixedSizeListArray.from_arrays(pa.array(qs.repeat(20, axis=0).ravel()), {DIM})}})
ds = lance.write_dataset(t, {uri!r}, mode="append")
ds.optimize.optimize_indices()
print("lance", lance.__version__, "ok")
"""
    out = subprocess.run([LANCE10_PYTHON, "-c", script], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "lance 10." in out.stdout


def test_no_replace_refuses_and_changes_nothing(lancer, base, tmp_path):
    uri = fresh_copy(base[0], tmp_path)
    run_lancer(lancer, "create-index", uri, "--column", "vector", "--index-type", "IVF_FLAT", "--num-partitions", "4")
    version = lance.dataset(uri).version
    dirs = sorted(os.listdir(os.path.join(uri, "_indices")))
    r = run_lancer(lancer, "create-index", uri, "--column", "vector", "--index-type", "IVF_FLAT", "--num-partitions",
                   "4", "--no-replace", check=False)
    assert r.returncode != 0 and "already exists" in r.stderr
    assert lance.dataset(uri).version == version
    assert sorted(os.listdir(os.path.join(uri, "_indices"))) == dirs
    # the default replaces it in one commit
    run_lancer(lancer, "create-index", uri, "--column", "vector", "--index-type", "IVF_SQ", "--num-partitions", "4")
    ds = lance.dataset(uri)
    assert ds.version == version + 1
    assert [d.index_type for d in ds.describe_indices()] == ["IVF_SQ"]


@pytest.mark.parametrize("args, message", [
    (["--column", "nope", "--index-type", "IVF_PQ"], "nope"),
    (["--column", "id", "--index-type", "IVF_PQ"], "not a vector column"),
    (["--column", "vector", "--index-type", "IVF_PQ", "--num-sub-vectors", "5"], "num_sub_vectors"),
    (["--column", "vector", "--index-type", "IVF_FLAT", "--num-partitions", "100000"], "exceeds"),
])
def test_bad_input_is_a_clear_error_and_changes_nothing(lancer, base, tmp_path, args, message):
    uri = fresh_copy(base[0], tmp_path)
    before = sorted(os.listdir(uri)), lance.dataset(uri).version
    r = run_lancer(lancer, "create-index", uri, *args, check=False)
    assert r.returncode not in (0, None) and r.returncode < 128
    assert message in r.stderr, r.stderr
    assert (sorted(os.listdir(uri)), lance.dataset(uri).version) == before
    assert not os.path.exists(os.path.join(uri, "_indices")) or not os.listdir(os.path.join(uri, "_indices"))


def assert_same_hits(ids, dists, lance_ids, lance_dists):
    """Same distances, and the same rows except for the order within ties
    (equal PQ/SQ codes give equal distances; Lance orders those arbitrarily)
    and for which of the rows tied at the k-th distance made the cut."""
    np.testing.assert_allclose(dists, lance_dists, rtol=1e-4, atol=1e-5)
    cut = float(lance_dists[-1]) - 1e-4 * max(1.0, abs(float(lance_dists[-1])))
    below = lambda rows, ds: sorted(r for r, d in zip(rows, ds) if d < cut)
    assert below(ids, dists) == below(lance_ids, lance_dists)


def lancer_search(lancer, uri, qs, tmp_path, nprobes, refine=0):
    np.save(tmp_path / "queries.npy", qs.astype(np.float32))
    args = ["search", uri, "--index", "vector_idx", "--vector-file", str(tmp_path / "queries.npy"), "-k", "10",
            "--nprobes", str(nprobes), "--json"]
    if refine:
        args += ["--refine-factor", str(refine)]
    return json.loads(run_lancer(lancer, *args).stdout)


@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("index_type", TYPES)
def test_lancer_search_equals_lance_search(lancer, base, tmp_path, index_type, metric):
    """The same index searched by lancer and by Lance: the same top-10 row ids
    and the same distances, at few and at all partitions; then again after an
    append, where both must merge the unindexed fragment exhaustively."""
    uri = fresh_copy(base[0], tmp_path)
    run_lancer(lancer, "create-index", uri, "--column", "vector", "--index-type", index_type, "--metric", metric,
               "--num-partitions", str(NLIST))
    qs = queries(base[1], 25, seed=8)

    def compare(ds, nprobes, exact_match=True):
        ours = lancer_search(lancer, uri, qs, tmp_path, nprobes)
        overlap = []
        for q, hits in zip(qs, ours):
            theirs = search(ds, q, metric, nprobes=nprobes)
            ids, dists = [h["_rowid"] for h in hits], [h["_distance"] for h in hits]
            if exact_match:
                assert_same_hits(ids, dists, theirs["_rowid"].to_pylist(), theirs["_distance"].to_numpy())
            else:
                # Rows both return carry the same (exact) distance.
                lance_d = dict(zip(theirs["_rowid"].to_pylist(), theirs["_distance"].to_numpy()))
                for r, d in zip(ids, dists):
                    if r in lance_d:
                        np.testing.assert_allclose(d, lance_d[r], rtol=1e-4, atol=1e-5)
                overlap.append(len(set(ids) & set(lance_d)) / 10)
        if not exact_match:
            assert np.mean(overlap) >= 0.9, overlap

    for nprobes in (2, NLIST):
        compare(lance.dataset(uri), nprobes)
    more = clustered(300, 12)
    table = pa.table({"id": pa.array(np.arange(7000, 7300)),
                      "vector": pa.FixedSizeListArray.from_arrays(pa.array(more.ravel()), DIM)})
    # With an unindexed fragment both re-rank their ANN candidates exactly and
    # merge a flat search; which of the rows tied on approximate distance
    # become candidates differs, so the lists agree closely, not exactly.
    compare(lance.write_dataset(table, uri, mode="append"), 2, exact_match=index_type == "IVF_FLAT")
    # with re-ranking, lancer returns the exact neighbours
    refined = lancer_search(lancer, uri, qs[:5], tmp_path, NLIST, refine=40)
    ds = lance.dataset(uri)
    for q, hits in zip(qs[:5], refined):
        exact = search(ds, q, metric, use_index=False)
        assert [h["_rowid"] for h in hits] == exact["_rowid"].to_pylist()


@pytest.mark.parametrize("metric", ["l2", "cosine"])
@pytest.mark.parametrize("index_type", TYPES)
def test_float16_columns(lancer, tmp_path, index_type, metric):
    """float16 vectors: centroids and codebook stored as FLOAT16 tensors, IVF_FLAT
    storing the halves; Lance plans with the index and answers as lancer does.
    Lance computes float16 distances in half precision, lancer in single, so
    distances agree to about 1e-3 and near-ties may swap."""
    values = clustered(2500, 21).astype(np.float16)
    uri = str(tmp_path / "ds.lance")
    table = pa.table({"id": pa.array(np.arange(2500)),
                      "vector": pa.FixedSizeListArray.from_arrays(pa.array(values.ravel()), DIM)})
    lance.write_dataset(table, uri, max_rows_per_file=1000)
    report = str(tmp_path / "r.json")
    run_lancer(lancer, "create-index", uri, "--column", "vector", "--index-type", index_type, "--metric", metric,
               "--num-partitions", str(NLIST), "--report", report)
    uuid = json.load(open(report))["uuid"]
    ds = lance.dataset(uri)
    (desc,) = ds.describe_indices()
    assert desc.index_type == index_type
    qs = queries(values.astype(np.float32), 10, seed=4).astype(np.float16)
    ours = lancer_search(lancer, uri, qs.astype(np.float32), tmp_path, NLIST)
    overlaps = []
    for q, hits in zip(qs, ours):
        nn = {"column": "vector", "q": q, "k": 10, "metric": metric, "nprobes": NLIST}
        assert f"uuid={uuid}" in ds.scanner(nearest=nn, with_row_id=True).explain_plan()
        theirs = ds.to_table(nearest=nn, with_row_id=True, columns=["_distance"])
        if index_type == "IVF_FLAT":
            exact = ds.to_table(nearest={**nn, "use_index": False}, with_row_id=True, columns=["_distance"])
            assert theirs["_rowid"].to_pylist() == exact["_rowid"].to_pylist()
        ids = [h["_rowid"] for h in hits]
        # SQ quantizes the (half-precision-normalised, for cosine) query as well: looser.
        rtol, atol = (2e-2, 2e-3) if index_type.endswith("SQ") else (2e-3, 1e-3)
        if "HNSW" in index_type:
            # A graph search goes where its distances lead: Lance's half-precision ones take
            # other paths near ties, so the lists overlap less; shared rows score alike.
            lance_d = dict(zip(theirs["_rowid"].to_pylist(), theirs["_distance"].to_numpy()))
            for h in hits:
                if h["_rowid"] in lance_d:
                    np.testing.assert_allclose(h["_distance"], lance_d[h["_rowid"]], rtol=rtol, atol=atol)
            overlaps.append(len(set(ids) & set(lance_d)) / 10)
            continue
        assert len(set(ids) & set(theirs["_rowid"].to_pylist())) >= 8
        np.testing.assert_allclose(sorted(h["_distance"] for h in hits), np.sort(theirs["_distance"].to_numpy()),
                                   rtol=rtol, atol=atol)
    if overlaps:
        assert np.mean(overlaps) >= 0.7, overlaps


@pytest.mark.parametrize("index_type", ["IVF_FLAT", "IVF_PQ"])
def test_wide_vectors_give_the_same_bytes_for_any_thread_count(lancer, tmp_path, index_type):
    # 512-d rows: the build reads batches sized by the thread count (4 MiB with one
    # thread, 16 MiB with four), which must not change the index.
    from datasets import write_clustered
    base = str(tmp_path / "base.lance")
    values = write_clustered(base, 2, 5000, 512, clusters=12, seed=3)
    indexes = []
    for threads in ("1", "4"):
        uri = fresh_copy(base, tmp_path / f"t{threads}")
        run_lancer(lancer, "create-index", uri, "--column", "vector", "--index-type", index_type,
                   "--num-partitions", "6", "--threads", threads)
        [folder] = os.listdir(os.path.join(uri, "_indices"))
        indexes.append({f: open(os.path.join(uri, "_indices", folder, f), "rb").read()
                        for f in ("index.idx", "auxiliary.idx")})
    assert indexes[0] == indexes[1]
    ds = lance.dataset(uri)
    got = ds.to_table(nearest={"column": "vector", "q": values[3], "k": 5, "nprobes": 6}, with_row_id=True)
    assert got.num_rows == 5


@pytest.mark.parametrize("metric", ["l2", "cosine"])
def test_non_finite_rows_are_left_out_and_counted(lancer, tmp_path, metric):
    # NaN / inf rows at the start, middle and end of batches: skipped, counted, and every other
    # row indexed exactly as if they had never been there (the same labels and codes).
    values = clustered(2500, 11)
    bad = [0, 1, 700, 1299, 2499]
    values[0, 3] = np.nan
    values[1, :] = np.inf
    values[700, 0] = -np.inf
    values[1299, 5] = np.nan
    values[2499, 31] = np.inf
    uri = str(tmp_path / "bad.lance")
    lance.write_dataset(pa.table({"id": pa.array(np.arange(len(values))),
                                  "vector": pa.FixedSizeListArray.from_arrays(pa.array(values.ravel()), DIM)}),
                        uri, max_rows_per_file=1000)
    report = str(tmp_path / "report.json")
    run_lancer(lancer, "create-index", uri, "--column", "vector", "--index-type", "IVF_FLAT", "--metric", metric,
               "--num-partitions", str(NLIST), "--report", report)
    rep = json.load(open(report))
    assert rep["skipped_nonfinite"] == len(bad)
    ds = lance.dataset(uri)
    good = np.delete(np.arange(len(values)), bad)
    q = values[good[10]]
    hits = ds.to_table(nearest={"column": "vector", "q": q, "k": len(values), "nprobes": NLIST},
                       columns=["id"])["id"].to_pylist()
    assert hits[0] == good[10]
    assert sorted(hits) == good.tolist()  # every finite row is in the index, no other
