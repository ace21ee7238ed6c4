"""Cases beyond the matrix: many pages, column positions, vectors inside
structs, deletion edge cases, manifest naming, older versions, stable row
ids, the three output formats, NaN/Inf, all-null pages, multi-file
fragments.  pylance 14.0.2 writes every dataset; lancer must match exactly."""

from __future__ import annotations

import os

import lance
import numpy as np
import pyarrow as pa
import pytest

import datasets as D
import lanceraw as R

pytestmark = pytest.mark.extras

V3 = ["2.0", "2.1", "2.2"]


rng_for = D.rng_for


def vector_pages(uri: str, column_index: int) -> list:
    """Page counts of one column in every data file of the latest version."""
    m = R.parse_manifest(R.manifest_path(uri))
    out = []
    for fr in m.fragments:
        for f in fr["files"]:
            lay = R.parse_data_file(os.path.join(uri, "data", f["path"]))
            out.append(len(lay.columns[column_index].pages))
    return out


def write(table_or_reader, uri, version, **kw):
    return lance.write_dataset(table_or_reader, uri, **D.write_kwargs(version, **kw))


# --------------------------------------------------------------------------
# several pages per column
# --------------------------------------------------------------------------

PAGE_CASES = [
    # (label, dtype, rows, dim, batch rows, min pages)
    ("f32-d128-10MiB-1batch", "f32", 20000, 128, None, 1),
    ("f32-d128-10MiB-batched", "f32", 20000, 128, 1000, 10),
    ("f32-d16-10MiB-miniblock-batched", "f32", 170000, 16, 10000, 2),
    ("f16-d1024-batched", "f16", 3000, 1024, 300, 2),
]


@pytest.mark.slow
@pytest.mark.parametrize("nulls", [False, True], ids=["nonull", "nulls"])
@pytest.mark.parametrize("version", V3)
@pytest.mark.parametrize("case", PAGE_CASES, ids=[c[0] for c in PAGE_CASES])
def test_many_pages(case, version, nulls, store, lancer, outdir):
    label, dtype, rows, dim, batch, min_pages = case

    def build(root):
        rng = rng_for("pages", dtype, rows, dim)
        values = D.make_values(dtype, rows, dim, rng)
        mask = D.make_null_mask(rows, rng) if nulls else np.zeros(rows, bool)
        t = pa.table({"id": np.arange(rows, dtype=np.int64),
                      "vector": D.fsl_array(values, dtype, mask if nulls else None)})
        data = t if batch is None else pa.RecordBatchReader.from_batches(
            t.schema, t.to_batches(max_chunksize=batch))
        uri = os.path.join(root, "ds.lance")
        ds = write(data, uri, version)
        ds.delete("id % 11 = 4 OR (id >= 990 AND id < 1010)")  # straddles page borders
        pages = vector_pages(uri, 1)
        assert min(pages) >= min_pages, f"fixture did not produce >= {min_pages} pages: {pages}"
        return D.expected_for(lance, uri, values, mask, label=f"{label}-v{version}-nulls={nulls}")

    exp = store.get(f"pages-{label}-{version}-{nulls}", build)
    lancer.check_export(exp, outdir, timeout=300)


# --------------------------------------------------------------------------
# vector in any column position, beside strings and a second vector column
# --------------------------------------------------------------------------

def _strings(n, rng):
    lens = rng.integers(0, 40, size=n)
    s = ["x" * int(k) + str(i) for i, k in enumerate(lens)]
    mask = rng.random(n) < 0.1
    return pa.array([None if m else v for v, m in zip(s, mask)], type=pa.string())


LAYOUTS = {
    "first": ["vector", "s1", "id", "other", "f"],
    "middle": ["id", "s1", "vector", "f", "s2"],
    "last": ["s1", "id", "f", "s2", "other", "vector"],
}


@pytest.mark.parametrize("dim", [8, 128])
@pytest.mark.parametrize("version", V3 + [None], ids=lambda v: D.version_label(v))
@pytest.mark.parametrize("position", list(LAYOUTS))
def test_column_position(position, version, dim, store, lancer, outdir):
    cols = LAYOUTS[position]
    n = 300

    def build(root):
        rng = rng_for("pos", dim)
        values = D.make_values("f32", n, dim, rng)
        mask = D.make_null_mask(n, rng)
        other = D.make_values("f16", n, 4, rng)
        omask = rng.random(n) < 0.3
        data = {
            "id": pa.array(np.arange(n, dtype=np.int64)),
            "vector": D.fsl_array(values, "f32", mask),
            "other": D.fsl_array(other, "f16", omask),
            "s1": _strings(n, rng),
            "s2": _strings(n, rng),
            "f": pa.array(rng.standard_normal(n)),
        }
        t = pa.table({c: data[c] for c in cols})
        uri = os.path.join(root, "ds.lance")
        ds = write(t, uri, version, max_rows_per_file=120)
        ds.delete(D.DELETE_SQL)
        e1 = D.expected_for(lance, uri, values, mask, "vector", label=f"pos-{position}")
        e2 = (D.expected_for(lance, uri, other, omask, "other", label=f"pos-{position}-other")
              if "other" in cols else None)
        return e1, e2

    e1, e2 = store.get(f"pos-{position}-{version}-{dim}", build)
    lancer.check_export(e1, outdir)
    if e2 is not None:
        lancer.check_export(e2, outdir)


# --------------------------------------------------------------------------
# vector inside a struct: meta.vector
# --------------------------------------------------------------------------

STRUCT_VARIANTS = ["plain", "null-vectors", "null-structs"]


@pytest.mark.parametrize("dim", [16, 128])
@pytest.mark.parametrize("version", V3 + [None], ids=lambda v: D.version_label(v))
@pytest.mark.parametrize("variant", STRUCT_VARIANTS)
def test_struct_vector(variant, version, dim, store, lancer, outdir):
    if variant == "null-structs" and version == "2.0":
        pytest.skip("Lance 2.0 files cannot encode struct validity (pylance refuses to write it)")
    n = 300

    def build(root):
        rng = rng_for("struct", dim)
        values = D.make_values("f32", n, dim, rng)
        vmask = D.make_null_mask(n, rng) if variant == "null-vectors" else np.zeros(n, bool)
        smask = np.zeros(n, bool)
        if variant == "null-structs":
            smask = rng.random(n) < 0.2
            smask[:3] = True
        fsl = D.fsl_array(values, "f32", vmask if vmask.any() else None)
        labels = pa.array([f"label-{i}" for i in range(n)])
        kw = {"mask": pa.array(smask)} if smask.any() else {}
        st = pa.StructArray.from_arrays([fsl, labels], names=["vector", "label"], **kw)
        t = pa.table({"id": pa.array(np.arange(n, dtype=np.int64)), "meta": st,
                      "s": _strings(n, rng)})
        uri = os.path.join(root, "ds.lance")
        ds = write(t, uri, version, max_rows_per_file=128)
        ds.delete(D.DELETE_SQL)
        return D.expected_for(lance, uri, values, vmask | smask, "meta.vector",
                              label=f"struct-{variant}-{version}")

    exp = store.get(f"struct-{variant}-{version}-{dim}", build)
    if variant == "null-structs":
        # §3.4: nullable-struct levels may be refused -- but never misread.
        _exact_or_clean_error(lancer, exp, outdir)
    else:
        lancer.check_export(exp, outdir)


def _exact_or_clean_error(lancer, exp, outdir):
    out = os.path.join(outdir, "out.npy")
    rid = os.path.join(outdir, "rowids.npy")
    r = lancer.export(exp.uri, exp.column, out, rid, exp.version)
    problem = lancer.judge_exact_or_error(r, exp, out, rid, [exp.uri] + _data_files(exp.uri))
    assert problem is None, f"{exp.label}: {problem}\n{r.describe()}"
    return r


def _data_files(uri):
    m = R.parse_manifest(R.manifest_path(uri))
    return [os.path.join(uri, "data", f["path"]) for fr in m.fragments for f in fr["files"]]


# --------------------------------------------------------------------------
# deletions
# --------------------------------------------------------------------------

WHOLE_FRAG = {
    "first": "id < 100 OR (id >= 200 AND id % 3 = 0)",
    "middle": "(id >= 100 AND id < 200) OR id % 7 = 3",
    "last": "id >= 200 OR id = 5",
}


@pytest.mark.parametrize("version", V3 + [None], ids=lambda v: D.version_label(v))
@pytest.mark.parametrize("which", list(WHOLE_FRAG))
def test_whole_fragment_deleted(which, version, store, lancer, outdir):
    def build(root):
        rng = rng_for("wholefrag")
        values = D.make_values("f32", 300, 16, rng)
        mask = D.make_null_mask(300, rng)
        t = pa.table({"id": np.arange(300, dtype=np.int64), "vector": D.fsl_array(values, "f32", mask)})
        uri = os.path.join(root, "ds.lance")
        ds = write(t, uri, version, max_rows_per_file=100)
        ds.delete(WHOLE_FRAG[which])
        ds = lance.dataset(uri)
        assert len(ds.get_fragments()) == 2, "fixture: a whole fragment should be gone"
        return D.expected_for(lance, uri, values, mask, label=f"wholefrag-{which}")

    lancer.check_export(store.get(f"wholefrag-{which}-{version}", build), outdir)


@pytest.mark.parametrize("dim", [8, 128])
@pytest.mark.parametrize("version", V3 + [None], ids=lambda v: D.version_label(v))
def test_bitmap_deletion_file(version, dim, store, lancer, outdir):
    """> 5000 deleted rows in one fragment give a roaring `.bin` deletion file;
    the second fragment gets a small `.arrow` one."""
    rows = 18000

    def build(root):
        rng = rng_for("bigdel", dim)
        values = D.make_values("f32", rows, dim, rng)
        mask = rng.random(rows) < 0.05
        t = pa.table({"id": np.arange(rows, dtype=np.int64), "vector": D.fsl_array(values, "f32", mask)})
        uri = os.path.join(root, "ds.lance")
        ds = write(t, uri, version, max_rows_per_file=12000)
        ds.delete("(id < 12000 AND id % 2 = 0) OR (id >= 12000 AND id % 500 = 7) OR id = 1")
        kinds = sorted(os.path.splitext(f)[1] for f in os.listdir(os.path.join(uri, "_deletions")))
        assert kinds == [".arrow", ".bin"], f"fixture: deletion files {kinds}"
        return D.expected_for(lance, uri, values, mask, label=f"bigdel-{version}-d{dim}")

    lancer.check_export(store.get(f"bigdel-{version}-{dim}", build), outdir)


@pytest.mark.parametrize("version", V3, ids=lambda v: D.version_label(v))
def test_deletions_accumulate(version, store, lancer, outdir):
    """Several delete commits: each rewrites the fragment's deletion file."""
    def build(root):
        rng = rng_for("accum")
        values = D.make_values("u8", 400, 32, rng)
        t = pa.table({"id": np.arange(400, dtype=np.int64), "vector": D.fsl_array(values, "u8")})
        uri = os.path.join(root, "ds.lance")
        ds = write(t, uri, version, max_rows_per_file=150)
        for pred in ["id % 5 = 0", "id % 5 = 1", "id > 390", "id = 151"]:
            ds.delete(pred)
        return D.expected_for(lance, uri, values, None, label="accum")

    lancer.check_export(store.get(f"accum-{version}", build), outdir)


@pytest.mark.parametrize("version", V3 + [None], ids=lambda v: D.version_label(v))
def test_all_rows_deleted(version, store, lancer, outdir):
    def build(root):
        values = D.make_values("f32", 200, 8, rng_for("alldel"))
        t = pa.table({"id": np.arange(200, dtype=np.int64), "vector": D.fsl_array(values, "f32")})
        uri = os.path.join(root, "ds.lance")
        ds = write(t, uri, version, max_rows_per_file=64)
        ds.delete("id >= 0")
        assert len(lance.dataset(uri).get_fragments()) == 0
        return D.expected_for(lance, uri, values, None, label="alldel")

    exp = store.get(f"alldel-{version}", build)
    assert exp.n == 0
    lancer.check_export(exp, outdir)


# --------------------------------------------------------------------------
# all-null vectors (constant layout / all_nulls pages), NaN / Inf
# --------------------------------------------------------------------------

@pytest.mark.parametrize("dim", [8, 128])
@pytest.mark.parametrize("version", V3 + [None], ids=lambda v: D.version_label(v))
@pytest.mark.parametrize("which", ["one-fragment-all-null", "everything-null"])
def test_all_null_vectors(which, version, dim, store, lancer, outdir):
    n = 300

    def build(root):
        rng = rng_for("allnull", dim)
        values = D.make_values("f32", n, dim, rng)
        mask = np.zeros(n, bool)
        if which == "everything-null":
            mask[:] = True
        else:
            mask[100:200] = True
            mask[rng.random(n) < 0.1] = True
        t = pa.table({"id": np.arange(n, dtype=np.int64), "vector": D.fsl_array(values, "f32", mask)})
        uri = os.path.join(root, "ds.lance")
        ds = write(t, uri, version, max_rows_per_file=100)
        ds.delete("id % 9 = 2")
        return D.expected_for(lance, uri, values, mask, label=f"allnull-{which}")

    exp = store.get(f"allnull-{which}-{version}-{dim}", build)
    lancer.check_export(exp, outdir)


@pytest.mark.parametrize("dtype", ["f32", "f16"])
@pytest.mark.parametrize("version", V3 + [None], ids=lambda v: D.version_label(v))
def test_nan_inf_exported_as_stored(dtype, version, store, lancer, outdir):
    """The export contract skips only null vectors and deleted rows, so
    vectors holding NaN / +-Inf are exported, bit for bit (incl. NaN payload)."""
    n, dim = 200, 16

    def build(root):
        rng = rng_for("nan", dtype)
        values = D.make_values(dtype, n, dim, rng)
        npdt = D.DTYPES[dtype]
        values[3, 0] = np.nan
        values[4, :] = np.inf
        values[5, 7] = -np.inf
        # a NaN with a non-canonical payload/sign
        bits = values.view(np.uint32 if dtype == "f32" else np.uint16)
        bits[6, 1] = 0xFFC00001 if dtype == "f32" else 0xFE01
        values[150, 2] = np.nan
        mask = np.zeros(n, bool)
        mask[[1, 5]] = True
        t = pa.table({"id": np.arange(n, dtype=np.int64), "vector": D.fsl_array(values.astype(npdt), dtype, mask)})
        uri = os.path.join(root, "ds.lance")
        ds = write(t, uri, version, max_rows_per_file=120)
        ds.delete("id = 150")
        return D.expected_for(lance, uri, values, mask, label=f"nan-{dtype}")

    lancer.check_export(store.get(f"nan-{dtype}-{version}", build), outdir)


# --------------------------------------------------------------------------
# manifests and versions
# --------------------------------------------------------------------------

@pytest.mark.parametrize("naming", ["v2", "v1"])
@pytest.mark.parametrize("version", V3 + [None], ids=lambda v: D.version_label(v))
def test_versions_and_manifest_naming(naming, version, store, lancer, outdir):
    exps, latest = store.get(f"history-{naming}-{version}",
                             lambda root: D.history_datasets(lance, root, version, naming == "v2"))
    names = os.listdir(os.path.join(latest.uri, "_versions"))
    if naming == "v1":
        assert "1.manifest" in names and "6.manifest" in names, names
    else:
        assert "18446744073709551614.manifest" in names, names
    lancer.check_export(latest, outdir)
    for v, exp in exps.items():
        lancer.check_export(exp, outdir)


# --------------------------------------------------------------------------
# stable row ids
# --------------------------------------------------------------------------

@pytest.mark.parametrize("version", V3 + [None], ids=lambda v: D.version_label(v))
def test_stable_row_ids(version, store, lancer, outdir):
    """--row-ids must report the stable row ids (to_table(with_row_id=True)),
    also after an update moved rows and a compaction rewrote fragments."""
    n, dim = 300, 16

    def build(root):
        rng = rng_for("stable")
        values = D.make_values("f32", n, dim, rng)
        mask = D.make_null_mask(n, rng)
        t = pa.table({"id": np.arange(n, dtype=np.int64), "tag": np.zeros(n, np.int32),
                      "vector": D.fsl_array(values, "f32", mask)})
        uri = os.path.join(root, "ds.lance")
        ds = write(t, uri, version, max_rows_per_file=100, enable_stable_row_ids=True)
        assert ds.has_stable_row_ids
        ds.delete("id % 5 = 0")                              # v2
        ds.update({"tag": "tag + 1"}, where="id < 20 OR id = 250")  # v3: rows move
        ds = lance.dataset(uri)
        ds.optimize.compact_files(target_rows_per_fragment=1000)  # v4+: rewritten
        ds = lance.dataset(uri)
        exps = [D.expected_for(lance, uri, values, mask, version=v, stable_row_ids=True,
                               label=f"stable@{v}") for v in range(1, ds.version + 1)]
        exps.append(D.expected_for(lance, uri, values, mask, stable_row_ids=True,
                                   label="stable@latest"))
        # the fixture only proves something if ids and addresses differ by now
        live = D.live_rows(ds, with_row_id=True)
        assert not np.array_equal(live["rowids"], live["addrs"])
        return exps

    for exp in store.get(f"stable-{version}", build):
        lancer.check_export(exp, outdir)


# --------------------------------------------------------------------------
# fragments made of several data files; many fragments
# --------------------------------------------------------------------------

@pytest.mark.parametrize("version", V3 + [None], ids=lambda v: D.version_label(v))
def test_vector_in_second_data_file(version, store, lancer, outdir):
    """merge() adds the vector column as a new data file in each fragment;
    drop_columns() then removes a column beside it."""
    n, dim = 300, 32

    def build(root):
        rng = rng_for("merge")
        values = D.make_values("f16", n, dim, rng)
        mask = D.make_null_mask(n, rng)
        uri = os.path.join(root, "ds.lance")
        ds = write(pa.table({"id": np.arange(n, dtype=np.int64), "s": _strings(n, rng)}),
                   uri, version, max_rows_per_file=100)
        ds.delete("id % 13 = 5")
        ds = lance.dataset(uri)
        perm = rng.permutation(n)  # merge input in a different order
        right = pa.table({"id": np.arange(n, dtype=np.int64)[perm], "x": np.arange(n)[perm],
                          "vector": D.fsl_array(values[perm], "f16", mask[perm])})
        ds.merge(right, "id")
        ds = lance.dataset(uri)
        ds.drop_columns(["x"])
        ds = lance.dataset(uri)
        nfiles = [len(f.metadata.files) for f in ds.get_fragments()]
        assert all(k >= 2 for k in nfiles), nfiles
        return D.expected_for(lance, uri, values, mask, label="merge")

    lancer.check_export(store.get(f"merge-{version}", build), outdir)


@pytest.mark.parametrize("version", V3 + [None], ids=lambda v: D.version_label(v))
def test_many_small_fragments(version, store, lancer, outdir):
    def build(root):
        rng = rng_for("manyfrags")
        values = D.make_values("u8", 517, 64, rng)
        mask = D.make_null_mask(517, rng)
        uri = os.path.join(root, "ds.lance")
        ds = write(pa.table({"id": np.arange(517, dtype=np.int64),
                             "vector": D.fsl_array(values, "u8", mask)}),
                   uri, version, max_rows_per_file=9)
        ds.delete("id % 4 = 3 OR (id >= 90 AND id < 99)")
        return D.expected_for(lance, uri, values, mask, label="manyfrags")

    lancer.check_export(store.get(f"manyfrags-{version}", build), outdir)


# --------------------------------------------------------------------------
# output formats
# --------------------------------------------------------------------------

@pytest.mark.parametrize("fmt", ["npy", "fvecs", "f32"])
@pytest.mark.parametrize("dim", [8, 128])
@pytest.mark.parametrize("dtype", list(D.DTYPES))
def test_output_formats(dtype, dim, fmt, store, lancer, outdir):
    spec = D.MatrixSpec(dtype, dim, None, True, True, True)
    exp = store.matrix(spec)
    lancer.check_export(exp, outdir, fmt=fmt)
    # the same export without --row-ids
    lancer.check_export(exp, outdir, fmt=fmt, with_row_ids=False)
