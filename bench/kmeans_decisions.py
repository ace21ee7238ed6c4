"""Measurements behind docs/decisions/kmeans-init.md and hierarchical-kmeans.md.

  .venv/bin/python bench/kmeans_decisions.py [--build build] [--threads 2] [--large]

Prints, for each configuration, lancer's training wall time and the k-means
objective of the result on the training sample (sum of squared distances to
the nearest centroid, computed with FAISS's exact flat index for all runs).
"""
import argparse
import os
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from train_vs_faiss import clustered, kmeans_objective, run_tool  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--large", action="store_true", help="also k=4096 (minutes)")
    ap.add_argument("--seeds", type=int, default=3)
    args = ap.parse_args()
    tool = os.path.join(args.build, "bench", "train_tool")
    cases = [("d128_k256", 65536, 128, 256, 1000), ("d128_k1024", 262144, 128, 1024, 4000)]
    if args.large:
        cases.append(("d128_k4096", 262144, 128, 4096, 16000))
    configs = [
        ("flat random", ["--init", "random", "--fanout", "0"]),
        ("flat kmeans++", ["--init", "kmeans++", "--fanout", "0"]),
        ("hier sqrt(k) refine=0 random", ["--init", "random", "--fanout", "SQRT", "--refine", "0"]),
        ("hier sqrt(k) refine=2 random", ["--init", "random", "--fanout", "SQRT", "--refine", "2"]),
        ("hier sqrt(k) refine=0 kmeans++", ["--init", "kmeans++", "--fanout", "SQRT", "--refine", "0"]),
        ("hier sqrt(k) refine=2 kmeans++", ["--init", "kmeans++", "--fanout", "SQRT", "--refine", "2"]),
        ("hier sqrt(k) refine=5 kmeans++", ["--init", "kmeans++", "--fanout", "SQRT", "--refine", "5"]),
    ]
    with tempfile.TemporaryDirectory() as tmp:
        for name, n, d, k, centres in cases:
            x = clustered(n, d, centres, 11)
            path = os.path.join(tmp, "x.npy")
            np.save(path, x)
            seeds = args.seeds if k <= 1024 else 1
            for cname, extra in configs:
                if k <= 256 and cname.startswith("hier"):
                    continue
                extra = [str(int(np.sqrt(k))) if e == "SQRT" else e for e in extra]
                times, objs, iters = [], [], []
                for seed in range(1, seeds + 1):
                    out = os.path.join(tmp, "c.npy")
                    r = run_tool(tool, ["kmeans", "--data", path, "--k", str(k), "--iters", "50", "--tol", "1e-4",
                                        "--seed", str(seed), "--out", out] + extra, args.threads)
                    times.append(r["seconds"])
                    objs.append(kmeans_objective(x, np.load(out)))
                    iters.append(r["iterations"])
                print(f"{name:<12} {cname:<32} time {np.mean(times):8.2f}s  objective {np.mean(objs):.6e}"
                      f"  (min {min(objs):.6e}, max {max(objs):.6e})  iterations {iters}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
