"""Layouts beyond the matrix: several pages per column, the vector in any
column position and inside a struct, whole-fragment and bitmap deletions, V1
manifest names, older versions, stable row ids, every export format, and
`inspect --json` against pylance (including an index pylance built)."""

import os

import lance
import numpy as np
import pyarrow as pa
import pytest

import datasets as D


def fsl(values, nulls=None):
    mask = pa.array(nulls) if nulls is not None else None
    return pa.FixedSizeListArray.from_arrays(pa.array(values.ravel()), values.shape[1], mask=mask)


def expected(uri, column, values, nulls=None, version=None, rowid_kind="address"):
    ds = lance.dataset(uri, version=version) if version else lance.dataset(uri)
    live = D.live_rows(ds, with_row_id=rowid_kind == "stable")
    ids = live["ids"]
    keep = np.ones(len(ids), bool) if nulls is None else ~nulls[ids]
    report = live["rowids"] if rowid_kind == "stable" else live["addrs"]
    return D.Expected(uri, column, values.dtype, values.shape[1], np.ascontiguousarray(report[keep], np.uint64),
                      np.ascontiguousarray(values[ids[keep]]), version=version)


def test_many_pages(lancer, tmp_path):
    values = np.random.default_rng(0).standard_normal((22000, 128)).astype(np.float32)  # 11 MiB: several pages
    uri = str(tmp_path / "ds.lance")
    nulls = np.arange(22000) % 97 == 3
    for version in ("2.0", "2.2"):
        u = uri + version
        lance.write_dataset(pa.table({"id": pa.array(np.arange(22000)), "vector": fsl(values, nulls)}), u,
                            data_storage_version=version)
        lancer.check_export(expected(u, "vector", values, nulls), str(tmp_path))


@pytest.mark.parametrize("version", ["2.0", "2.1", "2.2"])
@pytest.mark.parametrize("position", ["first", "middle", "last"])
def test_vector_in_any_column_position(lancer, tmp_path, version, position):
    rng = np.random.default_rng(1)
    values = rng.standard_normal((700, 24)).astype(np.float32)
    cols = {"id": pa.array(np.arange(700)), "name": pa.array([f"row {i}" for i in range(700)]),
            "score": pa.array(rng.standard_normal(700))}
    order = {"first": ["vector", "id", "name", "score"], "middle": ["id", "name", "vector", "score"],
             "last": ["id", "name", "score", "vector"]}[position]
    cols["vector"] = fsl(values)
    uri = str(tmp_path / "ds.lance")
    lance.write_dataset(pa.table({k: cols[k] for k in order}), uri, data_storage_version=version,
                        max_rows_per_file=300)
    lancer.check_export(expected(uri, "vector", values), str(tmp_path))


@pytest.mark.parametrize("version", ["2.0", "2.1", "2.2"])
def test_vector_inside_a_struct(lancer, tmp_path, version):
    values = np.random.default_rng(2).standard_normal((600, 16)).astype(np.float32)
    nulls = np.arange(600) % 13 == 0
    meta = pa.StructArray.from_arrays([fsl(values, nulls), pa.array([str(i) for i in range(600)])],
                                      names=["vector", "label"])
    uri = str(tmp_path / "ds.lance")
    ds = lance.write_dataset(pa.table({"id": pa.array(np.arange(600)), "meta": meta}), uri,
                             data_storage_version=version, max_rows_per_file=250)
    ds.delete("id % 11 = 2")
    lancer.check_export(expected(uri, "meta.vector", values, nulls), str(tmp_path))


def test_whole_fragment_deletion_and_bitmap_deletions(lancer, tmp_path):
    values = np.random.default_rng(3).standard_normal((14000, 8)).astype(np.float32)
    uri = str(tmp_path / "ds.lance")
    ds = lance.write_dataset(pa.table({"id": pa.array(np.arange(14000)), "vector": fsl(values)}), uri,
                             max_rows_per_file=7000)
    ds.delete("id < 7000")            # the whole first fragment
    ds = lance.dataset(uri)
    ds.delete("id >= 7000 and id < 12600")  # > 5000 rows of one fragment: a .bin deletion file
    assert any(n.endswith(".bin") for n in os.listdir(os.path.join(uri, "_deletions")))
    lancer.check_export(expected(uri, "vector", values), str(tmp_path))


def test_v1_manifest_names_and_older_versions(lancer, tmp_path):
    values = np.random.default_rng(4).standard_normal((400, 16)).astype(np.float32)
    uri = str(tmp_path / "ds.lance")
    ds = lance.write_dataset(pa.table({"id": pa.array(np.arange(400)), "vector": fsl(values)}), uri,
                             enable_v2_manifest_paths=False)
    ds.delete("id % 3 = 0")
    assert "1.manifest" in os.listdir(os.path.join(uri, "_versions"))
    info = lancer.inspect_json(uri)
    assert info["manifest_naming"] == "v1" and info["versions"] == [1, 2]
    lancer.check_export(expected(uri, "vector", values), str(tmp_path))
    lancer.check_export(expected(uri, "vector", values, version=1), str(tmp_path))


def test_stable_row_ids(lancer, tmp_path):
    values = np.random.default_rng(5).standard_normal((900, 16)).astype(np.float32)
    uri = str(tmp_path / "ds.lance")
    ds = lance.write_dataset(pa.table({"id": pa.array(np.arange(900)), "vector": fsl(values)}), uri,
                             enable_stable_row_ids=True, max_rows_per_file=400)
    ds.delete("id % 10 = 1")
    lancer.check_export(expected(uri, "vector", values, rowid_kind="stable"), str(tmp_path))


@pytest.mark.parametrize("fmt", ["npy", "fvecs", "f32"])
@pytest.mark.parametrize("dtype", ["f32", "f16", "u8"])
def test_export_formats(lancer, store, tmp_path, fmt, dtype):
    exp = store.matrix(D.MatrixSpec(dtype, 16, "2.2", True, True, True))
    lancer.check_export(exp, str(tmp_path), fmt=fmt)


def test_inspect_json_matches_pylance(lancer, tmp_path):
    values = np.random.default_rng(6).standard_normal((3000, 32)).astype(np.float32)
    uri = str(tmp_path / "ds.lance")
    ds = lance.write_dataset(pa.table({"id": pa.array(np.arange(3000)), "vector": fsl(values)}), uri,
                             max_rows_per_file=1000)
    ds.delete("id % 7 = 0")
    ds = lance.dataset(uri)
    ds.create_index("vector", "IVF_PQ", num_partitions=4, num_sub_vectors=4)
    ds = lance.dataset(uri)
    info = lancer.inspect_json(uri)
    assert info["version"] == ds.version
    assert info["versions"] == [v["version"] for v in ds.versions()]
    assert info["data_storage_version"] == ds.data_storage_version
    frags = {f.fragment_id: f for f in ds.get_fragments()}
    assert [f["id"] for f in info["fragments"]] == sorted(frags)
    for f in info["fragments"]:
        assert f["physical_rows"] == frags[f["id"]].physical_rows
        assert f["physical_rows"] - f["deleted_rows"] == frags[f["id"]].count_rows()
    (desc,) = ds.describe_indices()
    (idx,) = info["indices"]
    assert idx["name"] == desc.name and idx["type"] == desc.index_type == "IVF_PQ"
    assert idx["uuid"] == desc.segments[0].uuid
    assert idx["fragment_ids"] == sorted(desc.segments[0].fragment_ids)
