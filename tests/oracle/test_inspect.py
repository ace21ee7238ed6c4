"""`lancer inspect --json` against pylance 14.0.2 (and, for what pylance does
not expose, against the manifest decoded by lanceraw)."""

from __future__ import annotations

import os

import lance
import numpy as np
import pyarrow as pa
import pytest

import datasets as D
import lanceraw as R

pytestmark = pytest.mark.inspect


def _norm_uri(u: str) -> str:
    if u.startswith("file://"):
        u = u[len("file://"):]
    return os.path.realpath(u.rstrip("/"))


def check_inspect(lancer, uri: str, version=None, naming="v2"):
    ds = lance.dataset(uri, version=version) if version is not None else lance.dataset(uri)
    mpath = R.manifest_path(uri, version)
    man = R.parse_manifest(mpath)
    j = lancer.inspect_json(uri, version)
    problems = []

    def eq(key, got, exp):
        if got != exp:
            problems.append(f"{key}: got {got!r}, expected {exp!r}")

    for k in ("uri", "version", "versions", "manifest_naming", "data_storage_version",
              "reader_feature_flags", "writer_feature_flags", "schema", "fragments", "indices"):
        if k not in j:
            problems.append(f"missing key {k!r}")
    if problems:
        raise AssertionError("inspect --json: " + "; ".join(problems) + f"\n{j}")

    eq("uri", _norm_uri(j["uri"]), _norm_uri(uri))
    eq("version", j["version"], ds.version)
    eq("versions", list(j["versions"]), [v["version"] for v in ds.versions()])
    eq("manifest_naming", j["manifest_naming"], naming)
    eq("data_storage_version", j["data_storage_version"], ds.data_storage_version)
    eq("reader_feature_flags", j["reader_feature_flags"], man.reader_flags)
    eq("writer_feature_flags", j["writer_feature_flags"], man.writer_flags)

    # schema: manifest fields in pre-order; cross-check top-level names with pylance
    keys = ("id", "parent_id", "name", "logical_type", "nullable")
    got_schema = [{k: f.get(k) for k in keys} for f in j["schema"]]
    eq("schema", got_schema, [{k: f[k] for k in keys} for f in man.schema])
    eq("schema top-level names", [f["name"] for f in j["schema"] if f.get("parent_id") == -1],
       ds.schema.names)

    # fragments: pylance's fragment metadata
    exp_frags = []
    for fr in ds.get_fragments():
        md = fr.metadata
        exp_frags.append({
            "id": fr.fragment_id,
            "physical_rows": md.physical_rows,
            "deleted_rows": md.deletion_file.num_deleted_rows if md.deletion_file else 0,
            "files": [{"path": f.path, "fields": list(f.fields),
                       "column_indices": list(f.column_indices),
                       "file_version": f"{f.file_major_version}.{f.file_minor_version}"}
                      for f in md.files],
        })
    got_frags = [{
        "id": f.get("id"), "physical_rows": f.get("physical_rows"),
        "deleted_rows": f.get("deleted_rows"),
        "files": [{k: x.get(k) for k in ("path", "fields", "column_indices", "file_version")}
                  for x in f.get("files", [])],
    } for f in j["fragments"]]
    eq("fragments", got_frags, exp_frags)
    live = sum(f["physical_rows"] - f["deleted_rows"] for f in exp_frags)
    assert live == ds.count_rows(), "oracle self-check"

    # indices: one entry per segment
    exp_idx = []
    for d in ds.describe_indices():
        for s in d.segments:
            exp_idx.append({"name": d.name, "type": d.index_type, "uuid": str(s.uuid),
                            "fields": list(d.fields), "field_names": list(d.field_names),
                            "fragment_ids": sorted(int(x) for x in s.fragment_ids)})
    got_idx = []
    for x in j["indices"]:
        fields = list(x.get("fields", []))
        # fields may be given as ids or as (dotted) names
        exp_match = next((e for e in exp_idx if e["uuid"] == x.get("uuid")), None)
        if exp_match and fields == exp_match["field_names"]:
            fields = exp_match["fields"]
        got_idx.append({"name": x.get("name"), "type": x.get("type"), "uuid": x.get("uuid"),
                        "fields": fields, "fragment_ids": sorted(x.get("fragment_ids", []))})
    key = lambda e: e["uuid"]  # noqa: E731
    eq("indices", sorted(got_idx, key=key),
       sorted([{k: e[k] for k in ("name", "type", "uuid", "fields", "fragment_ids")}
               for e in exp_idx], key=key))
    assert not problems, f"inspect --json of {uri} (version {version}) differs:\n  " + \
        "\n  ".join(problems)
    return j


INSPECT_SPECS = [D.MatrixSpec(dt, dim, v, nulls, True, dels)
                 for v in D.VERSIONS for (dt, dim, nulls, dels) in
                 [("f32", 16, True, True), ("u8", 128, False, False)]]


@pytest.mark.parametrize("spec", INSPECT_SPECS, ids=[s.id for s in INSPECT_SPECS])
def test_inspect_matrix(spec, store, lancer):
    exp = store.matrix(spec)
    check_inspect(lancer, exp.uri)


def _history_uri(store, version, v2):
    exps, latest = store.get(f"history-{'v2' if v2 else 'v1'}-{version}",
                             lambda root: D.history_datasets(lance, root, version, v2))
    return latest.uri


@pytest.mark.parametrize("naming", ["v2", "v1"])
@pytest.mark.parametrize("version", ["2.0", "2.1", "2.2"])
def test_inspect_versions(naming, version, store, lancer):
    uri = _history_uri(store, version, naming == "v2")
    check_inspect(lancer, uri, naming=naming)
    for v in (1, 3, 5):
        j = check_inspect(lancer, uri, version=v, naming=naming)
        assert j["version"] == v


def test_inspect_stable_row_ids(store, lancer):

    def build(root):
        uri = os.path.join(root, "ds.lance")
        values = D.make_values("f32", 200, 8, D.rng_for("inspect-stable"))
        ds = lance.write_dataset(pa.table({"id": np.arange(200, dtype=np.int64),
                                           "vector": D.fsl_array(values, "f32")}),
                                 uri, max_rows_per_file=64, enable_stable_row_ids=True)
        ds.delete("id % 3 = 0")
        return uri

    uri = store.get("inspect-stable", build)
    j = check_inspect(lancer, uri)
    assert j["reader_feature_flags"] & 2, "stable row ids set flag 2"


@pytest.mark.parametrize("version", ["2.0", "2.1", None], ids=lambda v: D.version_label(v))
def test_inspect_struct(version, store, lancer):

    def build(root):
        uri = os.path.join(root, "ds.lance")
        values = D.make_values("f32", 100, 16, D.rng_for("inspect-struct"))
        st = pa.StructArray.from_arrays([D.fsl_array(values, "f32"),
                                         pa.array([str(i) for i in range(100)])],
                                        names=["vector", "label"])
        lance.write_dataset(pa.table({"id": np.arange(100, dtype=np.int64), "meta": st}),
                            uri, **D.write_kwargs(version))
        return uri

    check_inspect(lancer, store.get(f"inspect-struct-{version}", build))


# --------------------------------------------------------------------------
# indices built by pylance
# --------------------------------------------------------------------------

def _build_indexed(root, version):
    """4 fragments (run-container fragment bitmap in pylance >= 12), an
    IVF_PQ index, a second IVF_FLAT index, then an append (one unindexed
    fragment) and a delete."""
    uri = os.path.join(root, "ds.lance")
    rng = D.rng_for("indexed")
    values = D.make_values("f32", 1100, 16, rng)
    values[np.abs(values) > 1e30] = 0.5  # keep k-means well-behaved
    t = pa.table({"id": np.arange(1000, dtype=np.int64), "vector": D.fsl_array(values[:1000], "f32")})
    ds = lance.write_dataset(t, uri, **D.write_kwargs(version, max_rows_per_file=250))
    ds.create_index("vector", "IVF_PQ", num_partitions=4, num_sub_vectors=2)
    ds = lance.dataset(uri)
    ds.create_index("vector", "IVF_FLAT", name="flat_idx", num_partitions=2)
    lance.write_dataset(pa.table({"id": np.arange(1000, 1100, dtype=np.int64),
                                  "vector": D.fsl_array(values[1000:], "f32")}),
                        uri, mode="append")
    lance.dataset(uri).delete("id % 10 = 3")
    exp = D.expected_for(lance, uri, values, None, label=f"indexed-{version}")
    return uri, exp


@pytest.mark.parametrize("version", ["2.1", None], ids=lambda v: D.version_label(v))
def test_inspect_indices(version, store, lancer, outdir):
    uri, exp = store.get(f"indexed-{version}", lambda root: _build_indexed(root, version))
    ds = lance.dataset(uri)
    descs = {d.name: d for d in ds.describe_indices()}
    assert descs["vector_idx"].index_type == "IVF_PQ"
    j = check_inspect(lancer, uri)
    assert {x["name"] for x in j["indices"]} == {"vector_idx", "flat_idx"}
    # older version: only the first index exists (version 2)
    check_inspect(lancer, uri, version=2)
    check_inspect(lancer, uri, version=1)
    # and the index does not disturb the export
    lancer.check_export(exp, outdir)
