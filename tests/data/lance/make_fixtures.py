#!/usr/bin/env python3
"""Regenerates the Lance fixtures in this folder with pylance (see README.md).

usage: make_fixtures.py <scratch_dir>     (run with the pylance venv's python)
Manifests are read with lance_inspect.py from $LANCE_INSPECT_DIR (default /work/shared/tools).

Every expected answer comes from pylance itself (live `_rowaddr` / `_rowid` of a
scan), never from our own reading of the format. Expected files hold runs:
  deletion/*.expected   "physical_rows N", then "start end" = deleted offsets [start, end)
  row_ids/*.expected    "physical_rows N", then "offset count first_id" = live rows
                        offset..offset+count-1 have ids first_id..first_id+count-1
  roaring/*.expected    "start end" = values [start, end)
"""
import glob
import os
import shutil
import sys

import lance
import pyarrow as pa

sys.path.insert(0, os.environ.get("LANCE_INSPECT_DIR", "/work/shared/tools"))
import lance_inspect as li  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
SCRATCH = sys.argv[1]


def runs(values):
    out, start, prev = [], None, None
    for v in values:
        if start is None:
            start = prev = v
        elif v == prev + 1:
            prev = v
        else:
            out.append((start, prev + 1))
            start = prev = v
    if start is not None:
        out.append((start, prev + 1))
    return out


def write(sub, name, data):
    os.makedirs(os.path.join(HERE, sub), exist_ok=True)
    mode = "wb" if isinstance(data, bytes) else "w"
    with open(os.path.join(HERE, sub, name), mode) as f:
        f.write(data)


def fresh(name, table, **kw):
    path = os.path.join(SCRATCH, name)
    shutil.rmtree(path, ignore_errors=True)
    return path, lance.write_dataset(table, path, **kw)


def ids_table(lo, hi):
    return pa.table({"id": pa.array(range(lo, hi), pa.int64())})


def manifest(path):
    man, _ = li.read_manifest(li.latest_manifest_path(path)[1])
    return man


def live_rows(path):
    """{fragment_id: [(offset, rowid)]} of the live rows, from pylance."""
    t = lance.dataset(path).to_table(columns=["id"], with_row_id=True, with_row_address=True)
    out = {}
    for addr, rid in zip(t["_rowaddr"].to_pylist(), t["_rowid"].to_pylist()):
        out.setdefault(addr >> 32, []).append((addr & 0xFFFFFFFF, rid))
    return {k: sorted(v) for k, v in out.items()}


def save_deletion(path, name):
    man = manifest(path)
    live = live_rows(path)
    (frag,) = [f for f in man["fragments"] if "deletion_file" in f]
    fid, rows = frag.get("id", 0), frag["physical_rows"]
    (src,) = glob.glob(os.path.join(path, "_deletions", "%d-*" % fid))
    ext = os.path.splitext(src)[1]
    with open(src, "rb") as f:
        write("deletion", name + ext, f.read())
    alive = {off for off, _ in live.get(fid, [])}
    deleted = [o for o in range(rows) if o not in alive]
    assert len(deleted) == frag["deletion_file"]["num_deleted_rows"]
    write("deletion", name + ".expected",
          "physical_rows %d\n" % rows + "".join("%d %d\n" % r for r in runs(deleted)))
    print("deletion/%s%s: %d bytes, %d deleted of %d" % (name, ext, os.path.getsize(src), len(deleted), rows))


def save_row_ids(path, prefix):
    man = manifest(path)
    live = live_rows(path)
    for frag in man["fragments"]:
        fid = frag.get("id", 0)
        assert "inline_row_ids" in frag, "external row ids are not exported"
        name = "%s_frag%d" % (prefix, fid)
        write("row_ids", name + ".pb", frag["inline_row_ids"])
        lines, cur = [], None
        for off, rid in live.get(fid, []):
            if cur and off == cur[0] + cur[1] and rid == cur[2] + cur[1]:
                cur[1] += 1
            else:
                if cur:
                    lines.append(cur)
                cur = [off, 1, rid]
        if cur:
            lines.append(cur)
        write("row_ids", name + ".expected",
              "physical_rows %d\n" % frag["physical_rows"] + "".join("%d %d %d\n" % tuple(c) for c in lines))
        print("row_ids/%s.pb: %s" % (name, frag["inline_row_ids"].hex()[:80]))


def main():
    os.makedirs(SCRATCH, exist_ok=True)
    print("pylance", lance.__version__, "pyarrow", pa.__version__)

    # Deletion files.
    path, ds = fresh("del_mod7", ids_table(0, 1000))
    ds.delete("id % 7 = 3")  # 143 rows: .arrow, ZSTD values, raw validity
    save_deletion(path, "mod7_zstd")
    path, ds = fresh("del_prefix", ids_table(0, 3000))
    ds.delete("id < 1000")  # 1000 rows: .arrow, both buffers ZSTD
    save_deletion(path, "prefix1000_zstd")
    path, ds = fresh("del_one", ids_table(0, 50))
    ds.delete("id = 17")  # one row: compressing does not pay, stored raw (-1)
    save_deletion(path, "one_raw")
    path, ds = fresh("del_bitmap", ids_table(0, 6000))
    ds.delete("id < 5500")  # > 5000 rows: .bin
    save_deletion(path, "prefix5500")

    # Arrow IPC files from another writer: uncompressed and LZ4 (refused).
    schema = pa.schema([pa.field("row_id", pa.uint32(), nullable=False)])
    batch = pa.record_batch([pa.array([9, 2, 4], pa.uint32())], schema=schema)
    for name, codec in (("pyarrow_plain", None), ("pyarrow_lz4", "lz4")):
        sink = pa.BufferOutputStream()
        with pa.ipc.new_file(sink, schema, options=pa.ipc.IpcWriteOptions(compression=codec)) as w:
            w.write_batch(batch)
        write("deletion", name + ".arrow", sink.getvalue().to_pybytes())
    write("deletion", "pyarrow_plain.expected", "physical_rows 10\n2 3\n4 5\n9 10\n")

    # A run-optimized (cookie 12347) index fragment bitmap, Lance >= 12.
    path, ds = fresh("bitmap_index", ids_table(0, 600), max_rows_per_file=100)
    ds.create_scalar_index("id", "BTREE")
    (idx,) = manifest(path)["_indices"]["indices"]
    frags = sorted(f.get("id", 0) for f in manifest(path)["fragments"])
    write("roaring", "index_fragments_run.bin", idx["fragment_bitmap"])
    write("roaring", "index_fragments_run.expected", "".join("%d %d\n" % r for r in runs(frags)))
    print("roaring/index_fragments_run.bin:", idx["fragment_bitmap"].hex())

    # Stable row ids: deletes, an append, an update, then compaction.
    path, ds = fresh("rowids_mix", ids_table(0, 300), enable_stable_row_ids=True, max_rows_per_file=100)
    ds.delete("id % 10 = 3")
    ds.delete("id >= 150 and id < 160")
    ds = lance.write_dataset(ids_table(300, 400), path, mode="append")
    ds.update({"id": "id + 1000"}, where="id % 50 = 7")
    save_row_ids(path, "mix_v5")  # ranges with deletions, the updated rows as their own fragment
    ds.optimize.compact_files(target_rows_per_fragment=1000)
    save_row_ids(path, "mix_compacted")  # range_with_bitmap, range_with_holes, sorted_array

    # Ids more than 65535 apart: u32-encoded arrays.
    path, ds = fresh("rowids_wide", ids_table(0, 70000), enable_stable_row_ids=True)
    ds.update({"id": "id + 1000000"}, where="id = 5 or id = 69000 or id = 69990")
    ds.optimize.compact_files(target_rows_per_fragment=1000000, materialize_deletions_threshold=0.0)
    save_row_ids(path, "wide_compacted")


if __name__ == "__main__":
    main()
