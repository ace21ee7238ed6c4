"""Shows that Lance itself uses the index lancer committed: the plan names its
uuid, and the top 10 of a query are printed beside exact search."""
import sys

import lance
import numpy as np

ds = lance.dataset(sys.argv[1] if len(sys.argv) > 1 else "sample.lance")
index = ds.describe_indices()[0]
uuid = index.segments[0].uuid
print(f"Lance {lance.__version__} sees index {index.name}: {index.index_type}, "
      f"{index.num_rows_indexed} rows, uuid {uuid}")
# A query near a stored vector, as real queries are.
q = ds.take([123], columns=["vector"]).column("vector").to_numpy(zero_copy_only=False)[0]
q = (q + 0.1 * np.random.default_rng(0).standard_normal(q.shape)).astype(np.float32)
nearest = {"column": "vector", "q": q, "k": 10, "nprobes": 20, "refine_factor": 5}
plan = ds.scanner(nearest=nearest, with_row_id=True).explain_plan()
print("query plan uses lancer's index:", f"uuid={uuid}" in plan)
ann = ds.to_table(nearest=nearest, with_row_id=True)
exact = ds.to_table(nearest={**nearest, "use_index": False}, with_row_id=True)
print("top-10 row ids (index):", ann["_rowid"].to_pylist())
print("top-10 row ids (exact):", exact["_rowid"].to_pylist())
print(f"recall@10: {len(set(ann['_rowid'].to_pylist()) & set(exact['_rowid'].to_pylist())) / 10:.1f}")
