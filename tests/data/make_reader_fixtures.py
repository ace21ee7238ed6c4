"""Writes the small datasets that the C++ reader tests read (tests/data/reader/).
Each <name>.lance comes with <name>.expected.npy (the vectors lancer must return,
in row-address order) and <name>.rowids.npy. Made with the pinned pylance
(requirements.txt); rerun with: .venv/bin/python tests/data/make_reader_fixtures.py"""
import os
import shutil

import lance
import numpy as np
import pyarrow as pa

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "reader")
rng = np.random.default_rng(2026)


def fsl(values, dim, nulls):
    return pa.FixedSizeListArray.from_arrays(pa.array(values.ravel()), dim, mask=pa.array(nulls))


def make(name, rows, dim, dtype, version, struct=False, per_file=None, delete=None):
    if dtype == np.uint8:
        values = rng.integers(0, 256, (rows, dim), dtype=np.uint8)
    else:
        values = rng.standard_normal((rows, dim)).astype(dtype)
    nulls = (np.arange(rows) % 9) == 4
    vec = fsl(values, dim, nulls)
    ids = pa.array(np.arange(rows))
    if struct:
        label = pa.array([f"r{i}" for i in range(rows)])
        table = pa.table({"id": ids, "meta": pa.StructArray.from_arrays([label, vec], names=["label", "vector"])})
    else:
        table = pa.table({"label": pa.array([str(i) for i in range(rows)]), "vector": vec, "id": ids})
    uri = os.path.join(OUT, name + ".lance")
    shutil.rmtree(uri, ignore_errors=True)
    ds = lance.write_dataset(table, uri, data_storage_version=version, max_rows_per_file=per_file or rows)
    if delete:
        ds.delete(delete)
    ds = lance.dataset(uri)
    t = ds.to_table(columns=["id"], with_row_address=True)
    live_ids = t.column("id").to_numpy()
    addrs = t.column("_rowaddr").to_numpy()
    keep = ~nulls[live_ids]
    order = np.argsort(addrs[keep], kind="stable")
    np.save(os.path.join(OUT, name + ".expected.npy"), values[live_ids[keep]][order])
    np.save(os.path.join(OUT, name + ".rowids.npy"), addrs[keep][order].astype(np.uint64))


make("f32x16_v2_0", 300, 16, np.float32, "2.0", per_file=128, delete="id % 7 = 3")
make("f32x16_v2_1", 300, 16, np.float32, "2.1", per_file=128, delete="id % 7 = 3")
make("f32x16_v2_2", 300, 16, np.float32, "2.2", per_file=128, delete="id % 7 = 3")
make("f32x96_v2_2", 200, 96, np.float32, "2.2")  # full-zip with control words
make("f16x8_v2_1", 200, 8, np.float16, "2.1")
make("u8x300_v2_2", 100, 300, np.uint8, "2.2")  # full-zip
make("struct_f32x16_v2_2", 200, 16, np.float32, "2.2", struct=True, delete="id % 5 = 0")
make("struct_f32x16_v2_0", 200, 16, np.float32, "2.0", struct=True)

# Larger pages: pylance 14 encodes these definition levels with out-of-line
# bitpacking (2.1; packed and raw tails) and RLE (2.2).
make("f32x8_v2_1_levels", 3000, 8, np.float32, "2.1")
make("f32x32_v2_1_levels", 1200, 32, np.float32, "2.1")
make("f32x8_v2_2_levels", 3000, 8, np.float32, "2.2")
print("fixtures written to", OUT)
