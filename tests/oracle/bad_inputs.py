"""The bad-input matrix (issue 18), shared by the CLI's tests (tests/oracle/test_bad_input.py) and the
Python package's (tests/python/test_package_bad_input.py): tiny datasets, each case's build arguments, and what
must happen: a refusal with the documented exit code / exception naming what and where, the dataset's
files byte for byte as they were; or a correct build, which pylance opens and searches."""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Tuple

import numpy as np
import pyarrow as pa

DIM = 16

# README "Errors": the CLI's exit code for each kind of error, and the Python package's exception.
EXIT = {"invalid": 2, "not_found": 3, "not_supported": 4, "corrupt": 5, "conflict": 6, "io": 7}


def python_error(kind: str):
    import lancer

    return {"invalid": ValueError, "not_found": lancer.NotFoundError, "not_supported": NotImplementedError,
            "corrupt": lancer.CorruptionError, "conflict": lancer.CommitConflictError, "io": OSError}[kind]


def tree_digest(root: str) -> Dict[str, str]:
    """Every file under `root` with its SHA-256, and every folder (the file list, empty folders too)."""
    out = {}
    for dirpath, dirs, files in os.walk(root):
        for d in dirs:
            out[os.path.relpath(os.path.join(dirpath, d), root) + "/"] = "folder"
        for f in files:
            p = os.path.join(dirpath, f)
            with open(p, "rb") as fh:
                out[os.path.relpath(p, root)] = hashlib.sha256(fh.read()).hexdigest()
    return out


def digest_diff(before: Dict[str, str], after: Dict[str, str]) -> str:
    added = sorted(set(after) - set(before))
    removed = sorted(set(before) - set(after))
    changed = sorted(k for k in set(before) & set(after) if before[k] != after[k])
    return f"added {added}, removed {removed}, changed {changed}"


def vector_column(values: np.ndarray, mask: Optional[np.ndarray] = None) -> pa.Array:
    arrow = pa.uint8() if values.dtype == np.uint8 else pa.float32()
    return pa.FixedSizeListArray.from_arrays(pa.array(values.ravel(), arrow), values.shape[1],
                                             mask=None if mask is None else pa.array(mask))


def write(uri: str, values: np.ndarray, mask: Optional[np.ndarray] = None, rows_per_file: Optional[int] = None,
          **columns) -> str:
    import lance

    table = pa.table({"id": pa.array(np.arange(len(values)), pa.int64()), "vector": vector_column(values, mask),
                      **columns})
    kw = {"max_rows_per_file": rows_per_file} if rows_per_file else {}
    lance.write_dataset(table, uri, **kw)
    return uri


def gaussian(rows: int, seed: int = 1, dim: int = DIM) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((rows, dim)).astype(np.float32)


def non_finite(rows: int) -> np.ndarray:
    v = gaussian(rows)
    v[:, 0] = np.nan
    v[::2, 1] = np.inf
    v[1::3, 2] = -np.inf
    return v


# --------------------------------------------------------------------------
# the cases
# --------------------------------------------------------------------------

@dataclass
class Case:
    """One bad input. `dataset(uri)` writes it; `args` are create_index's keywords (the CLI's flags by the same
    names); `arrays` are supplied inputs (a .npy file for the CLI, the array itself for Python). `kind` is the
    error expected (EXIT's keys), None for a build that must succeed; `says` are the words the message must
    hold (what and where); `py_*` override them where the Python package checks first."""
    id: str
    dataset: Callable[[str], object]
    args: dict
    kind: Optional[str]
    says: Tuple[str, ...] = ()
    arrays: Dict[str, np.ndarray] = field(default_factory=dict)
    py_kind: Optional[str] = "same"
    py_says: Optional[Tuple[str, ...]] = None
    cli_kind: Optional[str] = "same"
    cli_says: Optional[Tuple[str, ...]] = None

    def expected(self, python: bool, uri: str) -> Tuple[Optional[str], Tuple[str, ...]]:
        """(error kind or None, the words the message must hold, "{uri}" replaced by the dataset's)."""
        kind = (self.py_kind if python else self.cli_kind)
        says = (self.py_says if python else self.cli_says)
        says = self.says if says is None else says
        return (self.kind if kind == "same" else kind), tuple(w.replace("{uri}", uri) for w in says)


def _ok(uri):
    return write(uri, gaussian(600))


def _varlen(uri):
    import lance

    lists = [[1.0] * DIM] * 5 + [[1.0] * (DIM - 1)] * 5
    lance.write_dataset(pa.table({"id": np.arange(10), "vector": pa.array(lists, pa.list_(pa.float32())),
                                  "name": pa.array(["a"] * 10)}), uri)


def _u8(uri):
    return write(uri, np.random.default_rng(2).integers(0, 256, (600, DIM), dtype=np.uint8))


NO_VECTORS = ("column vector of {uri}", "no non-null finite vectors")
F32 = np.float32

CASES: List[Case] = [
    Case("zero_rows", lambda u: write(u, gaussian(0)), dict(index_type="IVF_FLAT", num_partitions=2),
         "invalid", NO_VECTORS),
    Case("zero_rows_pq", lambda u: write(u, gaussian(0)), dict(index_type="IVF_PQ", num_partitions=2,
                                                               num_sub_vectors=4), "invalid", NO_VECTORS),
    Case("all_null", lambda u: write(u, gaussian(50), mask=np.ones(50, bool)),
         dict(index_type="IVF_PQ", num_partitions=2, num_sub_vectors=4), "invalid", NO_VECTORS),
    Case("all_non_finite", lambda u: write(u, non_finite(50)),
         dict(index_type="IVF_SQ", num_partitions=2), "invalid", NO_VECTORS),
    # One row: Lance 14 builds every type over it; lancer does too, except PQ, whose codebook it trains
    # on 256 rows at least (Lance trains one anyway: a difference, refused by name).
    *[Case(f"one_row_{t.lower()}", lambda u: write(u, gaussian(1)), dict(index_type=t, num_partitions=1), None)
      for t in ("IVF_FLAT", "IVF_SQ", "IVF_RQ", "IVF_HNSW_SQ")],
    Case("one_row_ivf_pq", lambda u: write(u, gaussian(1)), dict(index_type="IVF_PQ", num_partitions=1,
                                                                 num_sub_vectors=4),
         "invalid", ("PQ", "at least 256 vectors, got 1")),
    Case("fewer_rows_than_partitions", lambda u: write(u, gaussian(5)), dict(index_type="IVF_FLAT", num_partitions=8),
         "invalid", ("num_partitions 8", "5 vectors")),
    Case("num_sub_vectors_not_dividing", _ok, dict(index_type="IVF_PQ", num_partitions=2, num_sub_vectors=5),
         "invalid", ("num_sub_vectors 5", "dimension 16", "column vector"),
         py_says=("num_sub_vectors", "divide")),
    Case("pq_num_bits_9", _ok, dict(index_type="IVF_PQ", num_partitions=2, num_sub_vectors=4, num_bits=9),
         "invalid", ("num_bits", "9")),
    Case("pq_num_bits_0", _ok, dict(index_type="IVF_PQ", num_partitions=2, num_sub_vectors=4, num_bits=0),
         "invalid", ("num-bits", "0"), py_says=("num_bits", "got 0")),
    Case("rq_num_bits_0", _ok, dict(index_type="IVF_RQ", num_partitions=2, num_bits=0),
         "invalid", ("num-bits", "0"), py_says=("num_bits", "got 0")),
    Case("rq_num_bits_10", _ok, dict(index_type="IVF_RQ", num_partitions=2, num_bits=10),  # Lance: 1..=9
         "invalid", ("num-bits", "10"), py_says=("num_bits", "got 10")),
    # Supplied centroids and codebooks: the CLI reads .npy files, Python takes arrays (and casts
    # any numeric dtype to float32, as lance-ray hands them to Lance).
    Case("centroids_too_many", _ok, dict(index_type="IVF_FLAT", num_partitions=2), "invalid",
         ("ivf_centroids", "shape [2, 16], found [3, 16]"), arrays={"ivf_centroids": np.zeros((3, DIM), F32)}),
    Case("centroids_wrong_dim", _ok, dict(index_type="IVF_FLAT", num_partitions=2), "invalid",
         ("ivf_centroids", "shape [2, 16], found [2, 17]"), arrays={"ivf_centroids": np.zeros((2, DIM + 1), F32)}),
    Case("centroids_same_count_wrong_shape", _ok, dict(index_type="IVF_FLAT", num_partitions=2), "invalid",
         ("ivf_centroids", "shape [2, 16], found [4, 8]"), arrays={"ivf_centroids": np.zeros((4, 8), F32)}),
    Case("centroids_flat", _ok, dict(index_type="IVF_FLAT", num_partitions=2), "invalid",
         ("ivf_centroids", "shape [2, 16], found [32]"), arrays={"ivf_centroids": np.zeros(2 * DIM, F32)},
         py_says=("ivf_centroids", "(32,)")),
    Case("centroids_float64", _ok, dict(index_type="IVF_FLAT", num_partitions=2), "invalid",
         ("ivf_centroids", "float32", "<f8"), arrays={"ivf_centroids": gaussian(2).astype(np.float64)},
         py_kind=None),
    Case("centroids_int32", _ok, dict(index_type="IVF_FLAT", num_partitions=2), "invalid",
         ("ivf_centroids", "float32", "<i4"), arrays={"ivf_centroids": np.arange(2 * DIM, dtype=np.int32).reshape(2, DIM)},
         py_kind=None),
    Case("codebook_wrong_codes", _ok, dict(index_type="IVF_PQ", num_partitions=2, num_sub_vectors=4), "invalid",
         ("pq_codebook", "shape [4, 256, 4], found [4, 255, 4]"), arrays={"pq_codebook": np.zeros((4, 255, 4), F32)}),
    Case("codebook_same_count_wrong_shape", _ok, dict(index_type="IVF_PQ", num_partitions=2, num_sub_vectors=4),
         "invalid", ("pq_codebook", "shape [4, 256, 4], found [2, 256, 8]"),
         arrays={"pq_codebook": np.zeros((2, 256, 8), F32)}),
    Case("codebook_float64", _ok, dict(index_type="IVF_PQ", num_partitions=2, num_sub_vectors=4), "invalid",
         ("pq_codebook", "float32", "<f8"),
         arrays={"pq_codebook": np.random.default_rng(3).standard_normal((4, 256, 4))}, py_kind=None),
    Case("non_vector_column", _ok, dict(index_type="IVF_FLAT", num_partitions=2, column="id"), "not_supported",
         ("column id of {uri}", "int64", "not a vector column")),
    Case("string_column", _varlen, dict(index_type="IVF_FLAT", num_partitions=2, column="name"), "not_supported",
         ("column name of {uri}", "string", "not a vector column")),
    Case("variable_length_list", _varlen, dict(index_type="IVF_FLAT", num_partitions=2), "not_supported",
         ("column vector of {uri}", "list", "not a vector column")),
    # uint8: Lance 14 builds uint8 vectors only with the hamming metric, and only IVF_FLAT / IVF_HNSW_FLAT
    # (tests/oracle/test_bad_input.py checks that on pylance); lancer has no hamming: refused by name.
    *[Case(f"uint8_{t.lower()}", _u8, dict(index_type=t, num_partitions=2, num_sub_vectors=4), "not_supported",
           ("column vector of {uri}", "uint8", "hamming")) for t in ("IVF_FLAT", "IVF_PQ", "IVF_HNSW_FLAT")],
    Case("uint8_hamming", _u8, dict(index_type="IVF_FLAT", num_partitions=2, metric="hamming"), "not_supported",
         ("hamming",), cli_kind="invalid", cli_says=("--metric", "hamming")),
    Case("missing_column", _ok, dict(index_type="IVF_FLAT", num_partitions=2, column="nope"), "not_found",
         ("column nope",)),
]

CASE_IDS = [c.id for c in CASES]


def cli_args(case: Case, uri: str, folder: str) -> List[str]:
    args = dict(case.args)
    argv = ["create-index", uri, "--column", args.pop("column", "vector")]
    for key, value in args.items():
        argv += ["--" + key.replace("_", "-"), str(value)]
    for key, array in case.arrays.items():
        path = os.path.join(folder, f"{key}.npy")
        np.save(path, array)
        argv += ["--" + key.replace("_", "-"), path]
    return argv


def py_kwargs(case: Case) -> dict:
    args = dict(column="vector", engine="local", progress=False)
    args.update(case.args)
    args.update(case.arrays)
    return args


def check_built(uri: str, index_type: str, rows: int):
    """A build that must succeed: pylance lists the index with every row, plans a query with it, and the
    rows it returns exist, at the (refined, exact) L2 distances of their stored vectors; IVF_FLAT finds the
    query row itself."""
    import lance

    ds = lance.dataset(uri)
    (idx,) = ds.describe_indices()
    assert idx.index_type == index_type and idx.num_rows_indexed == rows
    stored = ds.to_table(columns=["id", "vector"])
    vectors = np.asarray(stored["vector"].to_pylist(), dtype=np.float32)
    q = vectors[0]
    nearest = {"column": "vector", "q": q, "k": min(5, rows), "nprobes": 8, "refine_factor": 1}
    scanner = ds.scanner(nearest=nearest, columns=["id"])
    assert idx.segments[0].uuid in scanner.explain_plan(True)
    got = scanner.to_table()
    assert got.num_rows == min(5, rows)
    ids = got["id"].to_numpy()
    position = {int(i): n for n, i in enumerate(stored["id"].to_numpy())}
    exact = ((vectors[[position[int(i)] for i in ids]] - q) ** 2).sum(axis=1)
    np.testing.assert_allclose(got["_distance"].to_numpy(), exact, rtol=1e-4, atol=1e-4)
    if index_type == "IVF_FLAT":
        assert ids[0] == stored["id"][0].as_py()


# --------------------------------------------------------------------------
# environments: another user, a full disk
# --------------------------------------------------------------------------

NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]


def as_nobody_possible() -> Optional[str]:
    """None if commands can run as user nobody here, else why not."""
    if os.geteuid() != 0:
        return "not root: cannot switch to another user"
    try:
        r = subprocess.run([*NOBODY, "true"], capture_output=True, timeout=20)
    except OSError as e:
        return f"setpriv: {e}"
    return None if r.returncode == 0 else f"setpriv refused: {r.stderr.decode(errors='replace')}"


class SmallTmpfs:
    """A 2 MiB tmpfs at `path` (root only); `reason` says why there is none."""

    def __init__(self, path: str, size: str = "2m"):
        self.path, self.mounted, self.reason = path, False, None
        os.makedirs(path, exist_ok=True)
        if os.geteuid() != 0:
            self.reason = "not root: cannot mount a tmpfs"
            return
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", path], capture_output=True,
                           text=True)
        self.mounted = r.returncode == 0
        if not self.mounted:
            self.reason = f"mount -t tmpfs not permitted: {r.stderr.strip()}"

    def unmount(self):
        if self.mounted:
            subprocess.run(["umount", self.path], check=True)
            self.mounted = False


@contextlib.contextmanager
def world_readable_folder():
    """A folder every user can read (and only root write), removed afterwards."""
    folder = tempfile.mkdtemp(prefix="lancer-bad-input-")
    os.chmod(folder, 0o755)
    try:
        yield folder
    finally:
        shutil.rmtree(folder)


def wait_for(path: str, timeout: float = 60.0) -> bool:
    import time

    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if os.path.exists(path):
            return True
        time.sleep(0.02)
    return False


# --------------------------------------------------------------------------
# a build paused after training, for changing the dataset underneath it
# --------------------------------------------------------------------------

PAUSE_MS = 3000


def start_paused(argv: List[str], uri: str) -> subprocess.Popen:
    """Starts `argv` (a build of vector_idx on `uri` with the default staging folder) with every encode
    task sleeping PAUSE_MS first (LANCER_FAULT_TASK_DELAY_MS, src/core/fault_injection.h), and returns once
    the model is trained: the dataset can then change while the build holds its plan. Call
    `within_pause(p)` after changing it."""
    import time

    env = dict(os.environ, LANCER_FAULT_TASK_DELAY_MS=str(PAUSE_MS))
    p = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    done = os.path.join(uri, "_lancer", "build-vector_idx", "model.done")
    if not wait_for(done):
        p.kill()
        raise AssertionError(f"the build never finished training: {p.communicate()}")
    p.pause_ends = time.monotonic() + PAUSE_MS / 1000  # an underestimate: the task sleeps after this
    return p


def within_pause(p: subprocess.Popen):
    """The change was made while the build was certainly paused (else the test proves nothing)."""
    import time

    late = time.monotonic() - p.pause_ends
    assert late < 0, f"the other writer finished {late:.1f} s after the pause ended: machine too loaded?"


def every_version_opens(uri: str):
    """Every version of `uri` opens in pylance and answers a scan and a vector query; returns the latest."""
    import lance

    ds = lance.dataset(uri)
    for v in ds.versions():
        old = lance.dataset(uri, version=v["version"])
        old.to_table(columns=["id"])
        old.to_table(nearest={"column": "vector", "q": np.zeros(DIM, np.float32), "k": 3})
    return ds


@dataclass
class AfterWriter:
    refused: Optional[str] = None  # the conflict lancer must report, or None: it commits
    indexed: int = 0               # rows the committed index holds
    query: Optional[np.ndarray] = None
    query_id: int = -1


def _overwrite(uri):
    import lance

    lance.write_dataset(pa.table({"id": np.arange(10), "vector": vector_column(gaussian(10, seed=9))}), uri,
                        mode="overwrite")
    return AfterWriter(refused="overwrote the dataset")


def _compact(uri):
    import lance

    lance.dataset(uri).optimize.compact_files(target_rows_per_fragment=3000)
    return AfterWriter(refused="rewrote (compacted) fragments")


def _append(uri):
    import lance

    extra = gaussian(50, seed=4)
    lance.write_dataset(pa.table({"id": np.arange(3000, 3050), "vector": vector_column(extra)}), uri, mode="append")
    return AfterWriter(indexed=3000, query=extra[7], query_id=3007)


def _delete(uri):
    import lance

    lance.dataset(uri).delete("id < 100")
    v = gaussian(3000)
    return AfterWriter(indexed=2900, query=v[500], query_id=500)


# What another writer does to a 3,000-row dataset (6 fragments) while lancer builds on it.
WRITERS = {"overwrite": _overwrite, "compact": _compact, "append": _append, "delete": _delete}
