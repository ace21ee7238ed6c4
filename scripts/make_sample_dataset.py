"""Writes a small sample Lance dataset: 3 fragments of 128-d float32 vectors,
with a few null vectors and deleted rows. Overwrites the target."""
import shutil
import sys

import lance
import numpy as np
import pyarrow as pa

uri = sys.argv[1] if len(sys.argv) > 1 else "sample.lance"
rows, dim = 30_000, 128
rng = np.random.default_rng(42)
# Clustered like real embeddings: 300 centres plus noise.
centres = rng.standard_normal((300, dim), dtype=np.float32)
values = centres[rng.integers(0, 300, rows)] + 0.35 * rng.standard_normal((rows, dim), dtype=np.float32)
nulls = np.zeros(rows, dtype=bool)
nulls[::997] = True
vectors = pa.FixedSizeListArray.from_arrays(pa.array(values.ravel()), dim, mask=pa.array(nulls))
table = pa.table({"id": pa.array(np.arange(rows)), "vector": vectors})
shutil.rmtree(uri, ignore_errors=True)
ds = lance.write_dataset(table, uri, max_rows_per_file=10_000)
ds.delete("id % 100 = 7")
print(f"wrote {uri}: {rows} rows, {int(nulls.sum())} null vectors, {rows // 100} deleted rows")
