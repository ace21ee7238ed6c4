"""Tiny, dependency-free readers/editors for Lance's on-disk structures.

Used by the oracle tests to
  * parse manifests independently of pylance (feature flags, schema, naming),
  * rewrite a manifest with patched fields (keeping the §3.2 framing),
  * locate the footer / offset tables / column metadata / page encodings /
    page buffers of a Lance v2 data file, so corruption tests can target them.

Only the protobuf *wire* format is needed; no generated classes.
"""

from __future__ import annotations

import os
import re
import struct
from dataclasses import dataclass, field
from typing import List, Optional, Tuple

# --------------------------------------------------------------------------
# protobuf wire format
# --------------------------------------------------------------------------

VARINT, I64, LEN, I32 = 0, 1, 2, 5


class WireError(ValueError):
    pass


def read_varint(buf: bytes, pos: int) -> Tuple[int, int]:
    result = 0
    shift = 0
    while True:
        if pos >= len(buf):
            raise WireError("truncated varint")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7
        if shift > 70:
            raise WireError("varint too long")


def encode_varint(value: int) -> bytes:
    if value < 0:
        value &= (1 << 64) - 1  # sign-extend to 64 bits (10-byte varint)
    out = bytearray()
    while True:
        b = value & 0x7F
        value >>= 7
        if value:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


@dataclass
class WireField:
    number: int
    wire_type: int
    value: object  # int for VARINT/I64/I32, bytes for LEN
    start: int  # offset of the tag (relative to the parsed buffer)
    value_start: int  # offset of the payload (for LEN: after the length)
    end: int  # offset just past the field


def parse_message(buf: bytes, base: int = 0) -> List[WireField]:
    """Parse one message into its top-level fields, in wire order."""
    out = []
    pos = 0
    n = len(buf)
    while pos < n:
        start = pos
        key, pos = read_varint(buf, pos)
        number, wt = key >> 3, key & 7
        if number == 0:
            raise WireError("field number 0")
        if wt == VARINT:
            vs = pos
            value, pos = read_varint(buf, pos)
        elif wt == I64:
            vs = pos
            if pos + 8 > n:
                raise WireError("truncated fixed64")
            value = struct.unpack_from("<Q", buf, pos)[0]
            pos += 8
        elif wt == I32:
            vs = pos
            if pos + 4 > n:
                raise WireError("truncated fixed32")
            value = struct.unpack_from("<I", buf, pos)[0]
            pos += 4
        elif wt == LEN:
            ln, pos = read_varint(buf, pos)
            vs = pos
            if pos + ln > n:
                raise WireError("truncated length-delimited field")
            value = bytes(buf[pos:pos + ln])
            pos += ln
        else:
            raise WireError(f"unsupported wire type {wt}")
        out.append(WireField(number, wt, value, base + start, base + vs, base + pos))
    return out


def serialize_fields(fields: List[WireField]) -> bytes:
    out = bytearray()
    for f in fields:
        out += encode_varint((f.number << 3) | f.wire_type)
        if f.wire_type == VARINT:
            out += encode_varint(f.value)
        elif f.wire_type == I64:
            out += struct.pack("<Q", f.value)
        elif f.wire_type == I32:
            out += struct.pack("<I", f.value)
        elif f.wire_type == LEN:
            out += encode_varint(len(f.value))
            out += f.value
    return bytes(out)


def first(fields: List[WireField], number: int) -> Optional[WireField]:
    for f in fields:
        if f.number == number:
            return f
    return None


def all_of(fields: List[WireField], number: int) -> List[WireField]:
    return [f for f in fields if f.number == number]


def packed_varints(fields: List[WireField], number: int) -> List[int]:
    """Repeated scalar: accept both packed and unpacked encodings."""
    vals: List[int] = []
    for f in fields:
        if f.number != number:
            continue
        if f.wire_type == LEN:
            p = 0
            while p < len(f.value):
                v, p = read_varint(f.value, p)
                vals.append(v)
        else:
            vals.append(f.value)
    return vals


def as_int32(v: int) -> int:
    v &= (1 << 64) - 1
    if v >= 1 << 63:
        v -= 1 << 64
    return v


# --------------------------------------------------------------------------
# manifests (§3.1-3.3)
# --------------------------------------------------------------------------

V2_NAME = re.compile(r"^(\d{20})\.manifest$")
V1_NAME = re.compile(r"^(\d+)\.manifest$")
U64_MAX = (1 << 64) - 1


def manifest_versions(uri: str) -> dict:
    """Map version -> manifest path, plus the naming scheme ("v1"/"v2")."""
    vdir = os.path.join(uri, "_versions")
    out = {}
    schemes = set()
    for name in os.listdir(vdir):
        m = V2_NAME.match(name)
        if m:
            out[U64_MAX - int(m.group(1))] = os.path.join(vdir, name)
            schemes.add("v2")
            continue
        m = V1_NAME.match(name)
        if m:
            out[int(m.group(1))] = os.path.join(vdir, name)
            schemes.add("v1")
    return {"paths": out, "schemes": schemes}


def manifest_path(uri: str, version: Optional[int] = None) -> str:
    paths = manifest_versions(uri)["paths"]
    if version is None:
        version = max(paths)
    return paths[version]


@dataclass
class ManifestFile:
    raw: bytes
    manifest_pos: int
    manifest: bytes
    trailer: bytes

    @property
    def fields(self) -> List[WireField]:
        return parse_message(self.manifest)


def read_manifest_file(path: str) -> ManifestFile:
    with open(path, "rb") as fh:
        raw = fh.read()
    if len(raw) < 20 or raw[-4:] != b"LANC":
        raise WireError(f"{path}: not a manifest")
    trailer = raw[-16:]
    pos = struct.unpack_from("<q", trailer, 0)[0]
    ln = struct.unpack_from("<I", raw, pos)[0]
    if ln != len(raw) - 16 - pos - 4:
        raise WireError(f"{path}: manifest length prefix mismatch")
    return ManifestFile(raw, pos, raw[pos + 4:pos + 4 + ln], trailer)


def write_manifest_file(path: str, mf: ManifestFile, new_manifest: bytes) -> None:
    """Re-frame: keep everything before the Manifest (index section and
    transaction, whose offsets are therefore unchanged), replace the Manifest
    message and its u32 prefix, keep the 16-byte trailer (manifest_pos is
    unchanged)."""
    prefix = mf.raw[:mf.manifest_pos]
    data = prefix + struct.pack("<I", len(new_manifest)) + new_manifest + mf.trailer
    tmp = path + ".tmp-edit"
    with open(tmp, "wb") as fh:
        fh.write(data)
    os.replace(tmp, path)


def set_manifest_varint(path: str, number: int, value: int) -> None:
    """Set (or add) a top-level varint field of the Manifest in place."""
    mf = read_manifest_file(path)
    fields = mf.fields
    f = first(fields, number)
    if f is None:
        fields.append(WireField(number, VARINT, value, 0, 0, 0))
    else:
        if f.wire_type != VARINT:
            raise WireError(f"field {number} is not a varint")
        f.value = value
    write_manifest_file(path, mf, serialize_fields(fields))


@dataclass
class ManifestInfo:
    version: int
    reader_flags: int
    writer_flags: int
    data_format: Tuple[str, str]
    schema: List[dict]
    fragments: List[dict]
    index_section: Optional[int]
    raw_fields: List[WireField] = field(repr=False, default_factory=list)


def parse_field(buf: bytes) -> dict:
    fs = parse_message(buf)
    g = lambda n, d=None: (first(fs, n).value if first(fs, n) is not None else d)  # noqa: E731
    return {
        "id": as_int32(g(3, 0)),
        "parent_id": as_int32(g(4, 0)),
        "name": g(2, b"").decode(),
        "logical_type": g(5, b"").decode(),
        "nullable": bool(g(6, 0)),
    }


def parse_manifest(path: str) -> ManifestInfo:
    mf = read_manifest_file(path)
    fs = mf.fields
    g = lambda n, d=None: (first(fs, n).value if first(fs, n) is not None else d)  # noqa: E731
    df = g(15)
    data_format = ("", "")
    if df is not None:
        dff = parse_message(df)
        ff, vv = first(dff, 1), first(dff, 2)
        data_format = (ff.value.decode() if ff else "", vv.value.decode() if vv else "")
    frags = []
    for fr in all_of(fs, 2):
        ffs = parse_message(fr.value)
        gi = lambda n, d=None: (first(ffs, n).value if first(ffs, n) is not None else d)  # noqa: E731
        files = []
        for df_ in all_of(ffs, 2):
            dfs = parse_message(df_.value)
            files.append({
                "path": first(dfs, 1).value.decode(),
                "fields": [as_int32(v) for v in packed_varints(dfs, 2)],
                "column_indices": [as_int32(v) for v in packed_varints(dfs, 3)],
                "file_major_version": first(dfs, 4).value if first(dfs, 4) else 0,
                "file_minor_version": first(dfs, 5).value if first(dfs, 5) else 0,
            })
        deleted = 0
        dfl = gi(3)
        if dfl is not None:
            dd = parse_message(dfl)
            deleted = first(dd, 4).value if first(dd, 4) else 0
        frags.append({"id": gi(1, 0), "physical_rows": gi(4, 0),
                      "deleted_rows": deleted, "files": files})
    return ManifestInfo(
        version=g(3, 0),
        reader_flags=g(9, 0),
        writer_flags=g(10, 0),
        data_format=data_format,
        schema=[parse_field(f.value) for f in all_of(fs, 1)],
        fragments=frags,
        index_section=g(6),
        raw_fields=fs,
    )


# --------------------------------------------------------------------------
# Lance v2 data files (§2.1, §2.6)
# --------------------------------------------------------------------------

FOOTER = 40


@dataclass
class PageInfo:
    length: int
    buffers: List[Tuple[int, int]]  # absolute (offset, size)
    encoding_range: Tuple[int, int]  # absolute byte range of Page.encoding
    page_range: Tuple[int, int]  # absolute byte range of the Page message


@dataclass
class ColumnInfo:
    range: Tuple[int, int]  # absolute byte range of the ColumnMetadata
    pages: List[PageInfo]
    encoding_range: Optional[Tuple[int, int]]


@dataclass
class DataFileLayout:
    size: int
    major: int
    minor: int
    column_meta_start: int
    cmo_range: Tuple[int, int]
    gbo_range: Tuple[int, int]
    global_buffers: List[Tuple[int, int]]
    columns: List[ColumnInfo]

    @property
    def footer_range(self) -> Tuple[int, int]:
        return (self.size - FOOTER, self.size)


def parse_data_file(path: str) -> DataFileLayout:
    with open(path, "rb") as fh:
        raw = fh.read()
    size = len(raw)
    if size < FOOTER or raw[-4:] != b"LANC":
        raise WireError(f"{path}: not a Lance v2 file")
    cms, cmo, gbo, ng, nc, major, minor = struct.unpack_from("<QQQIIHH", raw, size - FOOTER)
    gbs = [struct.unpack_from("<QQ", raw, gbo + 16 * i) for i in range(ng)]
    cols = []
    for i in range(nc):
        pos, sz = struct.unpack_from("<QQ", raw, cmo + 16 * i)
        cm = parse_message(raw[pos:pos + sz], base=pos)
        pages = []
        for pf in all_of(cm, 2):
            pfs = parse_message(pf.value, base=pf.value_start)
            offs = packed_varints(pfs, 1)
            sizes = packed_varints(pfs, 2)
            ln = first(pfs, 3).value if first(pfs, 3) else 0
            enc = first(pfs, 4)
            pages.append(PageInfo(ln, list(zip(offs, sizes)),
                                  (enc.value_start, enc.end) if enc else (0, 0),
                                  (pf.start, pf.end)))
        enc = first(cm, 1)
        cols.append(ColumnInfo((pos, pos + sz), pages,
                               (enc.value_start, enc.end) if enc else None))
    return DataFileLayout(size, major, minor, cms, (cmo, cmo + 16 * nc),
                          (gbo, gbo + 16 * ng), [tuple(g) for g in gbs], cols)


PAGE_FIELDS = {1: "buffer_offsets", 2: "buffer_sizes", 3: "length", 4: "encoding", 5: "priority"}
COLUMN_FIELDS = {1: "encoding", 2: "pages", 3: "buffer_offsets", 4: "buffer_sizes"}
FOOTER_FIELDS = [(0, 8, "column_meta_start"), (8, 16, "cmo position"), (16, 24, "gbo position"),
                 (24, 28, "num global buffers"), (28, 32, "num columns"), (32, 34, "major version"),
                 (34, 36, "minor version"), (36, 40, "magic")]


def describe_offset(path: str, pos: int) -> str:
    """Which structure of a Lance v2 data file the byte at `pos` belongs to."""
    lay = parse_data_file(path)
    if pos >= lay.size - FOOTER:
        rel = pos - (lay.size - FOOTER)
        return "footer." + next(n for a, b, n in FOOTER_FIELDS if a <= rel < b)
    if lay.cmo_range[0] <= pos < lay.cmo_range[1]:
        i, r = divmod(pos - lay.cmo_range[0], 16)
        return f"cmo[{i}].{'position' if r < 8 else 'size'}"
    if lay.gbo_range[0] <= pos < lay.gbo_range[1]:
        i, r = divmod(pos - lay.gbo_range[0], 16)
        return f"gbo[{i}].{'position' if r < 8 else 'size'}"
    raw = open(path, "rb").read()
    for ci, col in enumerate(lay.columns):
        lo, hi = col.range
        if not lo <= pos < hi:
            continue
        for f in parse_message(raw[lo:hi], base=lo):
            if not f.start <= pos < f.end:
                continue
            name = COLUMN_FIELDS.get(f.number, f"field{f.number}")
            if f.number == 2 and pos >= f.value_start:
                pi = sum(1 for g in parse_message(raw[lo:hi], base=lo) if g.number == 2 and g.start < f.start)
                for pf in parse_message(f.value, base=f.value_start):
                    if pf.start <= pos < pf.end:
                        part = "tag/len" if pos < pf.value_start else "value"
                        return f"column[{ci}].pages[{pi}].{PAGE_FIELDS.get(pf.number, pf.number)} ({part})"
            return f"column[{ci}].{name} ({'tag/len' if pos < f.value_start else 'value'})"
        return f"column[{ci}] metadata"
    for gi, (off, sz) in enumerate(lay.global_buffers):
        if off <= pos < off + sz:
            return f"global buffer {gi}"
    for ci, col in enumerate(lay.columns):
        for pi, page in enumerate(col.pages):
            for bi, (off, sz) in enumerate(page.buffers):
                if off <= pos < off + sz:
                    return f"column[{ci}].pages[{pi}] buffer {bi} (+{pos - off})"
    return "padding/unknown"
