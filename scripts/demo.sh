#!/usr/bin/env bash
# The main job on an embedded default: installs and builds what it needs,
# writes a small sample Lance dataset, inspects it, builds an IVF_PQ index
# with lancer, and shows that Lance itself plans and answers a query with it.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
out=${1:-build/demo}
say() { printf '\n==> %s\n' "$*"; }
say "writing a sample dataset to $out/sample.lance (pylance)"
.venv/bin/python scripts/make_sample_dataset.py "$out/sample.lance"
say "build/lancer inspect $out/sample.lance"
build/lancer inspect "$out/sample.lance"
say "build/lancer create-index $out/sample.lance --column vector --index-type IVF_PQ --report $out/report.json"
build/lancer create-index "$out/sample.lance" --column vector --index-type IVF_PQ --report "$out/report.json"
say "pylance opens the index lancer committed and searches with it"
.venv/bin/python scripts/query_sample.py "$out/sample.lance"
