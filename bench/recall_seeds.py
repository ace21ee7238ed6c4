"""Recall of Lance's own index against lancer's built with several seeds, over many queries.

    .venv/bin/python bench/recall_seeds.py [--size small|large] [--type IVF_PQ] [--queries 1000] [--seeds 0,1,2]

Same datasets and parameters as bench/create_index_vs_lance.py; prints recall@10 at nprobes 1, 10, 20
and all partitions for Lance's index and for one lancer index per seed (how much of a recall gap is
the seed and the query sample, not the builder).
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lance  # noqa: E402

import create_index_vs_lance as common  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", default="small", choices=sorted(common.SIZES))
    ap.add_argument("--type", default="IVF_PQ", choices=common.TYPES)
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--workdir", default="/tmp/lancer-bench")
    ap.add_argument("--lancer", default=os.path.join(common.REPO, "build", "lancer"))
    args = ap.parse_args()
    size = common.SIZES[args.size]
    os.makedirs(args.workdir, exist_ok=True)
    base = common.dataset(size, args.workdir)
    qs = common.held_out_queries(size, args.queries)
    truth = common.brute_force(base, size.dim, qs)
    extra = {"num_sub_vectors": size.m} if args.type == "IVF_PQ" else {}
    work = tempfile.mkdtemp(prefix="seeds-", dir=args.workdir)
    try:
        for who in ["lance"] + [f"lancer seed {s}" for s in args.seeds.split(",")]:
            uri = os.path.join(work, "ds.lance")
            shutil.rmtree(uri, ignore_errors=True)
            shutil.copytree(base, uri)
            t = time.perf_counter()
            if who == "lance":
                lance.dataset(uri).create_index("vector", args.type, metric="l2", num_partitions=size.nlist,
                                                sample_rate=256, max_iters=50, **extra)
            else:
                argv = [args.lancer, "create-index", uri, "--column", "vector", "--index-type", args.type,
                        "--num-partitions", str(size.nlist), "--seed", who.split()[-1]]
                if extra:
                    argv += ["--num-sub-vectors", str(size.m)]
                subprocess.run(argv, check=True, capture_output=True)
            seconds = time.perf_counter() - t
            recalls = "  ".join(f"nprobes {n}: {common.recall(uri, qs, truth, n):.4f}"
                                for n in (1, 10, 20, size.nlist))
            print(f"{who:15} {seconds:7.2f} s  {recalls}", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
