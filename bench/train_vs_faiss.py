"""lancer's training and encoding against FAISS (faiss-cpu), on the same data,
same iteration counts and thread count, in the same run.

  .venv/bin/python bench/train_vs_faiss.py [--build build] [--threads 2] [--quick] [--out results.json]

For every case it prints wall seconds for both, the ratio, and the quality
metric computed the same way for both models (k-means objective: sum of
squared distances of the sample to its nearest centroid; PQ: sum of squared
reconstruction errors, codes assigned by FAISS's encoder for both codebooks).
Targets (issue 3): quality within 1 % of FAISS; lancer at least as fast.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

import faiss


def clustered(n, d, centres, seed):
    rng = np.random.default_rng(seed)
    c = 2.0 * rng.standard_normal((centres, d), dtype=np.float32)
    scale = (1.0 / np.sqrt(1.0 + np.arange(d) / 16.0)).astype(np.float32)
    x = c[rng.integers(0, centres, n)] + scale * rng.standard_normal((n, d), dtype=np.float32)
    return np.ascontiguousarray(x, dtype=np.float32)


def residual_like(n, d, seed):
    """Zero-mean data with a decaying spectrum in a random basis (IVF residuals)."""
    rng = np.random.default_rng(seed)
    scale = (1.0 / np.sqrt(1.0 + np.arange(d) / 16.0)).astype(np.float32)
    z = rng.standard_normal((n, d), dtype=np.float32) * scale
    q, _ = np.linalg.qr(rng.standard_normal((d, d)).astype(np.float32))
    return np.ascontiguousarray(z @ q.T, dtype=np.float32)


def run_tool(tool, args, threads):
    out = subprocess.run([tool] + args + ["--threads", str(threads)], check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def kmeans_objective(x, c):
    index = faiss.IndexFlatL2(c.shape[1])
    index.add(c)
    dist, _ = index.search(x, 1)
    return float(dist.astype(np.float64).sum())


def pq_error(x, codebook, m, nbits):
    pq = faiss.ProductQuantizer(x.shape[1], m, nbits)
    faiss.copy_array_to_vector(np.ascontiguousarray(codebook, dtype=np.float32).ravel(), pq.centroids)
    rec = pq.decode(pq.compute_codes(x))
    return float(((x.astype(np.float64) - rec) ** 2).sum())


def case_kmeans(tool, tmp, threads, name, x, k, iters, seed=1):
    """Two lancer runs against one FAISS run (flat, random init, `iters` iterations):
    'flat': lancer configured as FAISS is (flat, random init, same iterations, tolerance 0);
    'default': lancer's defaults (k-means++ init; two-level above k=256; Lance's tolerance 1e-4)."""
    path = os.path.join(tmp, f"{name}.npy")
    np.save(path, x)
    km = faiss.Kmeans(x.shape[1], k, niter=iters, seed=seed, max_points_per_centroid=1 << 30, verbose=False)
    t0 = time.perf_counter()
    km.train(x)
    faiss_s = time.perf_counter() - t0
    fo = kmeans_objective(x, km.centroids)
    flops = 2.0 * x.shape[0] * k * x.shape[1] * iters
    rows = []
    for label, extra in (("flat", ["--init", "random", "--fanout", "0", "--tol", "0"]), ("default", [])):
        out = os.path.join(tmp, f"{name}_c.npy")
        lancer = run_tool(tool, ["kmeans", "--data", path, "--k", str(k), "--iters", str(iters), "--seed", str(seed),
                                 "--out", out] + extra, threads)
        rows.append(dict(case=f"{name} {label}", kind="kmeans", n=x.shape[0], d=x.shape[1], k=k, iters=iters,
                         lancer_s=lancer["seconds"], faiss_s=faiss_s, lancer_iters=lancer["iterations"],
                         faiss_gflops=flops / faiss_s / 1e9, lancer_quality=kmeans_objective(x, np.load(out)),
                         faiss_quality=fo))
    return rows


def case_pq(tool, tmp, threads, name, x, m, nbits, iters, seed=1, encode_rows=None):
    path = os.path.join(tmp, f"{name}.npy")
    np.save(path, x)
    out = os.path.join(tmp, f"{name}_cb.npy")
    lancer = run_tool(tool, ["pq", "--data", path, "--m", str(m), "--nbits", str(nbits), "--iters", str(iters),
                             "--tol", "0", "--seed", str(seed), "--out", out], threads)
    lcb = np.load(out)
    pq = faiss.ProductQuantizer(x.shape[1], m, nbits)
    pq.cp.niter = iters
    pq.cp.seed = seed
    pq.cp.max_points_per_centroid = 1 << 30
    t0 = time.perf_counter()
    pq.train(x)
    faiss_s = time.perf_counter() - t0
    fcb = faiss.vector_to_array(pq.centroids).reshape(-1, x.shape[1] // m)
    row = dict(case=name, kind="pq_train", n=x.shape[0], d=x.shape[1], m=m, nbits=nbits, iters=iters,
               lancer_s=lancer["seconds"], faiss_s=faiss_s, lancer_searched=lancer["searched"],
               lancer_quality=pq_error(x, lcb, m, nbits), faiss_quality=pq_error(x, fcb, m, nbits))
    # encoding with one codebook (lancer's) on both sides
    codes_out = os.path.join(tmp, f"{name}_codes.npy")
    enc = run_tool(tool, ["encode", "--data", path, "--codebook", out, "--m", str(m), "--nbits", str(nbits),
                          "--repeat", "3", "--out", codes_out], threads)
    faiss.copy_array_to_vector(np.ascontiguousarray(lcb, dtype=np.float32).ravel(), pq.centroids)
    best = 1e30
    for _ in range(3):
        t0 = time.perf_counter()
        fcodes = pq.compute_codes(x)
        best = min(best, time.perf_counter() - t0)
    lcodes = np.load(codes_out)
    agree = float((lcodes == fcodes).mean())
    enc_row = dict(case=name, kind="pq_encode", n=x.shape[0], d=x.shape[1], m=m, nbits=nbits,
                   lancer_s=enc["seconds"], faiss_s=best, lancer_vps=x.shape[0] / enc["seconds"],
                   faiss_vps=x.shape[0] / best, code_bytes_equal=agree)
    return [row, enc_row]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--quick", action="store_true", help="smaller cases (CI smoke run)")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    tool = os.path.join(args.build, "bench", "train_tool")
    faiss.omp_set_num_threads(args.threads)
    print(f"faiss {faiss.__version__}, {args.threads} threads, lancer tool {tool}", flush=True)
    bench = os.path.join(args.build, "bench", "train_bench")
    if os.path.exists(bench):
        peak = subprocess.run([bench, "--benchmark_filter=SgemmPeak", "--benchmark_format=json"],
                              capture_output=True, text=True, env=dict(os.environ, LANCER_THREADS=str(args.threads)))
        try:
            g = json.loads(peak.stdout)["benchmarks"][0]["GFLOPS"]
            print(f"SGEMM peak (single-threaded OpenBLAS per thread, this run): {g:.1f} GFLOPS", flush=True)
        except (ValueError, KeyError, IndexError):
            pass
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        if args.quick:
            rows += case_kmeans(tool, tmp, args.threads, "km_d128_k256", clustered(65536, 128, 1000, 1), 256, 20)
            rows += case_pq(tool, tmp, args.threads, "pq_d128_m16", residual_like(65536, 128, 2), 16, 8, 25)
        else:
            rows += case_kmeans(tool, tmp, args.threads, "km_d128_k256", clustered(65536, 128, 1000, 1), 256, 50)
            rows += case_kmeans(tool, tmp, args.threads, "km_d128_k1024", clustered(262144, 128, 4000, 3), 1024, 50)
            rows += case_kmeans(tool, tmp, args.threads, "km_d1024_k256", clustered(65536, 1024, 1000, 4), 256, 50)
            x = residual_like(65536, 1024, 5)
            rows += case_pq(tool, tmp, args.threads, "pq_d1024_m128", x, 128, 8, 50)
            rows += case_pq(tool, tmp, args.threads, "pq_d1024_m64", x, 64, 8, 50)
            rows += case_pq(tool, tmp, args.threads, "pq_d1024_m256_4bit", x, 256, 4, 50)
            rows += case_pq(tool, tmp, args.threads, "pq_d128_m16", residual_like(65536, 128, 6), 16, 8, 50)
    for r in rows:
        speed = r["faiss_s"] / r["lancer_s"]
        line = f"{r['case']:<26} {r['kind']:<10} lancer {r['lancer_s']:8.3f}s  faiss {r['faiss_s']:8.3f}s  speed-up {speed:5.2f}x"
        if "lancer_quality" in r:
            rel = r["lancer_quality"] / r["faiss_quality"] - 1
            line += f"  quality lancer/faiss {rel * 100:+.2f}%"
        if "lancer_vps" in r:
            line += f"  {r['lancer_vps']:.0f} vs {r['faiss_vps']:.0f} vectors/s, codes equal {r['code_bytes_equal']:.4f}"
        if "lancer_iters" in r:
            line += f"  lancer iterations {r['lancer_iters']}"
        print(line, flush=True)
    if args.out:
        with open(args.out, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    sys.exit(main())
