"""Fixture datasets for the oracle tests.

Everything here is independent of pytest, and of *which* pylance is
installed: the `lance` module is passed in, so the same code runs in the
project venv (pylance 14.0.2) and, via `lance10_writer.py`, in
`.venv-lance10` (pylance 10.0.0).

Every writer keeps the exact values it wrote.  The expected export of a
dataset is computed from those values plus the row addresses Lance reports
for the live rows (`to_table(with_row_address=True)`); the addresses are also
cross-checked against a model of the layout (`model_live_rows`).
"""

from __future__ import annotations

import json
import os
import zlib
from dataclasses import asdict, dataclass, field
from typing import Dict, Iterable, List, Optional, Tuple

import numpy as np
import pyarrow as pa

# --------------------------------------------------------------------------
# constants
# --------------------------------------------------------------------------

DTYPES = {"f32": np.dtype("<f4"), "f16": np.dtype("<f2"), "u8": np.dtype("|u1")}
ARROW_TYPES = {"f32": pa.float32(), "f16": pa.float16(), "u8": pa.uint8()}
DIMS = (8, 16, 128, 1024, 2048)
VERSIONS = ("2.0", "2.1", "2.2", None)  # None = pylance's default (2.2 in 14, 2.1 in 10)

# Deletion predicate used by the matrix (SQL for Lance, numpy for the model).
DELETE_SQL = "id % 7 = 3 OR (id >= 20 AND id < 35)"


def delete_model(ids: np.ndarray) -> np.ndarray:
    return (ids % 7 == 3) | ((ids >= 20) & (ids < 35))


def stable_seed(*parts) -> int:
    return zlib.crc32("|".join(map(str, parts)).encode())


def rng_for(*parts) -> np.random.Generator:
    return np.random.default_rng(stable_seed(*parts))


def version_label(v: Optional[str]) -> str:
    return "vdefault" if v is None else f"v{v}"


# --------------------------------------------------------------------------
# values
# --------------------------------------------------------------------------

def make_values(dtype: str, rows: int, dim: int, rng: np.random.Generator) -> np.ndarray:
    """(rows, dim) array of the exact values to write.  Includes awkward but
    finite values (-0.0, subnormals, extremes) so that any conversion or
    canonicalisation shows up in a byte-for-byte comparison.  No NaN/Inf here
    (see the dedicated NaN test)."""
    n = rows * dim
    if dtype == "u8":
        v = rng.integers(0, 256, size=n, dtype=np.uint8)
        if n >= 4:
            v[:4] = [0, 255, 1, 128]
        return v.reshape(rows, dim)
    npdt = DTYPES[dtype]
    v = (rng.standard_normal(n) * 10).astype(npdt)
    info = np.finfo(npdt)
    specials = np.array([-0.0, info.smallest_subnormal, -info.smallest_subnormal,
                         info.max, info.min, info.tiny, 1.0, -1.0], dtype=npdt)
    k = min(len(specials), n)
    # spread them over the array, not only row 0
    idx = rng.choice(n, size=k, replace=False)
    v[idx] = specials[:k]
    return v.reshape(rows, dim)


def make_null_mask(rows: int, rng: np.random.Generator) -> np.ndarray:
    """True = null vector.  Random ~20 %, plus the first row, a run, and the
    last row, so page/chunk boundaries see nulls."""
    m = rng.random(rows) < 0.2
    m[0] = True
    m[5:12] = True
    m[-1] = True
    return m


def fsl_array(values: np.ndarray, dtype: str, mask: Optional[np.ndarray] = None) -> pa.Array:
    rows, dim = values.shape
    flat = pa.array(values.reshape(-1), type=ARROW_TYPES[dtype])
    if mask is not None and mask.any():
        return pa.FixedSizeListArray.from_arrays(flat, dim, mask=pa.array(mask, type=pa.bool_()))
    return pa.FixedSizeListArray.from_arrays(flat, dim)


# --------------------------------------------------------------------------
# the matrix
# --------------------------------------------------------------------------

@dataclass(frozen=True)
class MatrixSpec:
    dtype: str
    dim: int
    version: Optional[str]
    nulls: bool
    multi_frag: bool
    deletions: bool

    @property
    def id(self) -> str:
        return "-".join([
            self.dtype, f"d{self.dim}", version_label(self.version),
            "nulls" if self.nulls else "nonull",
            "frags" if self.multi_frag else "1frag",
            "del" if self.deletions else "nodel",
        ])

    @property
    def rows(self) -> int:
        return {1024: 150, 2048: 100}.get(self.dim, 300)

    @property
    def max_rows_per_file(self) -> Optional[int]:
        if not self.multi_frag:
            return None
        return {300: 110, 150: 64, 100: 40}[self.rows]

    @property
    def seed(self) -> int:
        return stable_seed(self.dtype, self.dim, self.nulls)

    def to_json(self) -> dict:
        return asdict(self)

    @staticmethod
    def from_json(d: dict) -> "MatrixSpec":
        return MatrixSpec(**d)


def matrix_specs(versions: Iterable[Optional[str]] = VERSIONS) -> List[MatrixSpec]:
    out = []
    for dtype in DTYPES:
        for dim in DIMS:
            for version in versions:
                for nulls in (False, True):
                    for multi in (False, True):
                        for dels in (False, True):
                            out.append(MatrixSpec(dtype, dim, version, nulls, multi, dels))
    return out


def matrix_data(spec: MatrixSpec) -> Tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(spec.seed)
    values = make_values(spec.dtype, spec.rows, spec.dim, rng)
    mask = make_null_mask(spec.rows, rng) if spec.nulls else np.zeros(spec.rows, bool)
    return values, mask


def matrix_table(spec: MatrixSpec) -> Tuple[pa.Table, np.ndarray, np.ndarray]:
    values, mask = matrix_data(spec)
    t = pa.table({
        "id": pa.array(np.arange(spec.rows, dtype=np.int64)),
        "vector": fsl_array(values, spec.dtype, mask if spec.nulls else None),
    })
    return t, values, mask


def model_live_rows(spec: MatrixSpec) -> Tuple[np.ndarray, np.ndarray]:
    """(ids, row addresses) of the live rows, from the layout model alone."""
    ids = np.arange(spec.rows, dtype=np.int64)
    mrpf = spec.max_rows_per_file or spec.rows
    addrs = ((ids // mrpf).astype(np.uint64) << np.uint64(32)) | (ids % mrpf).astype(np.uint64)
    live = ~delete_model(ids) if spec.deletions else np.ones(spec.rows, bool)
    return ids[live], addrs[live]


def write_kwargs(version: Optional[str], **extra) -> dict:
    kw = dict(extra)
    if version is not None:
        kw["data_storage_version"] = version
    return kw


def write_matrix_dataset(lance, spec: MatrixSpec, uri: str):
    t, values, mask = matrix_table(spec)
    kw = write_kwargs(spec.version)
    if spec.max_rows_per_file:
        kw["max_rows_per_file"] = spec.max_rows_per_file
    ds = lance.write_dataset(t, uri, **kw)
    if spec.deletions:
        ds.delete(DELETE_SQL)
    return lance.dataset(uri), values, mask


# --------------------------------------------------------------------------
# expected output
# --------------------------------------------------------------------------

@dataclass
class Expected:
    """What `lancer export` must produce for one dataset/column/version."""

    uri: str
    column: str
    dtype: np.dtype
    dim: int
    addrs: np.ndarray  # uint64: what --row-ids must contain
    vectors: np.ndarray  # (n, dim) of dtype, in export order
    version: Optional[int] = None  # --version to pass, if any
    label: str = ""
    extra: Dict = field(default_factory=dict)

    @property
    def n(self) -> int:
        return len(self.addrs)


def live_rows(ds, id_column: str = "id", with_row_id: bool = False) -> Dict[str, np.ndarray]:
    """Ids and row addresses (and stable row ids) of the live rows, as Lance
    reports them, sorted by row address."""
    kw = {"with_row_address": True}
    if with_row_id:
        kw["with_row_id"] = True
    t = ds.to_table(columns=[id_column], **kw)
    ids = np.asarray(t.column(id_column).to_numpy(zero_copy_only=False), dtype=np.int64)
    addrs = np.asarray(t.column("_rowaddr").to_numpy(), dtype=np.uint64)
    order = np.argsort(addrs, kind="stable")
    out = {"ids": ids[order], "addrs": addrs[order]}
    if with_row_id:
        out["rowids"] = np.asarray(t.column("_rowid").to_numpy(), dtype=np.uint64)[order]
    return out


def expected_from(values: np.ndarray, mask: np.ndarray, ids: np.ndarray,
                  report: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Select the non-null rows among the live ones (already in row-address
    order).  `report` is what --row-ids must hold for each live row."""
    ids = np.asarray(ids, dtype=np.int64)
    keep = ~mask[ids]
    vecs = values[ids[keep]]
    return np.ascontiguousarray(report[keep], dtype=np.uint64), np.ascontiguousarray(vecs)


def vectors_via_lance(ds, column: str, dtype: str, dim: int) -> Tuple[np.ndarray, np.ndarray]:
    """(ids, vectors) of live non-null rows as pylance reads them, in row
    address order. Used only to sanity-check the oracle itself."""
    t = ds.to_table(columns=["id", column], with_row_address=True)
    col = t.column(column).combine_chunks()
    addrs = t.column("_rowaddr").to_numpy()
    order = np.argsort(addrs, kind="stable")
    ids = t.column("id").to_numpy()[order]
    col = col.take(pa.array(order))
    valid = np.asarray(col.is_valid().to_numpy(zero_copy_only=False), bool)
    flat = col.filter(pa.array(valid)).flatten()
    vecs = np.asarray(flat.to_numpy(zero_copy_only=False), dtype=DTYPES[dtype]).reshape(-1, dim)
    return ids[valid], vecs


def expected_for(lance, uri: str, values: np.ndarray, mask: Optional[np.ndarray],
                 column: str = "vector", version: Optional[int] = None,
                 stable_row_ids: bool = False, label: str = "",
                 check_readback: bool = True) -> Expected:
    """Expected export of `column` of the dataset at `uri` (at `version`).
    `values[id]` / `mask[id]` are the vector written for key `id` (mask True =
    null).  With `stable_row_ids`, --row-ids must hold the stable row ids."""
    if mask is None:
        mask = np.zeros(len(values), bool)
    ds = lance.dataset(uri, version=version) if version is not None else lance.dataset(uri)
    live = live_rows(ds, with_row_id=stable_row_ids)
    report = live["rowids"] if stable_row_ids else live["addrs"]
    addrs, vecs = expected_from(values, mask, live["ids"], report)
    dtype = {v.str: k for k, v in DTYPES.items()}[values.dtype.str]
    if check_readback:
        ids, got = vectors_via_lance(ds, column, dtype, values.shape[1])
        assert np.array_equal(ids, live["ids"][~mask[live["ids"]]]), f"{label}: oracle ids"
        assert got.tobytes() == vecs.tobytes(), f"{label}: pylance read-back differs"
    return Expected(uri, column, values.dtype, values.shape[1], addrs, vecs,
                    version=version, label=label)


# --------------------------------------------------------------------------
# a dataset with a history of versions
# --------------------------------------------------------------------------

def history_datasets(lance, root, version, v2_paths=True):
    """v1 create (250 rows, 3 fragments) -> v2 append 130 -> v3 delete ->
    v4 append 40 -> v5 delete -> v6 overwrite with f16 x 24 (new schema)."""
    uri = os.path.join(root, "ds.lance")
    rng = rng_for("history")
    values = make_values("f32", 420, 16, rng)
    mask = make_null_mask(420, rng)

    def tab(lo, hi):
        return pa.table({"id": np.arange(lo, hi, dtype=np.int64),
                         "vector": fsl_array(values[lo:hi], "f32", mask[lo:hi])})

    kw = write_kwargs(version, max_rows_per_file=100, enable_v2_manifest_paths=v2_paths)
    lance.write_dataset(tab(0, 250), uri, **kw)
    lance.write_dataset(tab(250, 380), uri, mode="append", max_rows_per_file=100)
    lance.dataset(uri).delete("id % 6 = 1")
    lance.write_dataset(tab(380, 420), uri, mode="append")
    lance.dataset(uri).delete("id >= 100 AND id < 130")
    v16 = make_values("f16", 90, 24, rng)
    m16 = np.zeros(90, bool)
    m16[::4] = True
    lance.write_dataset(pa.table({"id": np.arange(90, dtype=np.int64),
                                  "vector": fsl_array(v16, "f16", m16)}),
                        uri, mode="overwrite", **write_kwargs(version))
    exps = {}
    for v in range(1, 6):
        exps[v] = expected_for(lance, uri, values, mask, version=v, label=f"history@{v}")
    exps[6] = expected_for(lance, uri, v16, m16, version=6, label="history@6")
    latest = expected_for(lance, uri, v16, m16, label="history@latest")
    assert lance.dataset(uri).version == 6
    return exps, latest


# --------------------------------------------------------------------------
# saving / loading (second oracle)
# --------------------------------------------------------------------------

def save_written(outdir: str, name: str, values: np.ndarray, mask: np.ndarray,
                 live: Dict[str, np.ndarray], meta: dict) -> None:
    np.save(os.path.join(outdir, f"{name}.values.npy"), values)
    np.save(os.path.join(outdir, f"{name}.mask.npy"), mask)
    np.save(os.path.join(outdir, f"{name}.live_ids.npy"), live["ids"])
    np.save(os.path.join(outdir, f"{name}.live_addrs.npy"), live["addrs"])
    with open(os.path.join(outdir, f"{name}.meta.json"), "w") as fh:
        json.dump(meta, fh, indent=1, sort_keys=True)


def load_written(outdir: str, name: str) -> dict:
    d = {k: np.load(os.path.join(outdir, f"{name}.{k}.npy"))
         for k in ("values", "mask", "live_ids", "live_addrs")}
    with open(os.path.join(outdir, f"{name}.meta.json")) as fh:
        d["meta"] = json.load(fh)
    d["uri"] = os.path.join(outdir, f"{name}.lance")
    return d


def write_clustered(uri: str, fragments: int, rows_per_fragment: int, dim: int, clusters: int,
                    seed: int) -> np.ndarray:
    """A float32 `vector` column (and `id`) of Gaussian clusters, `fragments` x `rows_per_fragment`
    rows, written by pylance; returns the vectors."""
    import lance

    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((clusters, dim)).astype(np.float32) * 4
    rows = fragments * rows_per_fragment
    values = (centres[rng.integers(0, clusters, rows)] + rng.standard_normal((rows, dim))).astype(np.float32)
    table = pa.table({"id": np.arange(rows), "vector": pa.FixedSizeListArray.from_arrays(pa.array(values.ravel()), dim)})
    lance.write_dataset(table, uri, max_rows_per_file=rows_per_fragment)
    return values
