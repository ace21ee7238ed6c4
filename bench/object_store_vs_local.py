#!/usr/bin/env python3
"""lancer and pylance building the same index from local disk and from S3 with added latency.

An S3 server (moto, loopback) behind the test suite's fault proxy, which adds --latency-ms to every
request; the dataset is written once locally and once to the bucket (the same rows, fragments and
files). Four builds, the same parameters as bench/create_index_vs_lance.py:

  lancer  local    lancer create-index on a local clone
  lancer  s3       lancer create-index s3://... through the proxy (staging in the bucket too)
  pylance local    LanceDataset.create_index on a local clone
  pylance s3       the same on s3://... through the proxy

Each build on S3 gets a new index name, so the dataset's data is read the same way every time.

  .venv/bin/python bench/object_store_vs_local.py [--rows 200000 --dim 128 --fragments 8 --nlist 447 --m 16]
      [--type IVF_PQ] [--latency-ms 20] [--repeats 1] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import lance
import pyarrow as pa

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(REPO, "tests", "oracle"))
sys.path.insert(0, HERE)

import s3_server as S  # noqa: E402
from create_index_vs_lance import Size, clone, clustered_batches, timed  # noqa: E402

LANCE_CHILD = """
import json, sys, time, lance
uri, itype, nlist, m, name, so = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5], json.loads(sys.argv[6])
extra = {"num_sub_vectors": m} if itype == "IVF_PQ" else {}
ds = lance.dataset(uri, storage_options=so or None)
t = time.perf_counter()
ds.create_index("vector", itype, name=name, metric="l2", num_partitions=nlist, sample_rate=256, max_iters=50, **extra)
print(json.dumps({"seconds": time.perf_counter() - t}))
"""


def write(size: Size, uri: str, storage_options=None) -> None:
    schema = pa.schema([("id", pa.int64()), ("vector", pa.list_(pa.float32(), size.dim))])
    batches = (pa.record_batch([pa.array(ids), pa.FixedSizeListArray.from_arrays(pa.array(v.ravel()), size.dim)],
                               schema=schema) for ids, v in clustered_batches(size))
    lance.write_dataset(pa.RecordBatchReader.from_batches(schema, batches), uri, storage_options=storage_options,
                        max_rows_per_file=-(-size.rows // size.fragments))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=200_000)
    ap.add_argument("--dim", type=int, default=128)
    ap.add_argument("--fragments", type=int, default=8)
    ap.add_argument("--nlist", type=int, default=447)
    ap.add_argument("--m", type=int, default=16)
    ap.add_argument("--type", default="IVF_PQ")
    ap.add_argument("--latency-ms", type=float, default=20)
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--lancer", default=os.path.join(REPO, "build", "lancer"))
    ap.add_argument("--lance-python", default=sys.executable)
    ap.add_argument("--json")
    args = ap.parse_args()
    size = Size("bench", args.rows, args.dim, args.fragments, args.nlist, args.m)

    server = S.MotoServer.start()
    proxy = S.FaultProxy(server.endpoint)
    direct = S.storage_options(server.endpoint)
    slow = S.storage_options(proxy.endpoint)
    work = tempfile.mkdtemp(prefix="lancer-os-bench-")
    try:
        base = os.path.join(work, "base.lance")
        uri = f"s3://{S.BUCKET}/bench/ds.lance"
        t = time.perf_counter()
        write(size, base)
        write(size, uri, direct)
        print(f"wrote {args.rows} x {args.dim} locally and to S3 in {time.perf_counter() - t:.1f} s", flush=True)
        opts = os.path.join(work, "slow.json")
        with open(os.open(opts, os.O_WRONLY | os.O_CREAT, 0o600), "w") as f:
            json.dump(slow, f)
        extra = ["--num-sub-vectors", str(args.m)] if args.type == "IVF_PQ" else []
        common = ["--column", "vector", "--index-type", args.type, "--metric", "l2", "--num-partitions",
                  str(args.nlist), "--sample-rate", "256", "--max-iters", "50", *extra]
        proxy.latency_s = args.latency_ms / 1000
        rows = []
        for rep in range(args.repeats):
            row = {"repeat": rep}
            local = clone(base, os.path.join(work, f"lancer-{rep}.lance"))
            row["lancer_local_s"], row["lancer_local_rss_mb"], _ = timed(
                [args.lancer, "create-index", local, *common], os.path.join(work, "rss"))
            del proxy.log[:]
            row["lancer_s3_s"], row["lancer_s3_rss_mb"], _ = timed(
                [args.lancer, "create-index", uri, *common, "--name", f"lancer_{rep}", "--storage-options-file", opts],
                os.path.join(work, "rss"))
            row["lancer_s3_requests"] = len(proxy.log)
            theirs = clone(base, os.path.join(work, f"lance-{rep}.lance"))
            _, _, out = timed([args.lance_python, "-c", LANCE_CHILD, theirs, args.type, str(args.nlist), str(args.m),
                               "vector_idx", "{}"], os.path.join(work, "rss"))
            row["pylance_local_s"] = json.loads(out.strip().splitlines()[-1])["seconds"]
            del proxy.log[:]
            _, _, out = timed([args.lance_python, "-c", LANCE_CHILD, uri, args.type, str(args.nlist), str(args.m),
                               f"lance_{rep}", json.dumps(slow)], os.path.join(work, "rss"))
            row["pylance_s3_s"] = json.loads(out.strip().splitlines()[-1])["seconds"]
            row["pylance_s3_requests"] = len(proxy.log)
            row["lancer_s3_over_local"] = row["lancer_s3_s"] / row["lancer_local_s"]
            row["lead_local"] = row["pylance_local_s"] / row["lancer_local_s"]
            row["lead_s3"] = row["pylance_s3_s"] / row["lancer_s3_s"]
            rows.append(row)
            print(json.dumps(row), flush=True)
        print(f"\n{args.type} {args.rows} x {args.dim}, {args.nlist} partitions, S3 with {args.latency_ms:g} ms "
              f"added per request (moto on loopback)")
        print("           local s    s3 s   s3/local  requests")
        for r in rows:
            print(f"lancer   {r['lancer_local_s']:9.2f} {r['lancer_s3_s']:7.2f} {r['lancer_s3_over_local']:9.2f}x"
                  f" {r['lancer_s3_requests']:9d}")
            print(f"pylance  {r['pylance_local_s']:9.2f} {r['pylance_s3_s']:7.2f} "
                  f"{r['pylance_s3_s'] / r['pylance_local_s']:9.2f}x {r['pylance_s3_requests']:9d}")
            print(f"lancer's lead: {r['lead_local']:.2f}x local, {r['lead_s3']:.2f}x on S3")
        if args.json:
            with open(args.json, "w") as f:
                json.dump({"args": vars(args), "rows": rows}, f, indent=1)
    finally:
        proxy.stop()
        server.stop()
        subprocess.run(["rm", "-rf", work])


if __name__ == "__main__":
    main()
