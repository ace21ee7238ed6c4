"""Where does an IVF_PQ index lose recall: the IVF model or the PQ codebook? Builds, on one dataset,
Lance's own index and lancer's, then the crossed pairs (Lance's IVF centroids with lancer's PQ training,
lancer's centroids with Lance's PQ training), and prints for each model pair:
  recall@10 at --nprobes (pylance search, --queries held-out queries of create_index_vs_lance.py),
  ivf_recall  the share of the true top-10 that lie in the query's --nprobes nearest partitions
              (the recall a perfect quantizer would reach: the IVF model alone),
  ivf_mse     mean squared distance of --eval-rows dataset rows to their nearest centroid,
  pq_mse      mean squared PQ reconstruction error of those rows' residuals (nearest codeword per
              sub-vector: the codebook alone, on the IVF model it was trained with).
Lance's build time includes its training; the crossed builds skip what they were given.

Lance's runs are saved as DIR/lance-0, lance-1, ... (centroids.npy, codebook.npy: bench/pq_recall_sim.py
reads them); --reuse-lance DIR takes them from an earlier run instead of building; --no-cross skips the
crossed builds. Lance seeds its k-means from the OS, so only repeated runs show its spread.

Usage: ivf_pq_factorial.py DATASET NUM_PARTITIONS NUM_SUB_VECTORS [--lancer BIN] [--seeds 42,1]
       [--lance-runs 1] [--queries 200] [--nprobes 20] [--work DIR] [--reuse-lance DIR] [--no-cross]"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time

import lance
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import create_index_vs_lance as B  # noqa: E402


def load_rows(uri: str, n: int, seed: int = 7) -> np.ndarray:
    ds = lance.dataset(uri)
    rows = np.sort(np.random.default_rng(seed).choice(ds.count_rows(), n, replace=False))
    t = ds.take(rows, columns=["vector"])
    dim = t.schema.field("vector").type.list_size
    return t["vector"].combine_chunks().flatten().to_numpy().reshape(-1, dim).astype(np.float32)


def nearest(x: np.ndarray, c: np.ndarray, k: int = 1):
    d = (x * x).sum(1)[:, None] - 2 * x @ c.T + (c * c).sum(1)[None, :]
    if k == 1:
        i = d.argmin(1)
        return i, d[np.arange(len(x)), i]
    return np.argsort(d, axis=1)[:, :k]


def pq_mse(res: np.ndarray, cb: np.ndarray) -> float:
    m, _, dsub = cb.shape
    err = 0.0
    for s in range(m):
        _, d = nearest(res[:, s * dsub:(s + 1) * dsub], cb[s])
        err += float(np.maximum(d, 0).sum())
    return err / len(res)


def model_stats(model: str, rows: np.ndarray, qs: np.ndarray, truth_ids: list, row_part: dict, nprobes: int):
    c = np.load(os.path.join(model, "centroids.npy"))
    cb = np.load(os.path.join(model, "codebook.npy"))
    lab, d = nearest(rows, c)
    out = {"ivf_mse": float(d.mean()), "pq_mse": pq_mse(rows - c[lab], cb)}
    # Partition of every true neighbour, then the share found in the query's nprobes nearest partitions.
    ids = sorted({i for t in truth_ids for i in t})
    ds = lance.dataset(row_part["uri"])
    vec = ds._take_rows(ids, columns=["vector"])["vector"].combine_chunks().flatten().to_numpy().reshape(len(ids), -1)
    part = dict(zip(ids, nearest(vec.astype(np.float32), c)[0].tolist()))
    probes = nearest(qs, c, nprobes)
    hit = sum(sum(part[i] in set(p.tolist()) for i in t) for t, p in zip(truth_ids, probes))
    out["ivf_recall"] = hit / sum(len(t) for t in truth_ids)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dataset")
    ap.add_argument("nlist", type=int)
    ap.add_argument("m", type=int)
    ap.add_argument("--lancer", default=os.environ.get("LANCER_BIN", os.path.join(B.REPO, "build", "lancer")))
    ap.add_argument("--seeds", default="42")
    ap.add_argument("--lance-runs", type=int, default=1)
    ap.add_argument("--reuse-lance", help="models saved by an earlier run (lance-0, lance-1, ...): no Lance build")
    ap.add_argument("--no-cross", action="store_true")
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--nprobes", type=int, default=20)
    ap.add_argument("--eval-rows", type=int, default=8192)
    ap.add_argument("--work", default="/tmp/lancer-bench/factorial")
    ap.add_argument("--lancer-args", default="", help="extra lancer create-index flags")
    args = ap.parse_args()
    os.makedirs(args.work, exist_ok=True)
    ds = lance.dataset(args.dataset)
    dim = ds.schema.field("vector").type.list_size
    size = B.Size("x", ds.count_rows(), dim, 1, args.nlist, args.m)
    qs = B.held_out_queries(size, args.queries)
    t = time.perf_counter()
    truth = B.brute_force(args.dataset, dim, qs)
    print(f"truth in {time.perf_counter() - t:.1f} s", flush=True)
    rows = load_rows(args.dataset, args.eval_rows)
    ctx = {"uri": args.dataset}
    results = []

    def lance_build(model_in: str, name: str):
        work = os.path.join(args.work, "run-" + name)
        shutil.rmtree(work, ignore_errors=True)
        os.makedirs(work)
        theirs = B.clone(args.dataset, os.path.join(work, "lance.lance"))
        t = time.perf_counter()
        _, rss, out = B.timed([sys.executable, "-c", B.LANCE_CHILD, theirs, "IVF_PQ", str(args.nlist), str(args.m),
                               model_in], os.path.join(work, "rss"))
        s = time.perf_counter() - t
        r = B.recall(theirs, qs, truth, [args.nprobes])[args.nprobes]
        model = B.save_model(theirs, args.m, os.path.join(args.work, name))
        shutil.rmtree(work)
        return s, r, model

    def lancer_build(extra: list, name: str):
        work = os.path.join(args.work, "run-" + name)
        shutil.rmtree(work, ignore_errors=True)
        os.makedirs(work)
        ours = B.clone(args.dataset, os.path.join(work, "lancer.lance"))
        rep = os.path.join(work, "report.json")
        s, _, _ = B.timed([args.lancer, "create-index", ours, "--column", "vector", "--index-type", "IVF_PQ",
                           "--metric", "l2", "--num-partitions", str(args.nlist), "--num-sub-vectors", str(args.m),
                           "--sample-rate", "256", "--max-iters", "50", "--report", rep, *extra,
                           *args.lancer_args.split()], os.path.join(work, "rss"))
        phases = json.load(open(rep)).get("phases_s")
        r = B.recall(ours, qs, truth, [args.nprobes])[args.nprobes]
        model = B.save_model(ours, args.m, os.path.join(args.work, name))
        shutil.rmtree(work)
        return s, r, model, phases

    def report(name, ivf, pq, s, r, model, phases=None):
        row = {"case": name, "ivf": ivf, "pq": pq, "seconds": round(s, 2), "recall": r, "phases": phases}
        print(json.dumps(row), flush=True)
        row.update(model_stats(model, rows, qs, truth, ctx, args.nprobes))
        results.append(row)
        print(json.dumps(row), flush=True)

    lance_models = []
    for i in range(args.lance_runs):
        name = f"lance-{i}"
        if args.reuse_lance:
            lance_models.append(os.path.join(args.reuse_lance, name))
            continue
        s, r, model = lance_build("", name)
        lance_models.append(model)
        report(name, "lance", "lance", s, r, model)
    for seed in [int(x) for x in args.seeds.split(",") if x.strip()]:
        name = f"lancer-s{seed}"
        s, r, model, ph = lancer_build(["--seed", str(seed)], name)
        report(name, "lancer", "lancer", s, r, model, ph)
        if args.no_cross:
            continue
        # lancer's centroids, Lance's PQ training.
        only_ivf = os.path.join(args.work, name + "-ivf")
        os.makedirs(only_ivf, exist_ok=True)
        shutil.copy(os.path.join(model, "centroids.npy"), only_ivf)
        s, r, m2 = lance_build(only_ivf, name + "+lancepq")
        report(name + "+lancepq", "lancer", "lance", s, r, m2)
        # Lance's centroids, lancer's PQ training.
        s, r, m3, ph = lancer_build(["--seed", str(seed), "--ivf-centroids",
                                     os.path.join(lance_models[0], "centroids.npy")], f"lance0+lancerpq-s{seed}")
        report(f"lance0+lancerpq-s{seed}", "lance", "lancer", s, r, m3, ph)
    print("\ncase                        ivf     pq      seconds  recall  ivf_recall  ivf_mse    pq_mse")
    for r in results:
        print(f"{r['case']:27} {r['ivf']:7} {r['pq']:7} {r['seconds']:7.1f}  {r['recall']:.3f}   {r['ivf_recall']:.3f}"
              f"       {r['ivf_mse']:9.2f}  {r['pq_mse']:9.2f}")


if __name__ == "__main__":
    main()
