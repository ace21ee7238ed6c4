#!/usr/bin/env python3
"""Concurrent-writer trials (issue 18): pylance changes a dataset while `lancer create-index` builds on it.

Each trial copies a small template dataset, starts `lancer create-index` (one process, or every
--mpi-every'th trial `mpirun -np 2 ... --threads 1`), and at a moment drawn uniformly over the build's
measured duration (seeded: --seed) a pylance writer does ONE operation: append, delete, update (the
vector of some rows), compact (compact_files), optimize (optimize_indices with a prior index on another
column or on the same one, by trial parity), scalar (create_scalar_index), overwrite. Then it checks:

  * lancer exited 0 (committed; rebased by Lance's rules if the writer committed between the version
    lancer read and its commit) or 6 (refused: the writer's operation is one Lance's rules make
    incompatible with a CreateIndex: an overwrite, a rewrite of indexed fragments, an index of the same
    name; docs/build-staging.md), with a message naming the version and what it did. A refusal
    leaves every dataset file as it was apart from the writer's, no staging folder, no file of
    lancer's; `lancer cleanup` and a rerun then commit;
  * a committed build: the latest version shows both changes (lancer's index and the writer's change);
  * every new version is lancer's commit or the writer's own operation (read from the manifests'
    transactions), and a writer that fails lost a commit race by Lance's rules (a conflict);
  * lancer rebased only over what Lance's rules allow and refused only what they forbid: the rules
    are written again here (`incompatible`), independently of lancer's src/lance/commit.cc;
  * every version opens in pylance (a scan, its index list, a nearest query);
  * on the latest version with the index: nearest queries (k=10, nprobes = all partitions,
    refine_factor for IVF_PQ / IVF_SQ so the distances are exact) go through the index and return
    only ids that exist in that version, each with the vector that version stores for it (never a
    deleted or pre-update one) and `_distance` equal to the squared L2 distance recomputed from that
    vector (1e-4 relative); IVF_FLAT with every partition probed is exact, so its k-th distance also
    equals brute force's.

Prints one line per trial and `op: trials N, failures F`; exits 1 if any trial failed. Run it with the
shared virtualenv (pylance 14.0.2):

  /work/main/.venv/bin/python bench/concurrent_writer_trials.py --lancer build/lancer --trials 20
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from typing import Dict, List, Optional

os.environ.setdefault("LANCE_LOG", "error")  # pylance's deprecation warnings would drown the trial lines

import numpy as np  # noqa: E402
import pyarrow as pa  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "tests", "oracle"))
import lanceraw  # noqa: E402

import lance  # noqa: E402

OPS = ("append", "delete", "update", "compact", "optimize", "scalar", "overwrite")
INDEX_TYPES = ("IVF_PQ", "IVF_FLAT", "IVF_SQ")
NAME = "vector_idx"
CONFLICT_EXIT = 6
PARTITIONS = 16
MPI_ENV = dict(OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
               OMPI_MCA_btl_vader_single_copy_mechanism="none", OMPI_MCA_rmaps_base_oversubscribe="1")


def vector_column(values: np.ndarray) -> pa.Array:
    return pa.FixedSizeListArray.from_arrays(pa.array(values.ravel(), pa.float32()), values.shape[1])


def table(ids: np.ndarray, values: np.ndarray) -> pa.Table:
    return pa.table({"id": pa.array(ids, pa.int64()), "val": pa.array(np.zeros(len(ids)), pa.int64()),
                     "vector": vector_column(values)})


def as_matrix(column, dim: int) -> np.ndarray:
    """A fixed-size-list column (chunked or not) as a [rows, dim] float32 array."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    return np.asarray(column.values, np.float32).reshape(-1, dim)


def tree_digest(root: str) -> Dict[str, bytes]:
    import hashlib

    out = {}
    for dirpath, _, files in os.walk(root):
        for f in files:
            p = os.path.join(dirpath, f)
            with open(p, "rb") as fh:
                out[os.path.relpath(p, root)] = hashlib.sha256(fh.read()).digest()
    return out


# --------------------------------------------------------------------------------------------------
# templates
# --------------------------------------------------------------------------------------------------

@dataclass
class Template:
    path: str
    prior_same_name: bool = False  # an index named NAME on the vector column exists already


def make_templates(root: str, rows: int, dim: int, rows_per_file: int, seed: int,
                   with_prior: bool) -> Dict[str, Template]:
    rng = np.random.default_rng(seed)
    base = os.path.join(root, "base.lance")
    lance.write_dataset(table(np.arange(rows), rng.standard_normal((rows, dim)).astype(np.float32)), base,
                        max_rows_per_file=rows_per_file)
    if not with_prior:
        return {"base": Template(base)}
    extra = rng.standard_normal((rows_per_file // 3, dim)).astype(np.float32)
    extra_ids = np.arange(rows, rows + len(extra))
    # optimize_indices has work to do: a prior index and rows appended after it.
    other = os.path.join(root, "prior_other.lance")
    shutil.copytree(base, other)
    lance.dataset(other).create_scalar_index("id", "BTREE")
    lance.write_dataset(table(extra_ids, extra), other, mode="append")
    same = os.path.join(root, "prior_same.lance")
    shutil.copytree(base, same)
    lance.dataset(same).create_index("vector", index_type="IVF_FLAT", num_partitions=4, name=NAME)
    lance.write_dataset(table(extra_ids, extra), same, mode="append")
    return {"base": Template(base), "prior_other": Template(other), "prior_same": Template(same, True)}


# --------------------------------------------------------------------------------------------------
# the writer's operations
# --------------------------------------------------------------------------------------------------

@dataclass
class WriterChange:
    """What the writer did, to find in the latest version, and what Lance's rules say lancer may do."""
    op: str
    may_refuse: tuple = ()          # phrases of lancer's conflict message allowed for this op
    must_refuse: bool = False       # if the writer committed between lancer's read and its commit
    added: Dict[int, np.ndarray] = field(default_factory=dict)    # id -> vector now in the dataset
    removed: List[int] = field(default_factory=list)              # ids gone
    old_vectors: List[np.ndarray] = field(default_factory=list)   # vectors that must not come back
    extra_queries: List[np.ndarray] = field(default_factory=list)
    rows_after: Optional[int] = None  # overwrite: the dataset's rows after it
    index_name: Optional[str] = None  # scalar / optimize: an index the writer's version lists
    version: Optional[int] = None     # the version the writer committed (None: it committed nothing)
    error: Optional[str] = None
    started: float = 0.0
    finished: float = 0.0


def op_append(uri, rng, dim, rows):
    v = rng.standard_normal((500, dim)).astype(np.float32)
    ids = np.arange(10_000_000, 10_000_500)
    opened, ds = None, lance.write_dataset(table(ids, v), uri, mode="append")
    return opened, ds, WriterChange("append", added=dict(zip(ids.tolist(), v)), extra_queries=[v[0], v[250]])


def op_delete(uri, rng, dim, rows):
    # a range of rows/30 to rows/4 ids: sometimes whole fragments go, sometimes parts of them
    span = int(rng.integers(rows // 30, rows // 4))
    lo = int(rng.integers(0, rows - span))
    hi = lo + span
    ds = lance.dataset(uri)
    opened = ds.version
    old = ds.to_table(columns=["vector"], filter=f"id >= {lo} AND id < {hi}")["vector"]
    old = as_matrix(old, dim)
    ds.delete(f"id >= {lo} AND id < {hi}")
    return opened, ds, WriterChange("delete", removed=list(range(lo, hi)), old_vectors=[old[0], old[len(old) // 2]],
                            extra_queries=[old[0], old[len(old) // 2]])


def op_update(uri, rng, dim, rows):
    lo = int(rng.integers(0, rows - 20))
    u = rng.standard_normal(dim).astype(np.float32)
    ds = lance.dataset(uri)
    opened = ds.version
    old = ds.to_table(columns=["vector"], filter=f"id >= {lo} AND id < {lo + 20}")["vector"]
    old = as_matrix(old, dim)
    literal = "arrow_cast([" + ",".join(repr(float(x)) for x in u) + f"], 'FixedSizeList({dim}, Float32)')"
    ds.update({"vector": literal}, where=f"id >= {lo} AND id < {lo + 20}")
    return opened, ds, WriterChange("update", added={i: u for i in range(lo, lo + 20)}, old_vectors=[old[0], old[7]],
                            extra_queries=[u, old[0], old[7]])


def op_compact(uri, rng, dim, rows):
    ds = lance.dataset(uri)
    opened = ds.version
    ds.optimize.compact_files(target_rows_per_fragment=int(rng.integers(2, 5)) * ds.get_fragments()[0].count_rows())
    return opened, ds, WriterChange("compact", may_refuse=("rewrote (compacted) fragments",), must_refuse=True)


def op_optimize(uri, rng, dim, rows, same_name=False):
    ds = lance.dataset(uri)
    opened = ds.version
    ds.optimize.optimize_indices()
    # An index of lancer's name built meanwhile: Lance's rules refuse (a retryable conflict).
    if same_name:
        return opened, ds, WriterChange("optimize", may_refuse=("created an index of the same name",
                                                        "dropped or replaced the index"),
                                must_refuse=True, index_name=NAME)
    return opened, ds, WriterChange("optimize", index_name="id_idx")


def op_scalar(uri, rng, dim, rows):
    ds = lance.dataset(uri)
    opened = ds.version
    ds.create_scalar_index("val", "BTREE")
    return opened, ds, WriterChange("scalar", index_name="val_idx")


def op_overwrite(uri, rng, dim, rows):
    v = rng.standard_normal((3000, dim)).astype(np.float32)
    ids = np.arange(20_000_000, 20_003_000)
    opened, ds = None, lance.write_dataset(table(ids, v), uri, mode="overwrite", max_rows_per_file=1000)
    return opened, ds, WriterChange("overwrite", may_refuse=("overwrote the dataset",), must_refuse=True,
                            added=dict(zip(ids.tolist(), v)), rows_after=3000)


WRITERS = {"append": op_append, "delete": op_delete, "update": op_update, "compact": op_compact,
           "optimize": op_optimize, "scalar": op_scalar, "overwrite": op_overwrite}


# --------------------------------------------------------------------------------------------------
# lancer
# --------------------------------------------------------------------------------------------------

def lancer_argv(args, uri, index_type, mpi, report):
    argv = [args.lancer, "create-index", uri, "--column", "vector", "--index-type", index_type, "--name", NAME,
            "--num-partitions", str(PARTITIONS), "--report", report]
    if mpi:
        argv = ["mpirun", "-np", "2", "--oversubscribe", *argv, "--threads", "1"]
    return argv


def lancer_env(mpi):
    return dict(os.environ, **MPI_ENV) if mpi else dict(os.environ)


def run_lancer(args, argv, mpi, timeout=600):
    return subprocess.run(argv, capture_output=True, text=True, env=lancer_env(mpi), timeout=timeout)


# --------------------------------------------------------------------------------------------------
# checks
# --------------------------------------------------------------------------------------------------

def versions(uri) -> List[int]:
    return sorted(v["version"] for v in lance.dataset(uri).versions())


def index_uuids(ds, name=NAME) -> List[str]:
    return [i["uuid"] for i in ds.list_indices() if i["name"] == name]


def every_version_opens(uri, problems, dim):
    for v in versions(uri):
        try:
            ds = lance.dataset(uri, version=v)
            n = ds.count_rows()
            got = ds.to_table(columns=["id"]).num_rows
            if got != n:
                problems.append(f"version {v}: count_rows {n} but a scan reads {got}")
            ds.list_indices()
            ds.to_table(nearest={"column": "vector", "q": np.zeros(dim, np.float32), "k": 3}, columns=["id"])
        except Exception as e:  # noqa: BLE001 - any failure to open is the finding
            problems.append(f"version {v} does not open in pylance: {type(e).__name__}: {e}")


def referenced_files(uri):
    """Every transaction file and index folder some version's manifest names."""
    txns, index_dirs = set(), set()
    for v, path in lanceraw.manifest_versions(uri)["paths"].items():
        f = lanceraw.first(lanceraw.read_manifest_file(path).fields, 12)
        if f is not None:
            txns.add(f.value.decode())
        for i in lance.dataset(uri, version=v).list_indices():
            index_dirs.add(i["uuid"])
    return txns, index_dirs


def check_queries(uri, version, index_type, change: WriterChange, rng, problems, dim):
    """Nearest queries on `version` (which lists index NAME): ids that exist, their current vectors,
    exact distances."""
    ds = lance.dataset(uri, version=version)
    data = ds.to_table(columns=["id", "vector"])
    ids = data["id"].to_numpy()
    vecs = as_matrix(data["vector"], dim)
    current = {int(i): k for k, i in enumerate(ids)}
    stored_bytes = {v.tobytes() for v in vecs}
    if len(current) != len(ids):
        problems.append(f"version {version}: duplicate ids in a scan")
    queries = [vecs[int(rng.integers(0, len(vecs)))] for _ in range(3)]
    queries += [rng.standard_normal(dim).astype(np.float32) for _ in range(2)]
    queries += change.extra_queries
    refine = {"refine_factor": 5} if index_type in ("IVF_PQ", "IVF_SQ") else {}
    for qi, q in enumerate(queries):
        nearest = {"column": "vector", "q": q, "k": 10, "nprobes": PARTITIONS, **refine}
        plan = ds.scanner(nearest=nearest, columns=["id", "vector", "_distance"]).explain_plan()
        if f"ANNSubIndex: name={NAME}" not in plan:
            problems.append(f"version {version}: the query does not use index {NAME}:\n{plan}")
            return
        got = ds.to_table(nearest=nearest, columns=["id", "vector", "_distance"])
        gids = got["id"].to_numpy()
        gvec = as_matrix(got["vector"], dim)
        gdist = got["_distance"].to_numpy()
        where = f"version {version}, query {qi}"
        if len(gids) != min(10, len(ids)):
            problems.append(f"{where}: {len(gids)} results")
        if len(set(gids.tolist())) != len(gids):
            problems.append(f"{where}: an id returned twice: {gids.tolist()}")
        for i, v, d in zip(gids.tolist(), gvec, gdist):
            if i not in current:
                problems.append(f"{where}: id {i} is not in the version")
                continue
            stored = vecs[current[i]]
            if not np.array_equal(v, stored):
                problems.append(f"{where}: id {i} returned with a vector that is not the one stored (stale row)")
            exact = float(np.sum((q.astype(np.float64) - stored) ** 2))
            if abs(float(d) - exact) > 1e-4 * max(exact, 1e-3):
                problems.append(f"{where}: id {i} _distance {float(d)!r} but the stored vector gives {exact!r}")
        # A stored vector as the query finds a row at distance 0 (IVF_PQ's codes may not rank it in the
        # candidates refine re-scores; IVF_FLAT and IVF_SQ's do).
        if index_type != "IVF_PQ" and q.tobytes() in stored_bytes and (not len(gdist) or gdist[0] > 1e-6):
            problems.append(f"{where}: a stored vector as the query, but the nearest is at {gdist[:1]}")
        if index_type == "IVF_FLAT" and len(gdist):
            brute = np.sort(np.sum((vecs.astype(np.float64) - q) ** 2, axis=1))[: len(gdist)]
            if abs(float(gdist[-1]) - brute[-1]) > 1e-4 * max(brute[-1], 1e-3):
                problems.append(f"{where}: IVF_FLAT probing every partition is exact, but its k-th distance "
                                f"{float(gdist[-1])!r} is not brute force's {brute[-1]!r}")
    for old in change.old_vectors:
        got = ds.to_table(nearest={"column": "vector", "q": old, "k": 10, "nprobes": PARTITIONS, **refine},
                          columns=["id", "vector", "_distance"])
        for i, v in zip(got["id"].to_pylist(), as_matrix(got["vector"], dim)):
            if np.array_equal(v, old) and (i not in current or not np.array_equal(vecs[current[i]], old)):
                problems.append(f"version {version}: a deleted or pre-update vector came back (id {i})")


def check_change_visible(ds, change: WriterChange, dim, problems):
    """The writer's change is in `ds` (the latest version)."""
    where = f"latest version {ds.version}"
    if change.rows_after is not None and ds.count_rows() != change.rows_after:
        problems.append(f"{where}: {ds.count_rows()} rows, the overwrite left {change.rows_after}")
    if change.added:
        want = list(change.added)
        got = ds.to_table(columns=["id", "vector"], filter=f"id IN ({','.join(map(str, want))})")
        have = dict(zip(got["id"].to_pylist(), as_matrix(got["vector"], dim)))
        missing = [i for i in want if i not in have or not np.array_equal(have[i], change.added[i])]
        if missing:
            problems.append(f"{where}: the {change.op} of ids {missing[:5]}... is not visible")
    if change.removed:
        got = ds.to_table(columns=["id"], filter=f"id >= {min(change.removed)} AND id <= {max(change.removed)}")
        if got.num_rows:
            problems.append(f"{where}: {got.num_rows} deleted rows are back")
    if change.index_name and change.index_name != NAME:
        if change.index_name not in [i["name"] for i in ds.list_indices()]:
            problems.append(f"{where}: the writer's index {change.index_name} is not listed")


@dataclass
class Trial:
    op: str
    number: int
    index_type: str
    mpi: bool
    moment: float
    outcome: str = ""
    detail: str = ""
    problems: List[str] = field(default_factory=list)


def run_trial(args, templates, op, number, index_type, mpi, moment, rng, work) -> Trial:
    t = Trial(op, number, index_type, mpi, moment)
    same_name = op == "optimize" and number % 2 == 1
    tpl = templates["prior_same" if same_name else ("prior_other" if op == "optimize" else "base")]
    uri = os.path.join(work, f"{op}-{number}.lance")
    shutil.copytree(tpl.path, uri)
    report = os.path.join(work, f"{op}-{number}.report.json")
    before = tree_digest(uri)
    before_versions = versions(uri)

    p = subprocess.Popen(lancer_argv(args, uri, index_type, mpi, report), stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, env=lancer_env(mpi))
    out = {}
    reader = threading.Thread(target=lambda: out.update(zip(("stdout", "stderr"), p.communicate())))
    reader.start()
    start = time.monotonic()
    time.sleep(max(0.0, start + moment - time.monotonic()))
    writer = WRITERS[op]
    change = WriterChange(op)
    change.started = time.monotonic() - start
    try:
        opened, ds, change = (writer(uri, rng, args.dim, args.rows, same_name) if op == "optimize"
                              else writer(uri, rng, args.dim, args.rows))
    except Exception as e:  # noqa: BLE001 - reported below
        change.error = f"{type(e).__name__}: {e}"
    change.finished = time.monotonic() - start
    reader.join(timeout=600)
    if reader.is_alive():
        p.kill()
        reader.join()
        t.problems.append("lancer did not finish within 600 s")
    rc, err = p.returncode, out.get("stderr", "")

    # A writer that fails must have lost a commit race by Lance's rules (a conflict with lancer's commit).
    if change.error and "conflict" not in change.error.lower():
        t.problems.append(f"the {op} failed: {change.error}")

    # Who committed what: lancer's version from its report, every other new version is the writer's
    # (compact_files commits twice: ReserveFragments, then Rewrite) and must be the op's own.
    lancer_read = lancer_version = lancer_uuid = None
    if rc == 0:
        rep = json.load(open(report))
        lancer_read, lancer_version, lancer_uuid = rep["read_version"], rep["version"], rep["uuid"]
    ops_of = {v: operation(uri, v) for v in versions(uri) if v > before_versions[-1] and v != lancer_version}
    for v, (name, _) in ops_of.items():
        if name not in WRITER_OPERATIONS[op]:
            t.problems.append(f"version {v} is a {name}, neither lancer's commit nor the {op}")
    t.detail = "writer " + (", ".join(f"{n}@{v}" for v, (n, _) in sorted(ops_of.items())) or "no commit")
    if change.error:
        t.detail += f" (failed: {change.error[:120]})"
    if rc == 0:
        t.detail = f"lancer read {lancer_read}, committed {lancer_version}; " + t.detail
    main_op = {v for v, (name, _) in ops_of.items() if name == WRITER_OPERATIONS[op][0]}
    change.version = max(main_op) if main_op else None

    if rc == 0:
        between = [v for v in ops_of if lancer_read < v < lancer_version]
        if between:
            t.outcome = "rebased"
        elif ops_of:
            t.outcome = ("committed (writer first)" if max(ops_of) <= lancer_read
                         else "committed (writer after: its commit lost to lancer's by Lance's rules)" if change.error
                         else "committed (writer after, rebased by pylance)" if min(ops_of) > lancer_version
                         else "committed (writer before and after)")
        else:
            t.outcome = "committed (writer: no commit)"
        for v in between:
            why = incompatible(uri, v)
            if why:
                t.problems.append(f"lancer committed over version {v} ({why}), which Lance's rules make a conflict")
        # both changes in the latest version
        latest = lance.dataset(uri)
        later = [v for v in ops_of if v > lancer_version]
        if not any(incompatible(uri, v) for v in later) and lancer_uuid not in index_uuids(latest):
            t.problems.append(f"latest version {latest.version} does not list lancer's index {lancer_uuid}")
        if change.version is not None:
            check_change_visible(latest, change, args.dim, t.problems)
        if os.path.exists(os.path.join(uri, "_lancer")):
            t.problems.append(f"a committed build left its staging folder: {os.listdir(os.path.join(uri, '_lancer'))}")
    elif rc == CONFLICT_EXIT:
        t.outcome = "refused"
        named = re.search(r"version (\d+) committed meanwhile", err)
        if not named or int(named.group(1)) not in ops_of:
            t.problems.append(f"the refusal does not name a version the {op} committed {sorted(ops_of)}:\n{err}")
        elif not incompatible(uri, int(named.group(1))):
            t.problems.append(f"lancer refused to commit over version {named.group(1)}, a "
                              f"{ops_of[int(named.group(1))][0]} that Lance's rules rebase over:\n{err}")
        elif not any(phrase in err for phrase in change.may_refuse):
            t.problems.append(f"the refusal does not say what the {op} did:\n{err}")
        check_refusal_clean(uri, before, change, t.problems)
    else:
        t.outcome = f"failed rc={rc}"
        t.problems.append(f"lancer exited {rc}:\n{err[-2000:]}")

    every_version_opens(uri, t.problems, args.dim)
    if rc == CONFLICT_EXIT:
        # cleanup and a rerun (one process) then commit
        c = run_lancer(args, [args.lancer, "cleanup", uri], False)
        if c.returncode != 0:
            t.problems.append(f"lancer cleanup after the refusal exited {c.returncode}: {c.stderr}")
        r = run_lancer(args, lancer_argv(args, uri, index_type, False, report), False)
        if r.returncode != 0:
            t.problems.append(f"the rerun after the refusal exited {r.returncode}: {r.stderr[-2000:]}")
        else:
            lancer_version = json.load(open(report))["version"]
            every_version_opens(uri, t.problems, args.dim)
    if lancer_version is not None:
        # the latest version that lists the index
        for v in reversed(versions(uri)):
            if NAME in index_names(uri, v):
                check_queries(uri, v, index_type, change, rng, t.problems, args.dim)
                break
        else:
            t.problems.append("no version lists the index")
    if not args.keep and not t.problems:
        shutil.rmtree(uri)
    return t


def index_names(uri, version) -> List[str]:
    return [i["name"] for i in lance.dataset(uri, version=version).list_indices()]


# The operation of each version's transaction, read from the manifest (pylance 14's read_transaction
# cannot build some Rewrite transactions), by the field numbers of Lance's transaction.proto.
OPERATIONS = {100: "Append", 101: "Delete", 102: "Overwrite", 103: "CreateIndex", 104: "Rewrite", 105: "Merge",
              106: "Restore", 107: "ReserveFragments", 108: "Update", 109: "Project", 110: "UpdateConfig",
              111: "DataReplacement", 112: "UpdateMemWalState", 113: "Clone", 114: "UpdateBases", 115: "DataOverlay"}
# The operations each writer commits, its main one first.
WRITER_OPERATIONS = {"append": ("Append",), "delete": ("Delete",), "update": ("Update",),
                     "compact": ("Rewrite", "ReserveFragments"), "optimize": ("CreateIndex",),
                     "scalar": ("CreateIndex",), "overwrite": ("Overwrite",)}


def transaction_fields(uri, version):
    mf = lanceraw.read_manifest_file(lanceraw.manifest_path(uri, version))
    for number in (23, 21):  # transaction_section (Lance 14, then older)
        f = lanceraw.first(mf.fields, number)
        if f is not None:
            (length,) = struct.unpack_from("<I", mf.raw, f.value)
            return lanceraw.parse_message(mf.raw[f.value + 4:f.value + 4 + length])
    name = lanceraw.first(mf.fields, 12).value.decode()
    with open(os.path.join(uri, "_transactions", name), "rb") as fh:
        return lanceraw.parse_message(fh.read())


def operation(uri, version):
    """(name, the operation's message fields) of the transaction that made `version`."""
    for f in transaction_fields(uri, version):
        if f.number in OPERATIONS:
            return OPERATIONS[f.number], (lanceraw.parse_message(f.value) if f.value else [])
    return "unknown", []


def fragment_ids(uri, version):
    return {f.fragment_id for f in lance.dataset(uri, version=version).get_fragments()}


def incompatible(uri, version) -> Optional[str]:
    """Lance's rules for a CreateIndex of NAME over all fragments of the version before `version`
    (check_create_index_txn in Lance's rust/lance/src/io/commit/conflict_resolver.rs; lance-format.md
    4.4), for the operations pylance's writers here commit, written again independently of lancer's
    src/lance/commit.cc: why the transaction of `version` is a conflict, or None."""
    name, fields = operation(uri, version)
    if name in ("Overwrite", "Restore", "UpdateMemWalState", "unknown"):
        return name
    if name == "CreateIndex":
        for f in fields:  # new_indices = 1 (Lance compares only the indices created); IndexMetadata.name = 3
            if f.number != 1:
                continue
            meta = lanceraw.parse_message(f.value)
            if lanceraw.first(meta, 3) is not None and lanceraw.first(meta, 3).value.decode() == NAME:
                return f"CreateIndex of another {NAME}"
        return None
    if name == "Rewrite":
        before = fragment_ids(uri, version - 1)
        old = set()
        for f in fields:  # old_fragments = 1, groups = 3 (RewriteGroup.old_fragments = 1); DataFragment.id = 1
            if f.number not in (1, 3):
                continue
            frags = [f] if f.number == 1 else [g for g in lanceraw.parse_message(f.value) if g.number == 1]
            for frag in frags:
                fid = lanceraw.first(lanceraw.parse_message(frag.value), 1)
                old.add(fid.value if fid is not None else 0)
        return f"Rewrite of fragments {sorted(old & before)}" if old & before else None
    return None


def check_refusal_clean(uri, before: Dict[str, bytes], change: WriterChange, problems):
    """After a refusal: every file there before is unchanged (lancer's staging folder aside), and every
    new file is the writer's (a transaction or index some version names, data the writer wrote)."""
    after = tree_digest(uri)
    for k, h in before.items():
        if k.startswith("_lancer/") or k == "_versions/latest_version_hint.json":
            continue
        if after.get(k) != h:
            problems.append(f"refused, yet {k} was {'changed' if k in after else 'removed'}")
    if os.path.exists(os.path.join(uri, "_lancer")):
        problems.append(f"refused, yet the staging folder is left: {os.listdir(os.path.join(uri, '_lancer'))}")
    txns, index_dirs = referenced_files(uri)
    for k in sorted(set(after) - set(before)):
        top = k.split("/")[0]
        if top == "_transactions" and k.split("/")[1] not in txns:
            problems.append(f"refused, yet a transaction no version names is left: {k}")
        elif top == "_indices" and k.split("/")[1] not in index_dirs:
            problems.append(f"refused, yet an index folder no version names is left: {k}")
        elif top == "_versions" and not (k.endswith(".manifest") or k.endswith("latest_version_hint.json")):
            problems.append(f"refused, yet {k} is left")


def measure(args, templates, index_type, mpi, work) -> float:
    """The build's duration on a copy of the template, no writer."""
    uri = os.path.join(work, f"measure-{index_type}-{'mpi' if mpi else 'one'}.lance")
    shutil.copytree(templates["base"].path, uri)
    t0 = time.monotonic()
    r = run_lancer(args, lancer_argv(args, uri, index_type, mpi, uri + ".json"), mpi)
    took = time.monotonic() - t0
    if r.returncode != 0:
        sys.exit(f"the baseline build failed ({r.returncode}): {r.stderr}")
    shutil.rmtree(uri)
    return took


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lancer", default=os.environ.get("LANCER_BIN", os.path.join(REPO, "build", "lancer")))
    ap.add_argument("--trials", type=int, default=20, help="trials per operation")
    ap.add_argument("--ops", default=",".join(OPS), help=f"comma-separated, of {','.join(OPS)}")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--rows", type=int, default=30000)
    ap.add_argument("--dim", type=int, default=64)
    ap.add_argument("--rows-per-file", type=int, default=3000)
    ap.add_argument("--mpi-every", type=int, default=4, help="every N-th trial under mpirun -np 2 (0: never)")
    ap.add_argument("--index-types", default=",".join(INDEX_TYPES), help="cycled over the trials")
    ap.add_argument("--work", help="folder for the datasets (default: a temporary one)")
    ap.add_argument("--keep", action="store_true", help="keep every trial's dataset (failed ones are always kept)")
    args = ap.parse_args()
    args.lancer = os.path.abspath(args.lancer)
    ops = [o for o in args.ops.split(",") if o]
    unknown = set(ops) - set(OPS)
    if unknown:
        ap.error(f"unknown operations {sorted(unknown)}")
    types = args.index_types.split(",")
    mpi_used = args.mpi_every > 0 and args.trials >= args.mpi_every
    if mpi_used and shutil.which("mpirun") is None:
        ap.error("mpirun not found (--mpi-every 0 runs one-process builds only)")

    work = args.work or tempfile.mkdtemp(prefix="writer-trials-")
    os.makedirs(work, exist_ok=True)
    rng = np.random.default_rng(args.seed)
    wall0 = time.monotonic()
    templates = make_templates(work, args.rows, args.dim, args.rows_per_file, args.seed, "optimize" in ops)
    durations = {}
    for it in types:
        for mpi in ([False, True] if mpi_used else [False]):
            durations[(it, mpi)] = measure(args, templates, it, mpi, work)
            print(f"baseline {it} {'mpirun -np 2' if mpi else 'one process'}: {durations[(it, mpi)]:.2f} s",
                  flush=True)

    failures: Dict[str, int] = {}
    count: Dict[str, int] = {}
    for op in ops:
        for n in range(args.trials):
            it = types[n % len(types)]
            mpi = mpi_used and n % args.mpi_every == args.mpi_every - 1
            moment = float(rng.uniform(0.0, durations[(it, mpi)]))
            t = run_trial(args, templates, op, n, it, mpi, moment, rng, work)
            count[op] = count.get(op, 0) + 1
            failures[op] = failures.get(op, 0) + (1 if t.problems else 0)
            variant = (" (prior index same name)" if n % 2 else " (prior index other column)") if op == "optimize" else ""
            print(f"{op}{variant} #{n} {it} {'mpi2' if mpi else 'one'} moment {moment:.2f} s: {t.outcome} ({t.detail})"
                  + ("" if not t.problems else "  FAILED\n    " + "\n    ".join(t.problems)), flush=True)
    print()
    for op in ops:
        print(f"{op}: trials {count[op]}, failures {failures[op]}")
    print(f"wall {time.monotonic() - wall0:.0f} s; datasets under {work}")
    if not args.work and not args.keep and not any(failures.values()):
        shutil.rmtree(work)
    sys.exit(1 if any(failures.values()) else 0)


if __name__ == "__main__":
    main()
