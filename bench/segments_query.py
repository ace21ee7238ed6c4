#!/usr/bin/env python3
"""Query speed in Lance of one merged index against K unmerged segments (--num-segments K).

Builds the same IVF_PQ index with `lancer create-index --num-segments K` for each K on copies
of one dataset, then times Lance's own search (pylance, k=10, nprobes 20) over the same
queries and prints latency and recall@10 against brute force.

  .venv/bin/python bench/segments_query.py [--rows 200000] [--dim 128] [--segments 1,4,8] [--build build]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import tempfile
import time

import lance
import numpy as np
import pyarrow as pa


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=200_000)
    ap.add_argument("--dim", type=int, default=128)
    ap.add_argument("--fragments", type=int, default=32)
    ap.add_argument("--segments", default="1,4,8")
    ap.add_argument("--index-type", default="IVF_PQ")
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--nprobes", type=int, default=20)
    ap.add_argument("--build", default="build")
    args = ap.parse_args()
    lancer = os.path.abspath(os.path.join(args.build, "lancer"))
    rng = np.random.default_rng(3)
    centres = rng.standard_normal((1000, args.dim)).astype(np.float32) * 2
    x = (centres[rng.integers(0, 1000, args.rows)] + rng.standard_normal((args.rows, args.dim))).astype(np.float32)
    queries = (centres[rng.integers(0, 1000, args.queries)]
               + rng.standard_normal((args.queries, args.dim))).astype(np.float32)
    work = tempfile.mkdtemp(prefix="lancer-seg-")
    base = os.path.join(work, "base.lance")
    lance.write_dataset(pa.table({"id": np.arange(args.rows), "vector": pa.FixedSizeListArray.from_arrays(
        pa.array(x.ravel()), args.dim)}), base, max_rows_per_file=(args.rows + args.fragments - 1) // args.fragments)
    truth = [set(np.argsort(((x - q) ** 2).sum(1))[:10].tolist()) for q in queries]
    print(f"{args.rows} x {args.dim}, {args.fragments} fragments, {args.index_type}, k=10, nprobes {args.nprobes}, "
          f"{args.queries} queries")
    print(f"{'segments':>8} {'ms/query':>9} {'recall@10':>10}")
    for k in [int(s) for s in args.segments.split(",")]:
        uri = os.path.join(work, f"s{k}.lance")
        shutil.copytree(base, uri)
        subprocess.run([lancer, "create-index", uri, "--column", "vector", "--index-type", args.index_type,
                        "--num-segments", str(k)], check=True, capture_output=True)
        ds = lance.dataset(uri)
        for q in queries[:10]:  # warm up caches
            ds.to_table(nearest={"column": "vector", "q": q, "k": 10, "nprobes": args.nprobes}, columns=["id", "_distance"])
        hits = 0
        t = time.perf_counter()
        for q, tr in zip(queries, truth):
            got = ds.to_table(nearest={"column": "vector", "q": q, "k": 10, "nprobes": args.nprobes}, columns=["id", "_distance"])
            hits += len(tr & set(got["id"].to_pylist()))
        ms = (time.perf_counter() - t) * 1000 / len(queries)
        print(f"{k:>8} {ms:>9.2f} {hits / (10 * len(queries)):>10.3f}")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
