#!/usr/bin/env bash
# The main job on an embedded default: installs and builds what it needs,
# writes a small sample Lance dataset, and inspects it with lancer.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
out=${1:-build/demo}
printf '\n==> writing a sample dataset to %s/sample.lance (pylance)\n' "$out"
.venv/bin/python scripts/make_sample_dataset.py "$out/sample.lance"
printf '\n==> build/lancer inspect %s/sample.lance\n' "$out"
build/lancer inspect "$out/sample.lance"
printf '\n==> build/lancer export %s/sample.lance --column vector --output %s/vectors.npy\n' "$out" "$out"
build/lancer export "$out/sample.lance" --column vector --output "$out/vectors.npy"
