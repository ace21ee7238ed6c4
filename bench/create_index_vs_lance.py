"""End-to-end IVF build time: lancer create-index vs Lance's own create_index on
the same data, same parameters, in the same run. Prints one line per builder.
Usage: create_index_vs_lance.py ROWS DIM INDEX_TYPE [NUM_PARTITIONS] [NUM_SUB_VECTORS]"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import lance
import numpy as np
import pyarrow as pa

rows, dim, index_type = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
nlist = int(sys.argv[4]) if len(sys.argv) > 4 else int(round(rows ** 0.5))
m = int(sys.argv[5]) if len(sys.argv) > 5 else (dim // 16 if dim % 16 == 0 else dim // 8)
lancer = os.environ.get("LANCER_BIN", os.path.join(os.path.dirname(__file__), "..", "build", "lancer"))
work = tempfile.mkdtemp(prefix="lancer_bench_")
rng = np.random.default_rng(0)
centres = rng.standard_normal((1000, dim)).astype(np.float32)
values = centres[rng.integers(0, 1000, rows)] + 0.3 * rng.standard_normal((rows, dim)).astype(np.float32)
table = pa.table({"vector": pa.FixedSizeListArray.from_arrays(pa.array(values.ravel()), dim)})
base = os.path.join(work, "base.lance")
lance.write_dataset(table, base, max_rows_per_file=1 << 20)
extra = {"num_sub_vectors": m} if index_type == "IVF_PQ" else {}

a = os.path.join(work, "lancer.lance")
shutil.copytree(base, a)
t = time.perf_counter()
args = [lancer, "create-index", a, "--column", "vector", "--index-type", index_type, "--num-partitions", str(nlist),
        "--report", os.path.join(work, "r.json")] + (["--num-sub-vectors", str(m)] if extra else [])
subprocess.run(args, check=True, capture_output=True)
lancer_s = time.perf_counter() - t
report = json.load(open(os.path.join(work, "r.json")))

b = os.path.join(work, "lance.lance")
shutil.copytree(base, b)
t = time.perf_counter()
lance.dataset(b).create_index("vector", index_type, num_partitions=nlist, **extra)
lance_s = time.perf_counter() - t
print(f"{rows} x {dim} {index_type} nlist={nlist}" + (f" m={m}" if extra else ""))
print(f"  lancer  {lancer_s:8.2f} s   phases {json.dumps(report['phases_s'])}  peak {report['peak_rss_mb']:.0f} MB")
print(f"  lance   {lance_s:8.2f} s   (pylance {lance.__version__})   speed-up {lance_s / lancer_s:.1f}x")
shutil.rmtree(work)
