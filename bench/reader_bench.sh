#!/usr/bin/env bash
# Reader throughput and peak memory: writes two >= 1 GB datasets with pylance
# (full-zip pages: 256-d f32; mini-block pages: 32-d f32; both file version
# 2.2), warms the page cache, then streams each on one thread.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${LANCER_BENCH_DIR:-build/bench-data}
mkdir -p "$dir"
[ -d "$dir/fullzip.lance" ] || .venv/bin/python bench/make_dataset.py "$dir/fullzip.lance" 1100000 256 2.2
[ -d "$dir/miniblock.lance" ] || .venv/bin/python bench/make_dataset.py "$dir/miniblock.lance" 8800000 32 2.2
for name in fullzip miniblock; do
  cat "$dir/$name.lance"/data/* > /dev/null
  echo "== $name"
  LANCER_BENCH_DATASET="$dir/$name.lance" taskset -c 0 build/bench/reader_bench --benchmark_min_time=3
done
