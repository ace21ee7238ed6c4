"""End-to-end IVF build: lancer create-index vs Lance's own create_index (pylance) on the
same clustered synthetic data with the same parameters, in one run. For each dataset and
index type it prints build seconds for both, their ratio, recall@10 of both indexes (both
searched by pylance, at --nprobes, over --queries held-out queries, against exact brute
force) and peak memory: lancer's from its --report (peak_rss_mb) and, like Lance's, the
max RSS of its process (/usr/bin/time). Lance builds in a child Python process so that
its peak RSS is its own.

Datasets (reused from --workdir if already written):
  small  200,000 x 128, 8 fragments, 447 partitions, 16 sub-vectors
  large   60,000 x 1024, 4 fragments, 245 partitions, 128 sub-vectors
  seed   1,280,000 x 2048 (10.5 GB of vectors, the brief's lance-ray figures), 10 fragments,
         round(sqrt(rows)) = 1,131 partitions, dim/16 = 128 sub-vectors (the defaults)
Both builders get Lance's defaults for what is not listed (IVF_RQ: num_bits 5; IVF_HNSW_*: m 20,
ef_construction 150, max_level 7; queries use Lance's default ef). With several --nprobes, recall
is measured at each and the table shows the last.
Each build runs on its own copy of the dataset, its data files hard-linked (Lance and lancer
never rewrite a data file), so the base dataset stays as written.

Usage:
  create_index_vs_lance.py [--sizes small,large] [--types IVF_FLAT,IVF_SQ,IVF_PQ (also IVF_RQ, IVF_HNSW_*)]
                           [--lance-types TYPES (default: --types; others build with lancer only)]
                           [--queries 1000] [--nprobes 20 (or a list: 1,10,20)] [--workdir /tmp/lancer-bench]
                           [--lancer PATH] [--threads T]
  create_index_vs_lance.py ROWS DIM INDEX_TYPE [NUM_PARTITIONS] [NUM_SUB_VECTORS]   (one custom case)
The lancer binary: --lancer, else $LANCER_BIN, else <repo>/build/lancer."""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass

import lance
import numpy as np
import pyarrow as pa

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TYPES = ["IVF_FLAT", "IVF_SQ", "IVF_PQ", "IVF_RQ", "IVF_HNSW_FLAT", "IVF_HNSW_SQ", "IVF_HNSW_PQ"]
TIME = "/usr/bin/time"
CENTRES, NOISE = 1000, 0.5
RECALL_CACHE_BYTES = 2 << 30


@dataclass
class Size:
    name: str
    rows: int
    dim: int
    fragments: int
    nlist: int
    m: int


SIZES = {
    "small": Size("small", 200_000, 128, 8, 447, 16),
    "large": Size("large", 60_000, 1024, 4, 245, 128),
    "seed": Size("seed", 1_280_000, 2048, 10, 1131, 128),
}


def clustered_batches(size: Size, seed: int = 0, batch: int = 20_000):
    """(ids, vectors) in batches: the writer never holds the whole dataset."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((CENTRES, size.dim)).astype(np.float32)
    for start in range(0, size.rows, batch):
        n = min(batch, size.rows - start)
        v = centres[rng.integers(0, CENTRES, n)] + NOISE * rng.standard_normal((n, size.dim), dtype=np.float32)
        yield np.arange(start, start + n), v.astype(np.float32)


def held_out_queries(size: Size, n: int) -> np.ndarray:
    rng = np.random.default_rng(0)  # the same centres as the data ...
    centres = rng.standard_normal((CENTRES, size.dim)).astype(np.float32)
    rng = np.random.default_rng(12345)  # ... but other draws
    return (centres[rng.integers(0, CENTRES, n)] + NOISE * rng.standard_normal((n, size.dim))).astype(np.float32)


def dataset(size: Size, workdir: str) -> str:
    uri = os.path.join(workdir, f"{size.name}-{size.rows}x{size.dim}-f{size.fragments}.lance")
    if os.path.isdir(uri):
        try:
            ds = lance.dataset(uri)
            if ds.count_rows() == size.rows and len(ds.get_fragments()) == size.fragments and not ds.list_indices():
                print(f"reusing {uri}", flush=True)
                return uri
        except Exception:
            pass
        shutil.rmtree(uri)
    schema = pa.schema([("id", pa.int64()), ("vector", pa.list_(pa.float32(), size.dim))])
    batches = (pa.record_batch([pa.array(ids), pa.FixedSizeListArray.from_arrays(pa.array(v.ravel()), size.dim)],
                               schema=schema) for ids, v in clustered_batches(size))
    t = time.perf_counter()
    lance.write_dataset(pa.RecordBatchReader.from_batches(schema, batches), uri,
                        max_rows_per_file=-(-size.rows // size.fragments))
    print(f"wrote {uri} in {time.perf_counter() - t:.1f} s", flush=True)
    return uri


def brute_force(uri: str, dim: int, qs: np.ndarray, k: int = 10, batch: int = 16_384):
    """Exact top-k row ids per query (float64), streaming the dataset in batches."""
    q = qs.astype(np.float64)
    qn = (q ** 2).sum(1)
    best_d = np.full((len(q), k), np.inf)
    best_id = np.zeros((len(q), k), dtype=np.uint64)
    for b in lance.dataset(uri).to_batches(columns=["vector"], with_row_id=True, batch_size=batch):
        v = b["vector"].flatten().to_numpy().reshape(-1, dim).astype(np.float64)
        d = (v ** 2).sum(1)[None, :] - 2 * (q @ v.T) + qn[:, None]
        ids = np.broadcast_to(b["_rowid"].to_numpy(), d.shape)
        all_d = np.concatenate([best_d, d], axis=1)
        all_id = np.concatenate([best_id, ids], axis=1)
        top = np.argsort(all_d, axis=1, kind="stable")[:, :k]
        best_d = np.take_along_axis(all_d, top, axis=1)
        best_id = np.take_along_axis(all_id, top, axis=1)
    return [set(row.tolist()) for row in best_id]


def clone(base: str, dest: str) -> str:
    """A copy of the dataset to build on: data files hard-linked, metadata copied."""
    def link_data(src, dst):
        if os.sep + "data" + os.sep in src:
            os.link(src, dst)
        else:
            shutil.copy2(src, dst)
    shutil.copytree(base, dest, copy_function=link_data)
    return dest


def warm(uri: str) -> None:
    """Reads the dataset's data files once, so that each build starts with them in the page cache
    (on a large set the previous build may have pushed them out; neither builder is charged for it)."""
    for root, _, files in os.walk(os.path.join(uri, "data")):
        for f in files:
            with open(os.path.join(root, f), "rb", buffering=0) as fh:
                while fh.read(16 << 20):
                    pass


def recall(uri: str, qs: np.ndarray, truth, nprobes, k: int = 10) -> dict:
    """{nprobes: recall@k} for each of `nprobes`. The index cache is bounded: at the seed shape an
    IVF_FLAT index is 10.5 GB, and an unbounded cache next to the dataset and both indexes' pages
    left this 24 GB machine reading from disk for minutes per query."""
    ds = lance.dataset(uri, index_cache_size_bytes=RECALL_CACHE_BYTES)
    out = {}
    for n in nprobes:
        hits = 0
        for q, exact in zip(qs, truth):
            got = ds.to_table(nearest={"column": "vector", "q": q, "k": k, "nprobes": n},
                              with_row_id=True, columns=["_distance"])["_rowid"].to_pylist()
            hits += len(set(got) & exact)
        out[n] = hits / (k * len(qs))
    return out


class BuildFailed(SystemExit):
    """A build that failed; `status` is its exit status in a few words."""

    def __init__(self, message: str, status: str):
        super().__init__(message)
        self.status = status


def timed(argv, rss_file):
    """Run argv (under /usr/bin/time when present); returns (seconds, max RSS MB or None, stdout).
    Raises BuildFailed (its message names the command and the exit status) when argv fails."""
    wrap = [TIME, "-f", "%M", "-o", rss_file] if os.access(TIME, os.X_OK) else []
    t = time.perf_counter()
    p = subprocess.run(wrap + argv, capture_output=True, text=True)
    s = time.perf_counter() - t
    if p.returncode != 0:
        # /usr/bin/time reports a child killed by a signal as "Command terminated by signal 9".
        killed = p.returncode in (137, -9) or "signal 9" in p.stderr
        status = f"exit {p.returncode}" + (", killed: out of memory?" if killed else "")
        raise BuildFailed(f"{' '.join(argv)} failed ({status}):\n{p.stderr[-3000:]}", status)
    rss = None
    if wrap:
        try:
            rss = int(open(rss_file).read().split()[-1]) / 1024
        except (OSError, ValueError, IndexError):
            pass
    return s, rss, p.stdout


LANCE_CHILD = """
import json, os, sys, time, lance, numpy as np
uri, itype, nlist, m, model = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
extra = {"num_sub_vectors": m} if itype.endswith("PQ") else {}
if itype == "IVF_RQ":
    extra["num_bits"] = 5
if model:  # lancer's IVF model (and PQ codebook): Lance trains nothing of them
    extra["ivf_centroids"] = np.load(os.path.join(model, "centroids.npy"))
    if os.path.exists(os.path.join(model, "codebook.npy")):
        extra["pq_codebook"] = np.load(os.path.join(model, "codebook.npy"))
ds = lance.dataset(uri)
t = time.perf_counter()
ds.create_index("vector", itype, metric="l2", num_partitions=nlist, sample_rate=256, max_iters=50, **extra)
print(json.dumps({"seconds": time.perf_counter() - t}))
"""


def save_model(uri: str, m: int, folder: str) -> str:
    """lancer's centroids (and PQ codebook, sub-vector-major in auxiliary.idx's global buffer 2)
    as .npy files for Lance's builder."""
    from lance.file import LanceFileReader
    os.makedirs(folder, exist_ok=True)
    ds = lance.dataset(uri)
    centroids = np.array(ds.stats.index_stats("vector_idx")["indices"][0]["centroids"], dtype=np.float32)
    np.save(os.path.join(folder, "centroids.npy"), centroids)
    aux = LanceFileReader(next(os.path.join(r, f) for r, _, fs in os.walk(os.path.join(uri, "_indices"))
                               for f in fs if f == "auxiliary.idx"))
    meta = json.loads(json.loads(aux.metadata().schema.metadata[b"storage_metadata"])[0])
    if "codebook_position" in meta:
        buf = bytes(aux.read_global_buffer(meta["codebook_position"]))
        sys.path.insert(0, os.path.join(REPO, "tests", "oracle"))
        import lanceraw as R
        data = R.first(R.parse_message(buf), 3).value
        dim = centroids.shape[1]
        np.save(os.path.join(folder, "codebook.npy"), np.frombuffer(data, dtype=np.float32).reshape(m, 256, dim // m))
    return folder


def run_case(size: Size, itype: str, base: str, work: str, lancer: str, qs, truth, args) -> dict:
    row = {"dataset": f"{size.rows}x{size.dim}", "type": itype}
    extra = ["--num-sub-vectors", str(size.m)] if itype.endswith("PQ") else []
    if itype == "IVF_RQ":
        extra += ["--num-bits", "5"]

    def lance_build(model: str = ""):
        row["lance_s"] = row["lance_rss_mb"] = row["lance_recall"] = None
        if itype not in args.lance_types:
            return
        theirs = clone(base, os.path.join(work, "lance.lance"))
        if args.warm:
            warm(theirs)
        try:
            _, rss, out = timed([args.lance_python, "-c", LANCE_CHILD, theirs, itype, str(size.nlist),
                                 str(size.m), model], os.path.join(work, "lance.rss"))
        except BuildFailed as e:  # Lance's failure is a result (its IVF_FLAT at the seed shape can run out of
            # memory on 24 GB): reported in the table, and lancer's build still runs
            row["lance_failed"] = e.status
            print(f"  lance build failed ({e.status}): {str(e)[-1500:]}", flush=True)
            shutil.rmtree(theirs, ignore_errors=True)
            return
        row["lance_s"], row["lance_rss_mb"] = json.loads(out.strip().splitlines()[-1])["seconds"], rss
        print(f"  lance built in {row['lance_s']:.2f} s (max RSS {fmt(rss, '.0f')} MB)", flush=True)
        row["lance_recalls"] = recall(theirs, qs, truth, args.nprobes)
        row["lance_recall"] = row["lance_recalls"][args.nprobes[-1]]
        shutil.rmtree(theirs)

    if not args.same_model:
        lance_build()
    ours = clone(base, os.path.join(work, "lancer.lance"))
    report = os.path.join(work, "report.json")
    argv = [lancer, "create-index", ours, "--column", "vector", "--index-type", itype, "--metric", "l2",
            "--num-partitions", str(size.nlist), "--sample-rate", "256", "--max-iters", "50", "--report", report,
            *extra] + (["--threads", str(args.threads)] if args.threads else [])
    if args.warm:
        warm(ours)
    row["lancer_s"], row["lancer_maxrss_mb"], _ = timed(argv, os.path.join(work, "lancer.rss"))  # fails: exits 1
    rep = json.load(open(report))
    row["lancer_peak_mb"], row["phases"] = rep.get("peak_rss_mb"), rep.get("phases_s")
    print(f"  lancer built in {row['lancer_s']:.2f} s (peak {fmt(row['lancer_peak_mb'], '.0f')} MB)", flush=True)
    row["lancer_recalls"] = recall(ours, qs, truth, args.nprobes)
    row["lancer_recall"] = row["lancer_recalls"][args.nprobes[-1]]
    if args.same_model:
        lance_build(save_model(ours, size.m, os.path.join(work, "model")))
    shutil.rmtree(ours)
    return row


def fmt(v, spec):
    return format(v, spec) if v is not None else "-".rjust(len(format(0.0, spec)))


def print_table(rows, args):
    builder = subprocess.run([args.lance_python, "-c", "import lance; print(lance.__version__)"],
                             capture_output=True, text=True).stdout.strip() or "?"
    print(f"\nbuild: lancer create-index vs pylance {builder} create_index (l2, sample_rate 256, "
          f"max_iters 50); recall@10 at nprobes {args.nprobes} over {args.queries} held-out queries vs brute force")
    print(f"{'dataset':12} {'type':13} {'lance s':>8} {'lancer s':>8} {'ratio':>6} {'R lance':>7} {'R lancer':>8} "
          f"{'lancer peak MB':>14} {'lancer maxRSS':>13} {'lance maxRSS':>12}")
    for r in rows:
        ratio = f"{r['lance_s'] / r['lancer_s']:5.1f}x" if r["lance_s"] is not None else "    - "
        print(f"{r['dataset']:12} {r['type']:13} {fmt(r['lance_s'], '8.2f')} {r['lancer_s']:8.2f} "
              f"{ratio} {fmt(r['lance_recall'], '7.3f')} {r['lancer_recall']:8.3f} "
              f"{fmt(r['lancer_peak_mb'], '14.0f')} {fmt(r['lancer_maxrss_mb'], '13.0f')} "
              f"{fmt(r['lance_rss_mb'], '12.0f')}")
    print("ratio = Lance seconds / lancer seconds; lancer peak MB = report peak_rss_mb; "
          "maxRSS = /usr/bin/time of the whole process (Lance's includes the Python interpreter)")
    for r in rows:
        if r.get("lance_failed"):
            print(f"  {r['dataset']} {r['type']} Lance's build failed: {r['lance_failed']}")
        print(f"  {r['dataset']} {r['type']} lancer phases: {json.dumps(r['phases'])}")
        if len(args.nprobes) > 1:
            print(f"    recall by nprobes, Lance: {json.dumps(r.get('lance_recalls'))}  "
                  f"lancer: {json.dumps(r['lancer_recalls'])}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("custom", nargs="*", help="ROWS DIM INDEX_TYPE [NUM_PARTITIONS] [NUM_SUB_VECTORS]")
    ap.add_argument("--sizes", default="small,large", help="comma-separated: " + ",".join(SIZES))
    ap.add_argument("--types", default=",".join(TYPES))
    ap.add_argument("--lance-types", help="the types Lance builds too (default: all of --types)")
    ap.add_argument("--queries", type=int, default=1000,
                    help="held-out queries for recall (1,000: a standard error of ~0.005 at recall 0.3)")
    ap.add_argument("--nprobes", default="20", help="one number or a comma-separated list")
    ap.add_argument("--workdir", default="/tmp/lancer-bench", help="datasets are kept and reused here")
    ap.add_argument("--lancer", default=os.environ.get("LANCER_BIN", os.path.join(REPO, "build", "lancer")))
    ap.add_argument("--threads", type=int, default=0, help="lancer --threads (default: all cores)")
    ap.add_argument("--no-warm", dest="warm", action="store_false",
                    help="do not read the dataset into the page cache before each build")
    ap.add_argument("--json", help="also write the rows as JSON here")
    ap.add_argument("--same-model", action="store_true",
                    help="Lance builds over lancer's IVF centroids (and PQ codebook): compares the rest of the "
                         "index (graphs, codes), not the training; Lance's time then excludes that training")
    ap.add_argument("--lance-python", default=sys.executable,
                    help="the Python that runs Lance's builder (e.g. .venv-lance10/bin/python for pylance 10); "
                         "recall is always measured with this process's pylance")
    args = ap.parse_args()
    args.nprobes = [int(n) for n in str(args.nprobes).split(",") if n.strip()]

    if args.custom:
        if len(args.custom) < 3:
            ap.error("custom case: ROWS DIM INDEX_TYPE [NUM_PARTITIONS] [NUM_SUB_VECTORS]")
        rows, dim, itype = int(args.custom[0]), int(args.custom[1]), args.custom[2]
        nlist = int(args.custom[3]) if len(args.custom) > 3 else int(round(rows ** 0.5))
        m = int(args.custom[4]) if len(args.custom) > 4 else (dim // 16 if dim % 16 == 0 else dim // 8)
        sizes, types = [Size("custom", rows, dim, max(1, rows // (1 << 20) + 1), nlist, m)], [itype]
    else:
        sizes = [SIZES[s.strip()] for s in args.sizes.split(",") if s.strip()]
        types = [t.strip().upper() for t in args.types.split(",") if t.strip()]
    args.lance_types = types if args.lance_types is None else [
        t.strip().upper() for t in args.lance_types.split(",") if t.strip()]
    for t in types + args.lance_types:
        if t not in TYPES:
            ap.error(f"unknown index type {t}")
    if not os.access(args.lancer, os.X_OK):
        ap.error(f"lancer binary not found at {args.lancer} (build it, or pass --lancer / set LANCER_BIN)")
    os.makedirs(args.workdir, exist_ok=True)

    results = []
    for size in sizes:
        base = dataset(size, args.workdir)
        qs = held_out_queries(size, args.queries)
        truth = brute_force(base, size.dim, qs)
        for itype in types:
            work = tempfile.mkdtemp(prefix="run-", dir=args.workdir)
            try:
                print(f"{size.rows} x {size.dim} {itype} nlist={size.nlist}"
                      + (f" m={size.m}" if itype.endswith("PQ") else "") + " ...", flush=True)
                results.append(run_case(size, itype, base, work, args.lancer, qs, truth, args))
                r = results[-1]
                print(f"  lance {fmt(r['lance_s'], '.2f')} s  lancer {r['lancer_s']:.2f} s  "
                      f"recall {fmt(r['lance_recall'], '.3f')} / {r['lancer_recall']:.3f}", flush=True)
            finally:
                shutil.rmtree(work, ignore_errors=True)
    print_table(results, args)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
