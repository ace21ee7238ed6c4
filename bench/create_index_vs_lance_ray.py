"""End to end on one Ray cluster: lance_ray.create_index (lance-ray 0.5.0) vs
lancer.create_index(engine="ray") with the same num_workers and parameters, on
the datasets of create_index_vs_lance.py, in one run. Prints build seconds,
their ratio, and recall@10 of both indexes (searched by pylance at --nprobes
over held-out queries, against exact brute force).

Both builders get the same arguments; each keeps its own default for
num_segments (lance-ray: num_workers segments; lancer: one merged index).
Each build starts from a fresh copy of the dataset. A small warm-up build of
each runs first, and each case is built --repeat times by each builder (the
best time is reported, the recall is the last build's), so that Ray's worker
start-up is not charged to either.

Usage:
  create_index_vs_lance_ray.py [--sizes small,large] [--types IVF_FLAT,IVF_SQ,IVF_PQ (also IVF_RQ, IVF_HNSW_*)]
                               [--num-workers 2] [--repeat 2] [--queries 1000] [--nprobes 20]
                               [--workdir /tmp/lancer-bench] [--address ADDR] [--json FILE]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time

import lance
import lance_ray
import ray

import lancer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from create_index_vs_lance import SIZES, TYPES, Size, brute_force, dataset, held_out_queries, recall  # noqa: E402


def build(builder: str, uri: str, itype: str, size: Size, num_workers: int) -> float:
    # Lance's IndicesBuilder (lance-ray trains with it) refuses a sample_rate that asks for more
    # rows than there are (60,000 rows < 256 x 245 partitions): both builders get the largest
    # sample_rate it accepts.
    pq = itype.endswith("PQ")
    sample_rate = min(256, size.rows // max(size.nlist, 256 if pq else 1))
    kwargs = dict(num_workers=num_workers, num_partitions=size.nlist, sample_rate=sample_rate)
    if pq:
        kwargs["num_sub_vectors"] = size.m
    if itype == "IVF_RQ":  # lance-ray 0.5 needs it with pylance 14 (its default, 1, does not match)
        kwargs["num_bits"] = 5
    t = time.perf_counter()
    if builder == "lance-ray":
        lance_ray.create_index(uri, "vector", itype, **kwargs)
    else:
        lancer.create_index(uri, "vector", itype, engine="ray", progress=False, **kwargs)
    return time.perf_counter() - t


def fresh_copy(base: str, work: str, name: str) -> str:
    uri = os.path.join(work, name)
    shutil.rmtree(uri, ignore_errors=True)
    shutil.copytree(base, uri)
    return uri


def warm_up(work: str, num_workers: int) -> None:
    tiny = Size("warmup", 8_000, 32, 4, 16, 4)
    base = dataset(tiny, work)
    for builder in ("lance-ray", "lancer"):
        build(builder, fresh_copy(base, work, "warmup-run.lance"), "IVF_FLAT", tiny, num_workers)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="small,large")
    ap.add_argument("--types", default=",".join(TYPES))
    ap.add_argument("--num-workers", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--nprobes", type=int, default=20)
    ap.add_argument("--workdir", default="/tmp/lancer-bench")
    ap.add_argument("--address", help="an existing Ray cluster (default: start a local one on all cores)")
    ap.add_argument("--json", help="also write the rows as JSON here")
    args = ap.parse_args()
    os.makedirs(args.workdir, exist_ok=True)
    if args.address:
        ray.init(address=args.address, log_to_driver=False)
    else:
        ray.init(num_cpus=os.cpu_count(), log_to_driver=False, include_dashboard=False)
    print(f"Ray {ray.__version__}, {int(ray.cluster_resources().get('CPU', 0))} CPUs; lance-ray "
          f"{getattr(lance_ray, '__version__', '0.5.0')}; pylance {lance.__version__}; lancer {lancer.__version__}; "
          f"num_workers {args.num_workers}", flush=True)
    warm_up(args.workdir, args.num_workers)
    rows = []
    for name in args.sizes.split(","):
        size = SIZES[name]
        base = dataset(size, args.workdir)
        qs = held_out_queries(size, args.queries)
        truth = brute_force(base, size.dim, qs)
        for itype in args.types.split(","):
            row = {"size": f"{size.rows}x{size.dim}", "type": itype}
            for builder in ("lance-ray", "lancer"):
                times = []
                for _ in range(args.repeat):
                    uri = fresh_copy(base, args.workdir, f"run-{builder}.lance")
                    times.append(build(builder, uri, itype, size, args.num_workers))
                row[f"{builder}_s"] = min(times)
                row[f"{builder}_all_s"] = times
                row[f"{builder}_recall"] = recall(uri, qs, truth, [args.nprobes])[args.nprobes]
                row[f"{builder}_segments"] = len(lance.dataset(uri).describe_indices()[0].segments)
                shutil.rmtree(uri)
            row["speedup"] = row["lance-ray_s"] / row["lancer_s"]
            rows.append(row)
            print(f"{row['size']:>10} {itype:8}  lance-ray {row['lance-ray_s']:8.2f} s  lancer {row['lancer_s']:7.2f} s"
                  f"  {row['speedup']:5.1f}x   recall@10 lance-ray {row['lance-ray_recall']:.3f} "
                  f"({row['lance-ray_segments']} seg)  lancer {row['lancer_recall']:.3f} "
                  f"({row['lancer_segments']} seg)   runs: lance-ray "
                  f"{', '.join(f'{t:.2f}' for t in row['lance-ray_all_s'])}; lancer "
                  f"{', '.join(f'{t:.2f}' for t in row['lancer_all_s'])}", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=2)


if __name__ == "__main__":
    main()
