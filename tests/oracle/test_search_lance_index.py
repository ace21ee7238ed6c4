"""`lancer search` over IVF indexes that Lance itself wrote (pylance 14.0.2's
`create_index`, its legacy single-file IVF_PQ, and pylance 10.0.0 when
.venv-lance10 exists): the same query, nprobes, k and refine_factor must give
Lance's own `_rowid`s and `_distance`s (relative 1e-4).

Lance 14 writes its index files in the dataset's file version, so a 2.2
dataset gets 2.2 index files (`_rowid` inline-bitpacked in mini-block chunks,
codes in mini-block pages) - the layouts docs/index-format.md describes.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import textwrap

import lance
import numpy as np
import pyarrow as pa
import pytest

from conftest import LANCE10_PYTHON

DIM = 32
NLIST = 8
ROWS = 4000
TYPES = ["IVF_FLAT", "IVF_SQ", "IVF_PQ"]
METRICS = ["l2", "cosine", "dot"]


def clustered(rows: int, dim: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((40, dim)).astype(np.float32) * 3
    return (centres[rng.integers(0, 40, rows)] + rng.standard_normal((rows, dim))).astype(np.float32)


def table(values: np.ndarray, first_id: int = 0) -> pa.Table:
    dim = values.shape[1]
    return pa.table({"id": pa.array(np.arange(first_id, first_id + len(values))),
                     "vector": pa.FixedSizeListArray.from_arrays(pa.array(values.ravel()), dim)})


def queries(values: np.ndarray, n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    picks = values[rng.integers(0, len(values), n)].astype(np.float32)
    return (picks + 0.05 * rng.standard_normal(picks.shape)).astype(np.float32)


def index_extra(index_type: str, dim: int = DIM, **kw) -> dict:
    return {"num_sub_vectors": dim // 4, **kw} if index_type == "IVF_PQ" else {}


def make(uri: str, values: np.ndarray, index_type: str, metric: str, version: str = "2.2", **kw) -> str:
    lance.write_dataset(table(values), uri, data_storage_version=version, max_rows_per_file=1500)
    lance.dataset(uri).create_index("vector", index_type, metric=metric, num_partitions=NLIST,
                                    **index_extra(index_type, values.shape[1], **kw))
    return uri


def lancer_search(lancer, uri, qs, tmp_path, nprobes, k=10, refine=0, row=None):
    args = ["search", uri, "--index", "vector_idx", "-k", str(k), "--nprobes", str(nprobes), "--json"]
    if row is None:
        path = str(tmp_path / "queries.npy")
        np.save(path, np.asarray(qs, dtype=np.float32))
        args += ["--vector-file", path]
    else:
        args += ["--row", str(row)]
    if refine:
        args += ["--refine-factor", str(refine)]
    r = lancer.run(args, timeout=120)
    assert r.rc == 0, r.describe()
    return json.loads(r.stdout)


def lance_search(ds, q, metric, k=10, **extra):
    nearest = {"column": "vector", "q": q, "k": k, "metric": metric, **extra}
    t = ds.to_table(nearest=nearest, with_row_id=True, columns=["_distance"])
    return t["_rowid"].to_pylist(), t["_distance"].to_numpy()


def assert_same(hits, lance_ids, lance_dists, k):
    """Lance's row ids and distances; rows tied at the k-th distance are
    interchangeable (Lance's heap keeps an unspecified one of them)."""
    ids = [h["_rowid"] for h in hits]
    dists = np.array([h["_distance"] for h in hits])
    assert len(ids) == len(lance_ids)
    np.testing.assert_allclose(dists, lance_dists, rtol=1e-4, atol=1e-6)
    if ids == lance_ids or len(ids) == 0:
        return
    last = float(lance_dists[-1])
    cut = last - 1e-5 * max(1.0, abs(last))
    # Everything strictly better than the k-th distance: the same rows, in the same order ...
    assert [r for r, d in zip(ids, dists) if d < cut] == [r for r, d in zip(lance_ids, lance_dists) if d < cut], \
        (ids, lance_ids)
    # ... and only equal-distance ties differ.
    if len(ids) < k:
        assert sorted(ids) == sorted(lance_ids)


def compare(lancer, tmp_path, uri, metric, qs, nprobes, k=10, refine=0):
    ds = lance.dataset(uri)
    ours = lancer_search(lancer, uri, qs, tmp_path, nprobes, k=k, refine=refine)
    assert len(ours) == len(qs)
    for q, hits in zip(qs, ours):
        extra = {"nprobes": nprobes, **({"refine_factor": refine} if refine else {})}
        ids, dists = lance_search(ds, q, metric, k=k, **extra)
        assert_same(hits, ids, dists, k)


@pytest.fixture(scope="module")
def base_values():
    return clustered(ROWS, DIM, 7)


@pytest.fixture(scope="module")
def lance_indexes(tmp_path_factory, base_values):
    """One pylance-14 index per type x metric on a 2.2 dataset (three fragments)."""
    root = tmp_path_factory.mktemp("lance14")
    return {(t, m): make(str(root / f"{t}_{m}.lance"), base_values, t, m) for t in TYPES for m in METRICS}


@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("index_type", TYPES)
def test_lance_built_2_2_index(lancer, lance_indexes, base_values, tmp_path, index_type, metric):
    uri = lance_indexes[(index_type, metric)]
    # Lance wrote 2.2 index files: lancer reads them itself, not through a 2.0 copy.
    uuid = lance.dataset(uri).describe_indices()[0].segments[0].uuid
    with open(os.path.join(uri, "_indices", uuid, "auxiliary.idx"), "rb") as fh:
        fh.seek(-8, os.SEEK_END)
        assert fh.read(8) == b"\x02\x00\x02\x00LANC"
    qs = queries(base_values, 6, seed=3)
    for nprobes in (1, 3, NLIST):
        compare(lancer, tmp_path, uri, metric, qs, nprobes)
    compare(lancer, tmp_path, uri, metric, qs[:3], 2, k=25)
    compare(lancer, tmp_path, uri, metric, qs[:3], 2, refine=3)


def test_row_query(lancer, lance_indexes, tmp_path):
    uri = lance_indexes[("IVF_PQ", "l2")]
    ds = lance.dataset(uri)
    row = (1 << 32) | 17  # fragment 1, offset 17
    q = ds.take([1500 + 17], columns=["vector"])["vector"].to_numpy(zero_copy_only=False)[0]
    (hits,) = lancer_search(lancer, uri, None, tmp_path, 3, row=row)
    ids, dists = lance_search(ds, np.asarray(q, dtype=np.float32), "l2", nprobes=3)
    assert_same(hits, ids, dists, 10)


@pytest.mark.parametrize("version", ["2.0", "2.1"])
@pytest.mark.parametrize("index_type", TYPES)
def test_older_file_versions(lancer, base_values, tmp_path, version, index_type):
    uri = make(str(tmp_path / "ds.lance"), base_values, index_type, "cosine", version=version)
    compare(lancer, tmp_path, uri, "cosine", queries(base_values, 4, seed=5), 2)


@pytest.mark.parametrize("metric", ["l2", "dot"])
def test_4bit_pq(lancer, base_values, tmp_path, metric):
    uri = make(str(tmp_path / "ds.lance"), base_values, "IVF_PQ", metric, num_bits=4)
    qs = queries(base_values, 4, seed=6)
    compare(lancer, tmp_path, uri, metric, qs, 2)
    compare(lancer, tmp_path, uri, metric, qs, NLIST, k=30)


@pytest.mark.parametrize("metric", ["l2", "cosine", "dot"])
@pytest.mark.parametrize("index_type", TYPES)
def test_float16(lancer, base_values, tmp_path, index_type, metric):
    """Lance casts the query to float16 first; from there lancer reproduces its
    distances exactly (PQ residuals and cosine-normalised queries rounded to
    half precision too)."""
    values = base_values.astype(np.float16)
    uri = make(str(tmp_path / "ds.lance"), values, index_type, metric)
    qs = queries(values.astype(np.float32), 4, seed=9)
    compare(lancer, tmp_path, uri, metric, qs, 2)
    compare(lancer, tmp_path, uri, metric, qs[:2], 2, refine=2)


def test_wide_vectors_full_zip(lancer, tmp_path):
    """dim 64 float32 = 256 bytes a row: Lance stores IVF_FLAT's `flat` column full-zip."""
    values = clustered(1500, 64, 4)
    for index_type in TYPES:
        uri = make(str(tmp_path / f"{index_type}.lance"), values, index_type, "l2")
        compare(lancer, tmp_path, uri, "l2", queries(values, 3, seed=2), 2)


def test_partition_per_page(lancer, tmp_path):
    """Above about 8 MiB Lance flushes the storage column page by page, one
    partition a page; reads cross the page boundaries."""
    values = clustered(70000, DIM, 12)
    uri = str(tmp_path / "ds.lance")
    lance.write_dataset(table(values), uri, max_rows_per_file=30000)
    lance.dataset(uri).create_index("vector", "IVF_FLAT", metric="l2", num_partitions=4)
    compare(lancer, tmp_path, uri, "l2", queries(values, 3, seed=1), 2)


@pytest.mark.parametrize("index_type", TYPES)
def test_deletes_appends_and_stable_row_ids(lancer, base_values, tmp_path, index_type):
    more = clustered(300, DIM, 21)
    for stable in (False, True):
        uri = str(tmp_path / f"ds{int(stable)}.lance")
        lance.write_dataset(table(base_values), uri, max_rows_per_file=1500, enable_stable_row_ids=stable)
        lance.dataset(uri).create_index("vector", index_type, metric="l2", num_partitions=NLIST,
                                        **index_extra(index_type))
        lance.dataset(uri).delete("id % 5 = 1")
        lance.write_dataset(table(more, ROWS), uri, mode="append")
        lance.dataset(uri).delete("id = 4001")
        qs = np.concatenate([queries(base_values, 3, seed=4), queries(more, 2, seed=4)])
        compare(lancer, tmp_path, uri, "l2", qs, 2)
        compare(lancer, tmp_path, uri, "l2", qs, 3, refine=2)


@pytest.mark.parametrize("metric", METRICS)
def test_legacy_ivf_pq(lancer, base_values, tmp_path, metric):
    """index_file_version="Legacy": one index.idx in the old container."""
    uri = make(str(tmp_path / "ds.lance"), base_values, "IVF_PQ", metric, version="2.1",
               index_file_version="Legacy")
    uuid = lance.dataset(uri).describe_indices()[0].segments[0].uuid
    assert os.listdir(os.path.join(uri, "_indices", uuid)) == ["index.idx"]
    qs = queries(base_values, 4, seed=10)
    compare(lancer, tmp_path, uri, metric, qs, 2)
    compare(lancer, tmp_path, uri, metric, qs, 2, refine=2)


LANCE10_SCRIPT = textwrap.dedent("""
    import sys, lance, numpy as np, pyarrow as pa
    out, = sys.argv[1:]
    values = np.load(out + "/values.npy")
    t = pa.table({"id": pa.array(np.arange(len(values))),
                  "vector": pa.FixedSizeListArray.from_arrays(pa.array(values.ravel()), values.shape[1])})
    for spec in ["IVF_FLAT:l2:2.2", "IVF_SQ:cosine:2.1", "IVF_PQ:dot:2.1", "IVF_PQ:l2:2.0", "LEGACY:cosine:2.1"]:
        index_type, metric, version = spec.split(":")
        uri = out + "/" + spec.replace(":", "_") + ".lance"
        lance.write_dataset(t, uri, data_storage_version=version, max_rows_per_file=1500)
        kw = {"num_sub_vectors": 8} if index_type in ("IVF_PQ", "LEGACY") else {}
        if index_type == "LEGACY":
            index_type, kw["index_file_version"] = "IVF_PQ", "Legacy"
        lance.dataset(uri).create_index("vector", index_type, metric=metric, num_partitions=8, **kw)
    print(lance.__version__)
""")


def test_lance10_built_indexes(lancer, base_values, tmp_path):
    """Indexes written by pylance 10.0.0 (second oracle), searched by pylance 14 and by lancer."""
    if not os.path.exists(LANCE10_PYTHON):
        pytest.skip(f"second oracle not installed: {LANCE10_PYTHON} is missing")
    np.save(tmp_path / "values.npy", base_values)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    p = subprocess.run([LANCE10_PYTHON, "-c", LANCE10_SCRIPT, str(tmp_path)], capture_output=True, text=True,
                       timeout=300, env=env)
    assert p.returncode == 0, p.stderr[-3000:]
    assert p.stdout.strip().startswith("10."), p.stdout
    qs = queries(base_values, 4, seed=11)
    for name in sorted(os.listdir(tmp_path)):
        if name.endswith(".lance"):
            metric = name.split("_")[-2]
            compare(lancer, tmp_path, str(tmp_path / name), metric, qs, 2)
