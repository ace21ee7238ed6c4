"""Peak memory of lancer create-index IVF_FLAT on a ~2 GB dataset, against the target
"under 600 MB". Prints; asserts nothing.

The dataset (clustered float32, default 4,200,000 x 128 = 2.15 GB of vectors) is written
by pylance in batches, so the writer never holds it whole, into --workdir and reused by
later runs. Each run builds the index with lancer under /usr/bin/time -v and reports its
max RSS and the peak_rss_mb of lancer's --report; afterwards the index is dropped and old
versions cleaned up, so the dataset is as it was and the disk does not fill up.

Usage: memory_flat.py [--rows 4200000] [--dim 128] [--num-partitions N] [--threads T]
                      [--workdir /tmp/lancer-bench] [--lancer PATH] [--target-mb 600] [--prepare]
The lancer binary: --lancer, else $LANCER_BIN, else <repo>/build/lancer."""
from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import shutil
import subprocess
import time

import lance
import numpy as np
import pyarrow as pa

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TIME = "/usr/bin/time"


def dataset(uri: str, rows: int, dim: int, batch: int = 100_000) -> str:
    if os.path.isdir(uri):
        try:
            ds = lance.dataset(uri)
            if ds.count_rows() == rows and ds.schema.field("vector").type.list_size == dim:
                print(f"reusing {uri}", flush=True)
                return uri
        except Exception:
            pass
        shutil.rmtree(uri)
    schema = pa.schema([("id", pa.int64()), ("vector", pa.list_(pa.float32(), dim))])

    def batches():
        rng = np.random.default_rng(0)
        centres = rng.standard_normal((1000, dim)).astype(np.float32)
        for start in range(0, rows, batch):
            n = min(batch, rows - start)
            v = centres[rng.integers(0, 1000, n)] + 0.5 * rng.standard_normal((n, dim), dtype=np.float32)
            yield pa.record_batch([pa.array(np.arange(start, start + n)),
                                   pa.FixedSizeListArray.from_arrays(pa.array(v.ravel()), dim)], schema=schema)

    t = time.perf_counter()
    lance.write_dataset(pa.RecordBatchReader.from_batches(schema, batches()), uri, max_rows_per_file=1 << 20)
    print(f"wrote {uri} in {time.perf_counter() - t:.0f} s", flush=True)
    return uri


def du_mb(path: str) -> float:
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(path) for f in fs) / 2 ** 20


def restore(uri: str, name: str):
    """Drop the index and the versions that held it (the dataset is ours: a bench copy)."""
    ds = lance.dataset(uri)
    if name in [i["name"] for i in ds.list_indices()]:
        ds.drop_index(name)
    lance.dataset(uri).cleanup_old_versions(older_than=datetime.timedelta(0), delete_unverified=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=4_200_000)
    ap.add_argument("--dim", type=int, default=128)
    ap.add_argument("--num-partitions", type=int, default=0, help="default: lancer's (round(sqrt(rows)))")
    ap.add_argument("--threads", type=int, default=0, help="lancer --threads (default: all cores)")
    ap.add_argument("--workdir", default="/tmp/lancer-bench")
    ap.add_argument("--lancer", default=os.environ.get("LANCER_BIN", os.path.join(REPO, "build", "lancer")))
    ap.add_argument("--target-mb", type=float, default=600)
    ap.add_argument("--keep-index", action="store_true", help="leave the index committed")
    ap.add_argument("--prepare", action="store_true", help="only write (or check) the dataset")
    args = ap.parse_args()
    if not os.access(args.lancer, os.X_OK):
        ap.error(f"lancer binary not found at {args.lancer} (build it, or pass --lancer / set LANCER_BIN)")
    os.makedirs(args.workdir, exist_ok=True)
    uri = dataset(os.path.join(args.workdir, f"flat-{args.rows}x{args.dim}.lance"), args.rows, args.dim)
    restore(uri, "membench_idx")
    if args.prepare:
        return
    ds = lance.dataset(uri)
    vec_mb = args.rows * args.dim * 4 / 2 ** 20
    print(f"dataset: {args.rows} x {args.dim} float32, {len(ds.get_fragments())} fragments, "
          f"vectors {vec_mb:.0f} MB, on disk {du_mb(uri):.0f} MB", flush=True)

    report = os.path.join(args.workdir, "memory_flat_report.json")
    argv = [args.lancer, "create-index", uri, "--column", "vector", "--index-type", "IVF_FLAT",
            "--name", "membench_idx", "--report", report]
    if args.num_partitions:
        argv += ["--num-partitions", str(args.num_partitions)]
    if args.threads:
        argv += ["--threads", str(args.threads)]
    wrap = [TIME, "-v"] if os.access(TIME, os.X_OK) else []
    print("$ " + " ".join(wrap + argv), flush=True)
    t = time.perf_counter()
    p = subprocess.run(wrap + argv, capture_output=True, text=True)
    wall = time.perf_counter() - t
    if p.returncode != 0:
        print(p.stderr[-4000:])
        raise SystemExit(f"lancer failed ({p.returncode})")
    m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", p.stderr)
    maxrss = int(m.group(1)) / 1024 if m else None
    rep = json.load(open(report))
    peak = rep.get("peak_rss_mb")
    print(p.stdout.rstrip())
    print(f"\nIVF_FLAT {args.rows} x {args.dim} ({vec_mb:.0f} MB of vectors), "
          f"{rep.get('num_partitions', args.num_partitions or '?')} partitions: {wall:.1f} s wall")
    print(f"  report peak_rss_mb        {peak:8.0f} MB" if peak is not None else "  report peak_rss_mb: -")
    print(f"  /usr/bin/time max RSS     {maxrss:8.0f} MB" if maxrss is not None else "  /usr/bin/time: -")
    worst = max(v for v in (peak, maxrss) if v is not None)
    print(f"  target: under {args.target_mb:.0f} MB -> {'MET' if worst < args.target_mb else 'NOT MET'} "
          f"({worst:.0f} MB = {worst / vec_mb:.2f} x the vectors)")
    print(f"  phases: {json.dumps(rep.get('phases_s'))}")
    if not args.keep_index:
        restore(uri, "membench_idx")


if __name__ == "__main__":
    main()
