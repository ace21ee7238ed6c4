"""Damaged and unsupported inputs: lancer must return exactly the right values
or exit non-zero with a message naming the file and the reason -- never
crash, hang or print wrong numbers. scripts/test.sh also runs this file
against the AddressSanitizer + UBSan build (LANCER_BIN=build-asan/lancer).

Bit flips are aimed at the structure (footer, offset tables, column metadata
with its page encodings, schema buffer, mini-block chunk metadata and chunk
headers), never at raw vector value bytes, validity bitmaps, definition
levels or full-zip control words: flipping those legitimately changes values.

LANCER_FLIP_STRIDE=k (default 1) keeps every k-th bit flip only, to shorten
slow (sanitizer) runs.
"""

from __future__ import annotations

import glob
import os
import random
import shutil
import struct
from concurrent.futures import ThreadPoolExecutor

import lance
import numpy as np
import pyarrow as pa
import pytest

import datasets as D
import lanceraw as R

pytestmark = pytest.mark.corruption

SPECS = [
    D.MatrixSpec("f32", 16, "2.0", True, True, True),
    D.MatrixSpec("f32", 16, "2.1", True, True, True),
    D.MatrixSpec("f16", 128, "2.2", True, False, True),   # full-zip with control words
    D.MatrixSpec("u8", 16, "2.2", True, True, False),     # mini-block
    D.MatrixSpec("f32", 128, "2.0", False, False, False),
    D.MatrixSpec("f32", 128, "2.1", False, False, False),  # full-zip, no control words
    D.MatrixSpec("f32", 8, "2.2", False, False, False),    # mini-block, no def levels
]
FLIP_STRIDE = max(1, int(os.environ.get("LANCER_FLIP_STRIDE", "1")))
WORKERS = 2


def copy_of(store, spec, dest) -> tuple:
    """(expected, private copy uri, data file of fragment 0 in the copy)."""
    exp = store.matrix(spec)
    uri = os.path.join(str(dest), "ds.lance")
    shutil.copytree(exp.uri, uri)
    m = R.parse_manifest(R.manifest_path(uri))
    data = os.path.join(uri, "data", m.fragments[0]["files"][0]["path"])
    return D.Expected(uri, exp.column, exp.dtype, exp.dim, exp.addrs, exp.vectors,
                      label=exp.label), uri, data


@pytest.fixture(params=SPECS, ids=[s.id for s in SPECS])
def damaged_copy(request, store, tmp_path):
    return copy_of(store, request.param, tmp_path)


def judge(lancer, exp, uri, tmp_path, files, must_fail=False, version=None, column=None):
    out, rid = str(tmp_path / "out.npy"), str(tmp_path / "rid.npy")
    r = lancer.export(uri, column or exp.column, out, rid, version=version, timeout=60)
    problem = lancer.judge_exact_or_error(r, exp, out, rid, files, must_fail=must_fail)
    assert problem is None, f"{exp.label}: {problem}\n{r.describe()}"
    return r


def all_files(uri):
    return [p for p in glob.glob(os.path.join(uri, "**"), recursive=True) if os.path.isfile(p)]


# --------------------------------------------------------------------------
# (a) truncation, extension, swapped files
# --------------------------------------------------------------------------

def truncation_points(data: str) -> list:
    size = os.path.getsize(data)
    lay = R.parse_data_file(data)
    pts = {0, 1, 8, 39, 40, size // 3, size // 2, size - 41, size - 40, size - 17, size - 1,
           lay.column_meta_start, lay.column_meta_start + 1, lay.cmo_range[0], lay.cmo_range[0] + 8,
           lay.gbo_range[0], lay.gbo_range[1] - 1}
    for col in lay.columns:
        pts.add((col.range[0] + col.range[1]) // 2)
        for page in col.pages:
            for off, sz in page.buffers:
                pts.update({off, off + sz // 2, off + sz - 1})
    return sorted(p for p in pts if 0 <= p < size)


def test_truncations(lancer, damaged_copy, tmp_path):
    exp, uri, data = damaged_copy
    original = open(data, "rb").read()
    problems = []
    try:
        for cut in truncation_points(data):
            with open(data, "wb") as fh:
                fh.write(original[:cut])
            try:
                r = judge(lancer, exp, uri, tmp_path, [data], must_fail=True)
            except AssertionError as e:
                problems.append(f"cut at {cut} of {len(original)}: {e}")
    finally:
        open(data, "wb").write(original)
    assert not problems, "\n".join(problems[:10])


@pytest.mark.parametrize("tail", [b"\0" * 64, b"LANC" * 10, b"\x01"])
def test_garbage_appended(lancer, store, tmp_path, tail):
    exp, uri, data = copy_of(store, SPECS[1], tmp_path)
    with open(data, "ab") as fh:
        fh.write(tail)
    judge(lancer, exp, uri, tmp_path, [data])


def test_data_file_swapped_for_another_fragments(lancer, store, tmp_path):
    """Fragment 0 (110 rows) gets fragment 2's file (80 rows): the page
    lengths no longer add up to physical_rows."""
    for spec in SPECS[:2]:
        exp, uri, _ = copy_of(store, spec, tmp_path / spec.id)
        m = R.parse_manifest(R.manifest_path(uri))
        f0 = os.path.join(uri, "data", m.fragments[0]["files"][0]["path"])
        f2 = os.path.join(uri, "data", m.fragments[2]["files"][0]["path"])
        shutil.copyfile(f2, f0)
        judge(lancer, exp, uri, tmp_path, [f0], must_fail=True)


def test_empty_data_file(lancer, damaged_copy, tmp_path):
    exp, uri, data = damaged_copy
    open(data, "wb").close()
    judge(lancer, exp, uri, tmp_path, [data], must_fail=True)


# --------------------------------------------------------------------------
# (b) bit flips in the structure of a data file
# --------------------------------------------------------------------------

def _mini_block_structure(raw: bytes, lay: R.DataFileLayout, page: R.PageInfo, large: bool):
    """(chunk-word byte positions, chunk header byte positions) of a 2.1+
    mini-block page; empty lists if the page is not mini-block shaped."""
    if len(page.buffers) < 2:
        return [], []
    (w_off, w_size), (c_off, c_size) = page.buffers[0], page.buffers[1]
    wsz = 4 if large else 2
    if w_size == 0 or w_size % wsz:
        return [], []
    words = [int.from_bytes(raw[w_off + i:w_off + i + wsz], "little") for i in range(0, w_size, wsz)]
    chunk_bytes = [((w >> 4) + 1) * 8 for w in words]
    if sum(chunk_bytes) != c_size:
        return [], []
    headers = []
    pos = c_off
    for cb in chunk_bytes[:4]:
        headers.extend(range(pos, pos + 8))
        pos += cb
    return list(range(w_off, w_off + w_size)), headers


def flip_plan(data: str, vector_col: int) -> list:
    """[(region, byte offset, bit)] to flip in this data file."""
    raw = open(data, "rb").read()
    lay = R.parse_data_file(data)
    plan = []

    def add(region, positions, bits):
        for p in positions:
            for b in bits:
                plan.append((region, p, b))

    add("footer", range(*lay.footer_range), (0, 3, 7))
    add("cmo-table", range(*lay.cmo_range), (0, 6))
    add("gbo-table", range(*lay.gbo_range), (0, 6))
    vcol = lay.columns[vector_col]
    enc = set()
    for page in vcol.pages:
        enc.update(range(*page.encoding_range))
    meta = range(*vcol.range)
    add("vector page encoding", [p for p in meta if p in enc], (0, 4, 7))
    add("vector column metadata", [p for p in meta if p not in enc], (0, 4, 7))
    for i, col in enumerate(lay.columns):
        if i != vector_col:
            add(f"column {i} metadata", range(col.range[0], col.range[1], 2), (0,))
    if lay.global_buffers:
        off, sz = lay.global_buffers[0]
        add("schema buffer", range(off, off + sz, 5), (1,))
    if (lay.major, lay.minor) >= (2, 1):
        large = None
        for page in vcol.pages:
            # has_large_chunk is mini_block_layout field 10; decide by trying both word sizes
            for lg in (True, False) if large is None else (large,):
                words, headers = _mini_block_structure(raw, lay, page, lg)
                if words:
                    large = lg
                    add("mini-block chunk words", words, (0, 7))
                    add("mini-block chunk headers", headers, (0, 6))
                    break
    return plan[::FLIP_STRIDE]


def vector_column_index(uri: str, data: str, field_name: str = "vector") -> int:
    m = R.parse_manifest(R.manifest_path(uri))
    fid = next(f["id"] for f in m.schema if f["name"] == field_name)
    for fr in m.fragments:
        for f in fr["files"]:
            if os.path.basename(data) == f["path"]:
                return f["column_indices"][f["fields"].index(fid)]
    raise KeyError(data)


def run_flips(lancer, exp, uri, data, plan, tmp_path):
    """Apply each flip in a private copy (WORKERS copies in parallel), judge,
    restore. Returns [(region, offset, bit, problem, run description)]."""
    rel = os.path.relpath(data, uri)
    copies = []
    for w in range(WORKERS):
        d = tmp_path / f"w{w}"
        d.mkdir()
        u = str(d / "ds.lance")
        shutil.copytree(uri, u)
        copies.append((u, os.path.join(u, rel), d))
    original = open(data, "rb").read()

    def work(w):
        u, f, d = copies[w]
        local = D.Expected(u, exp.column, exp.dtype, exp.dim, exp.addrs, exp.vectors, label=exp.label)
        bad = []
        for region, pos, bit in plan[w::WORKERS]:
            damaged = bytearray(original)
            damaged[pos] ^= 1 << bit
            with open(f, "wb") as fh:
                fh.write(damaged)
            out, rid = str(d / "out.npy"), str(d / "rid.npy")
            r = lancer.export(u, exp.column, out, rid, timeout=60)
            problem = lancer.judge_exact_or_error(r, local, out, rid, [f])
            if problem:
                bad.append((region, pos, bit, problem, r.describe(600)))
        with open(f, "wb") as fh:
            fh.write(original)
        return bad

    with ThreadPoolExecutor(WORKERS) as ex:
        results = list(ex.map(work, range(WORKERS)))
    return sorted((b for res in results for b in res), key=lambda b: b[1])


def summarize_flips(exp, data, plan, bad) -> str:
    by_region = {}
    for region, pos, bit, problem, desc in bad:
        by_region.setdefault(region, []).append((pos, bit, problem, desc))
    lines = [f"{exp.label}: {len(bad)} of {len(plan)} bit flips in {os.path.basename(data)} "
             f"({os.path.getsize(data)} bytes) were not handled (exact values or a clean error "
             f"naming the file):"]
    for region, items in by_region.items():
        n = sum(1 for r in plan if r[0] == region)
        lines.append(f"  [{region}] {len(items)} of {n} flips:")
        kinds = {}
        for pos, bit, problem, desc in items:
            kinds.setdefault(problem.split(":")[0], []).append((pos, bit, problem, desc))
        for kind, its in kinds.items():
            pos, bit, problem, desc = its[0]
            try:
                where = R.describe_offset(data, pos)
            except Exception:
                where = "?"
            lines.append(f"    {kind}: {len(its)} flips, e.g. byte {pos} bit {bit} [{where}]: {problem[:500]}")
            lines.append("      " + desc.replace("\n", "\n      "))
            lines.append("      flips (byte^mask): " + ", ".join(f"{p}^{1 << b}" for p, b, _, _ in its[:25])
                         + (" ..." if len(its) > 25 else ""))
    return "\n".join(lines)


@pytest.mark.slow
def test_bit_flips_in_structure(lancer, damaged_copy, tmp_path):
    exp, uri, data = damaged_copy
    plan = flip_plan(data, vector_column_index(uri, data))
    assert len(plan) > 50
    bad = run_flips(lancer, exp, uri, data, plan, tmp_path)
    assert not bad, summarize_flips(exp, data, plan, bad)


def test_random_bit_flips_in_metadata(lancer, damaged_copy, tmp_path):
    """Uniformly random flips over footer, offset tables and all column
    metadata (the original lighter test; cheap under sanitizers)."""
    exp, uri, data = damaged_copy
    layout = R.parse_data_file(data)
    regions = [layout.footer_range, layout.cmo_range, layout.gbo_range]
    for col in layout.columns:
        regions.append(col.range)
        for page in col.pages:
            regions.append(page.encoding_range)
    rng = random.Random(7)
    plan = []
    for trial in range(40):
        lo, hi = regions[trial % len(regions)]
        if hi > lo:
            plan.append(("random metadata", rng.randrange(lo, hi), rng.randrange(8)))
    bad = run_flips(lancer, exp, uri, data, plan, tmp_path)
    assert not bad, summarize_flips(exp, data, plan, bad)


# --------------------------------------------------------------------------
# (c) wrong magic; damaged manifests
# --------------------------------------------------------------------------

def test_wrong_magic(lancer, damaged_copy, tmp_path):
    exp, uri, data = damaged_copy
    raw = bytearray(open(data, "rb").read())
    raw[-4:] = b"LANX"
    open(data, "wb").write(raw)
    r = judge(lancer, exp, uri, tmp_path, [data], must_fail=True)
    assert "magic" in r.stderr


@pytest.mark.parametrize("major_minor", [(0, 1), (0, 2), (2, 3), (2, 4), (3, 0), (0, 0), (9, 9)])
def test_unknown_footer_version(lancer, store, tmp_path, major_minor):
    """(0,1)/(0,2) legacy, (2,3)+ unknown: refuse. Patched in place, so the
    pages are still 2.1 pages -- reading them as the claimed version would be
    wrong either way."""
    exp, uri, data = copy_of(store, SPECS[1], tmp_path)
    raw = bytearray(open(data, "rb").read())
    struct.pack_into("<HH", raw, len(raw) - 8, *major_minor)
    open(data, "wb").write(raw)
    judge(lancer, exp, uri, tmp_path, [data], must_fail=True)


def test_damaged_manifest(lancer, store, tmp_path):
    exp = store.matrix(SPECS[1])
    uri = str(tmp_path / "ds.lance")
    shutil.copytree(exp.uri, uri)
    path = R.manifest_path(uri)
    raw = open(path, "rb").read()
    for cut in (0, 10, len(raw) - 20, len(raw) - 1):
        open(path, "wb").write(raw[:cut])
        r = lancer.run(["inspect", uri])
        assert r.crash_reason() is None and r.rc not in (0, None), r.describe()
        assert os.path.basename(path) in r.stderr, r.stderr


def _manifest_variants(raw: bytes):
    mpos = struct.unpack_from("<q", raw, len(raw) - 16)[0]
    out = {}
    b = bytearray(raw)
    b[-4:] = b"LANX"
    out["trailer magic"] = bytes(b)
    b = bytearray(raw)
    struct.pack_into("<q", b, len(raw) - 16, len(raw) + 100)
    out["manifest_pos past the end"] = bytes(b)
    b = bytearray(raw)
    struct.pack_into("<q", b, len(raw) - 16, -5)
    out["negative manifest_pos"] = bytes(b)
    b = bytearray(raw)
    struct.pack_into("<I", b, mpos, struct.unpack_from("<I", raw, mpos)[0] + 1)
    out["length prefix too long"] = bytes(b)
    b = bytearray(raw)
    struct.pack_into("<I", b, mpos, 0xFFFFFFF0)
    out["huge length prefix"] = bytes(b)
    b = bytearray(raw)
    struct.pack_into("<I", b, mpos, struct.unpack_from("<I", raw, mpos)[0] - 3)
    out["length prefix too short"] = bytes(b)
    b = bytearray(raw)
    b[mpos + 4] = 0xFF  # first tag of the Manifest: field 31, wire type 7 (invalid)
    out["invalid wire type"] = bytes(b)
    out["garbage"] = b"\x00" * 15 + b"LANC"
    return out


MANIFEST_VARIANTS = ["trailer magic", "manifest_pos past the end", "negative manifest_pos",
                     "length prefix too long", "huge length prefix", "length prefix too short",
                     "invalid wire type", "garbage"]


@pytest.mark.parametrize("variant", MANIFEST_VARIANTS)
def test_damaged_manifest_framing(lancer, store, tmp_path, variant):
    exp, uri, _ = copy_of(store, SPECS[2], tmp_path)
    path = R.manifest_path(uri)
    damaged = _manifest_variants(open(path, "rb").read())[variant]
    open(path, "wb").write(damaged)
    judge(lancer, exp, uri, tmp_path, [path], must_fail=True)
    r = lancer.run(["inspect", uri, "--json"])
    assert r.crash_reason() is None and r.rc not in (0, None), r.describe()
    assert os.path.basename(path) in r.stderr, r.describe()


# --------------------------------------------------------------------------
# (d) feature flags
# --------------------------------------------------------------------------

@pytest.mark.parametrize("flag", [16, 64, 128, 256, 4096])
def test_unknown_reader_flags_are_refused_by_name(lancer, store, tmp_path, flag):
    exp = store.matrix(SPECS[0])
    uri = str(tmp_path / "ds.lance")
    shutil.copytree(exp.uri, uri)
    path = R.manifest_path(uri)
    R.set_manifest_varint(path, 9, R.parse_manifest(path).reader_flags | flag)
    r = lancer.run(["inspect", uri])
    assert r.crash_reason() is None and r.rc not in (0, None)
    assert str(flag) in r.stderr and "feature flags" in r.stderr, r.stderr


@pytest.mark.parametrize("flag", [64, 512, 1024, 2048, 4096, 1 << 20, 1 << 40, 1 << 63])
def test_unknown_reader_flags_refused_by_export(lancer, store, tmp_path, flag):
    exp, uri, _ = copy_of(store, SPECS[1], tmp_path)
    path = R.manifest_path(uri)
    R.set_manifest_varint(path, 9, R.parse_manifest(path).reader_flags | flag)
    assert R.parse_manifest(path).reader_flags & flag  # the edit round-trips
    r = judge(lancer, exp, uri, tmp_path, [path, uri], must_fail=True)
    assert "flag" in r.stderr.lower(), r.describe()


def test_unknown_flag_in_an_older_version_only(lancer, store, tmp_path):
    """The flag is on version 1's manifest: the latest reads fine, --version 1
    is refused."""
    exp, uri, _ = copy_of(store, SPECS[1], tmp_path)  # has deletions: 2 versions
    path1 = R.manifest_path(uri, 1)
    R.set_manifest_varint(path1, 9, R.parse_manifest(path1).reader_flags | 4096)
    lancer.check_export(exp, str(tmp_path))  # latest: exact (refuse only what you read)
    r = lancer.export(uri, "vector", str(tmp_path / "o.npy"), version=1)
    assert r.crash_reason() is None and r.rc != 0, r.describe()
    assert lancer.names_file(r.stderr, [path1, uri]), r.describe()


@pytest.mark.parametrize("flag", [64, 4096, 1 << 40])
def test_unknown_writer_flag_only(lancer, store, tmp_path, flag):
    """Writer flags do not concern a reader: exact values (or a clean refusal)."""
    exp, uri, _ = copy_of(store, SPECS[1], tmp_path)
    path = R.manifest_path(uri)
    R.set_manifest_varint(path, 10, R.parse_manifest(path).writer_flags | flag)
    judge(lancer, exp, uri, tmp_path, [path, uri])


def test_manifest_rewrite_without_change_is_harmless(lancer, store, tmp_path):
    """Control for the flag tests: re-framing the manifest with the same
    flags must still read exactly."""
    exp, uri, _ = copy_of(store, SPECS[1], tmp_path)
    path = R.manifest_path(uri)
    R.set_manifest_varint(path, 9, R.parse_manifest(path).reader_flags)
    lancer.check_export(exp, str(tmp_path))


# --------------------------------------------------------------------------
# (e) missing files; usage errors
# --------------------------------------------------------------------------

def test_missing_data_file(lancer, damaged_copy, tmp_path):
    exp, uri, data = damaged_copy
    os.unlink(data)
    judge(lancer, exp, uri, tmp_path, [data], must_fail=True)


def test_missing_deletion_file(lancer, store, tmp_path):
    exp = store.matrix(SPECS[0])
    uri = str(tmp_path / "ds.lance")
    shutil.copytree(exp.uri, uri)
    victims = glob.glob(os.path.join(uri, "_deletions", "*"))
    assert victims
    os.unlink(victims[0])
    judge(lancer, exp, uri, tmp_path, [victims[0]], must_fail=True)


@pytest.mark.parametrize("damage", ["truncate-half", "truncate-8", "empty", "bad-magic"])
def test_damaged_deletion_file(lancer, store, tmp_path, damage):
    """Both kinds: the small .arrow files of the matrix and a roaring .bin."""
    cases = [copy_of(store, SPECS[0], tmp_path / "arrow")]

    def build(root):
        uri = os.path.join(root, "ds.lance")
        values = D.make_values("f32", 12000, 8, D.rng_for("bin-corrupt"))
        ds = lance.write_dataset(pa.table({"id": np.arange(12000, dtype=np.int64),
                                           "vector": D.fsl_array(values, "f32")}), uri)
        ds.delete("id % 2 = 0")
        return D.expected_for(lance, uri, values, None, label="bin-deletions")

    e = store.get("corrupt-bin-deletions", build)
    u = str(tmp_path / "bin" / "ds.lance")
    shutil.copytree(e.uri, u)
    cases.append((D.Expected(u, e.column, e.dtype, e.dim, e.addrs, e.vectors, label=e.label), u, None))
    for exp, uri, _ in cases:
        victim = sorted(glob.glob(os.path.join(uri, "_deletions", "*")))[0]
        raw = open(victim, "rb").read()
        new = {"truncate-half": raw[:len(raw) // 2], "truncate-8": raw[:8], "empty": b"",
               "bad-magic": b"XXXXXX" + raw[6:] if victim.endswith(".arrow")
               else struct.pack("<I", 99999) + raw[4:]}[damage]
        open(victim, "wb").write(new)
        # a reader may check only the trailing Arrow magic: exact values are fine then
        judge(lancer, exp, uri, tmp_path, [victim], must_fail=damage != "bad-magic")


def test_missing_version(lancer, store, tmp_path):
    exp = store.matrix(SPECS[0])
    r = lancer.export(exp.uri, "vector", str(tmp_path / "o.npy"), version=99)
    assert r.crash_reason() is None and r.rc != 0 and r.stderr.strip(), r.describe()
    assert "99" in r.stderr, r.describe()


def test_missing_manifest_of_an_older_version(lancer, store, tmp_path):
    exp, uri, _ = copy_of(store, SPECS[0], tmp_path)
    os.unlink(R.manifest_path(uri, 1))
    lancer.check_export(exp, str(tmp_path))  # latest still fine
    r = lancer.export(uri, "vector", str(tmp_path / "o.npy"), version=1)
    assert r.crash_reason() is None and r.rc != 0 and r.stderr.strip(), r.describe()


@pytest.mark.parametrize("what", ["no-such-dir", "empty-dir", "no-versions", "a-file"])
def test_not_a_dataset(lancer, tmp_path, what):
    p = tmp_path / "x.lance"
    if what == "empty-dir":
        p.mkdir()
    elif what == "no-versions":
        (p / "data").mkdir(parents=True)
        (p / "_versions").mkdir()
    elif what == "a-file":
        p.write_bytes(b"hello")
    for args in (["export", str(p), "--column", "vector", "--output", str(tmp_path / "o.npy")],
                 ["inspect", str(p), "--json"]):
        r = lancer.run(args, timeout=30)
        assert r.crash_reason() is None and r.rc not in (0, None), r.describe()
        assert "x.lance" in r.stderr, r.describe()


def _usage_dataset(store):
    def build(root):
        uri = os.path.join(root, "ds.lance")
        n = 50
        values = D.make_values("f32", n, 8, D.rng_for("usage"))
        t = pa.table({
            "id": pa.array(np.arange(n, dtype=np.int64)),
            "s": pa.array([str(i) for i in range(n)]),
            "varlist": pa.array([[1.0] * (i % 4) for i in range(n)], type=pa.list_(pa.float32())),
            "f64vec": pa.FixedSizeListArray.from_arrays(pa.array(np.ones(n * 4)), 4),
            "meta": pa.StructArray.from_arrays([D.fsl_array(values, "f32"), pa.array(np.arange(n))],
                                               names=["vector", "k"]),
            "vector": D.fsl_array(values, "f32"),
        })
        lance.write_dataset(t, uri)
        return uri
    return store.get("usage", build)


@pytest.mark.parametrize("column", ["nope", "id", "s", "varlist", "meta", "meta.k", "meta.nope",
                                    "vector.x", ""])
def test_bad_column(lancer, store, tmp_path, column):
    """Non-existent or non-vector columns: a clean error."""
    uri = _usage_dataset(store)
    r = lancer.export(uri, column, str(tmp_path / "o.npy"))
    assert r.crash_reason() is None, r.describe()
    assert r.rc != 0 and r.stderr.strip(), r.describe()


@pytest.mark.parametrize("output", ["o.txt", "o", "missing-dir/o.npy"])
def test_bad_output(lancer, store, tmp_path, output):
    uri = _usage_dataset(store)
    r = lancer.export(uri, "vector", str(tmp_path / output))
    assert r.crash_reason() is None and r.rc != 0 and r.stderr.strip(), r.describe()


# --------------------------------------------------------------------------
# (f) compression and other layouts requested through field metadata
# --------------------------------------------------------------------------

def write_special(uri, version=None, metadata=None, dim=16, nulls=False, rows=500, dtype="f32"):
    rng = np.random.default_rng(1)
    values = D.make_values(dtype, rows, dim, rng)
    mask = D.make_null_mask(rows, rng) if nulls else np.zeros(rows, bool)
    field = pa.field("vector", pa.list_(D.ARROW_TYPES[dtype], dim), metadata=metadata)
    table = pa.table([pa.array(np.arange(rows, dtype=np.int64)), D.fsl_array(values, dtype, mask if nulls else None)],
                     schema=pa.schema([pa.field("id", pa.int64()), field]))
    kw = {"data_storage_version": version} if version else {}
    ds = lance.write_dataset(table, uri, max_rows_per_file=300, **kw)
    ds.delete("id % 9 = 4")
    return values, mask


SPECIAL_META = {
    "zstd": {"lance-encoding:compression": "zstd"},
    "zstd-level-9": {"lance-encoding:compression": "zstd", "lance-encoding:compression-level": "9"},
    "lz4": {"lance-encoding:compression": "lz4"},
    "bss": {"lance-encoding:bss": "on"},
    "miniblock": {"lance-encoding:structural-encoding": "miniblock"},
    "fullzip": {"lance-encoding:structural-encoding": "fullzip"},
}


@pytest.mark.parametrize("nulls", [False, True], ids=["nonull", "nulls"])
@pytest.mark.parametrize("dim", [16, 128])
@pytest.mark.parametrize("version", ["2.0", "2.1", "2.2"])
@pytest.mark.parametrize("meta", list(SPECIAL_META))
def test_layouts_requested_in_field_metadata(lancer, store, tmp_path, meta, version, dim, nulls):
    """Whatever page layout Lance picks: exact values, or a clean refusal."""
    def build(root):
        uri = os.path.join(root, "ds.lance")
        values, mask = write_special(uri, version, SPECIAL_META[meta], dim, nulls)
        return D.expected_for(lance, uri, values, mask, label=f"meta-{meta}-{version}-d{dim}")

    try:
        exp = store.get(f"special-{meta}-{version}-{dim}-{nulls}", build)
    except Exception as e:  # pylance refuses this combination: nothing to test
        pytest.skip(f"pylance cannot write it: {e}")
    judge(lancer, exp, exp.uri, tmp_path, all_files(exp.uri))


def test_compression_requested_in_field_metadata_strict_2_2(lancer, tmp_path):
    """The original check: zstd / lz4 on a 2.2 f32x16 column."""
    for scheme in ("zstd", "lz4"):
        uri = str(tmp_path / f"ds-{scheme}.lance")
        values, mask = write_special(uri, version="2.2", metadata={"lance-encoding:compression": scheme})
        exp = D.expected_for(lance, uri, values, mask, label=scheme)
        judge(lancer, exp, uri, tmp_path, all_files(uri))


@pytest.mark.parametrize("version", ["2.0", "2.1", "2.2"])
def test_null_items_inside_vectors(lancer, tmp_path, version):
    """Validity on the child values (null *items*, has_validity=true, §2.9):
    refuse cleanly, or export values equal to what was written at every
    non-null item (the stored bytes of a null item are unspecified)."""
    n, dim = 200, 8
    values = D.make_values("f32", n, dim, np.random.default_rng(5))
    item_null = np.zeros((n, dim), bool)
    item_null[::7, 3] = True
    child = pa.array(values.reshape(-1), type=pa.float32(), mask=item_null.reshape(-1))
    t = pa.table({"id": np.arange(n, dtype=np.int64),
                  "vector": pa.FixedSizeListArray.from_arrays(child, dim)})
    uri = str(tmp_path / "ds.lance")
    lance.write_dataset(t, uri, data_storage_version=version)
    exp = D.expected_for(lance, uri, values, None, label=f"null-items-{version}", check_readback=False)
    out, rid = str(tmp_path / "o.npy"), str(tmp_path / "r.npy")
    r = lancer.export(uri, "vector", out, rid)
    assert r.crash_reason() is None, r.describe()
    if r.rc != 0:
        assert lancer.names_file(r.stderr, all_files(uri)), r.describe()
        return
    got = np.load(out)
    assert got.shape == exp.vectors.shape and got.dtype == exp.vectors.dtype, r.describe()
    ok = ~item_null
    assert np.array_equal(got.view(np.uint32)[ok], exp.vectors.view(np.uint32)[ok]), \
        f"wrong values at non-null items\n{r.describe()}"
    assert np.array_equal(np.load(rid), exp.addrs)


# --------------------------------------------------------------------------
# (g) legacy 0.1 files, (h) 2.3
# --------------------------------------------------------------------------

@pytest.mark.parametrize("nulls", [False, True], ids=["nonull", "nulls"])
@pytest.mark.parametrize("dim", [16, 128])
@pytest.mark.parametrize("version", ["legacy", "0.1", "2.3", "next"])
def test_unsupported_file_versions(lancer, store, tmp_path, version, dim, nulls):
    def build(root):
        uri = os.path.join(root, "ds.lance")
        values, mask = write_special(uri, version=version, dim=dim, nulls=nulls)
        return D.expected_for(lance, uri, values, mask, label=f"{version}-d{dim}")

    try:
        exp = store.get(f"unsupported-{version}-{dim}-{nulls}", build)
    except Exception as e:  # this pylance cannot write it: nothing to test
        pytest.skip(f"pylance cannot write {version}: {e}")
    judge(lancer, exp, exp.uri, tmp_path, all_files(exp.uri))
    ri = lancer.run(["inspect", exp.uri, "--json"])
    assert ri.crash_reason() is None, ri.describe()
