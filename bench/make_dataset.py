"""Writes a benchmark dataset of random vectors with pylance, in batches so the
writer's memory stays small. Usage: make_dataset.py URI ROWS DIM [FILE_VERSION] [DTYPE]"""
import os
import shutil
import sys

import lance
import numpy as np
import pyarrow as pa

uri, rows, dim = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
version = sys.argv[4] if len(sys.argv) > 4 else None
dtype = np.dtype(sys.argv[5] if len(sys.argv) > 5 else "float32")
batch = max(1, (64 << 20) // (dim * dtype.itemsize))
schema = pa.schema([("id", pa.int64()), ("vector", pa.list_(pa.from_numpy_dtype(dtype), dim))])


def batches():
    rng = np.random.default_rng(7)
    for start in range(0, rows, batch):
        n = min(batch, rows - start)
        if dtype == np.uint8:
            v = rng.integers(0, 256, n * dim, dtype=np.uint8)
        else:
            v = rng.standard_normal(n * dim, dtype=np.float32).astype(dtype)
        yield pa.record_batch([pa.array(np.arange(start, start + n)), pa.FixedSizeListArray.from_arrays(v, dim)],
                              schema=schema)


shutil.rmtree(uri, ignore_errors=True)
lance.write_dataset(pa.RecordBatchReader.from_batches(schema, batches()), uri, data_storage_version=version,
                    max_rows_per_file=1 << 20)
size = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(uri) for f in fs)
print(f"wrote {uri}: {rows} x {dim} {dtype}, file version {version or 'default'}, {size / 1e9:.2f} GB")
