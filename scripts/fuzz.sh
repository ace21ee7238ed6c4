#!/usr/bin/env bash
# Builds the libFuzzer harnesses (fuzz/, LANCER_FUZZ=ON with clang) and runs each for N seconds,
# one at a time, then prints executions, coverage and crashes per harness (docs/fuzzing.md).
#
#   scripts/fuzz.sh --seconds N [--build-dir DIR] [--jobs J] [harness...]
#
# Harness names are the fuzz/fuzz_<name>.cc names (manifest, vector_page, ...); none = all.
# Seeds: DIR/fuzz-seeds, written once by scripts/fuzz_seeds.py (pylance from $PYTHON, default
# python3; with $LANCER_BIN, a lancer build's staging files too). The corpus each run grows is
# DIR/fuzz-corpus/<name>; a crashing input is saved as DIR/fuzz-artifacts/<name>-crash-*.
# Exit status 1 when any harness crashed, hung or leaked.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=60
build=build-fuzz
jobs=2
harnesses=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --seconds) seconds="$2"; shift 2 ;;
    --build-dir) build="$2"; shift 2 ;;
    --jobs) jobs="$2"; shift 2 ;;
    -h|--help) sed -n 2,11p "$0"; exit 0 ;;
    -*) echo "fuzz.sh: unknown option $1" >&2; exit 2 ;;
    *) harnesses+=("$1"); shift ;;
  esac
done
if [[ ${#harnesses[@]} -eq 0 ]]; then
  for f in fuzz/fuzz_*.cc; do
    [[ $f == fuzz/fuzz_support.cc ]] && continue
    name=$(basename "$f" .cc)
    harnesses+=("${name#fuzz_}")
  done
fi
command -v clang++ >/dev/null || { echo "fuzz.sh: needs clang (apt-get install clang)" >&2; exit 2; }

if [[ ! -f "$build/build.ninja" ]]; then
  CC=clang CXX=clang++ cmake -S . -B "$build" -G Ninja -DLANCER_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DLANCER_BUILD_TESTS=OFF -DLANCER_BUILD_BENCH=OFF -DLANCER_BUILD_CLI=OFF -DLANCER_INSTALL=OFF \
    -DLANCER_OBJECT_STORE=OFF $(command -v ccache >/dev/null && echo -DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)
fi
targets=()
for h in "${harnesses[@]}"; do targets+=("fuzz_$h"); done
cmake --build "$build" -j"$jobs" --target "${targets[@]}"

seeds="$build/fuzz-seeds"
if [[ ! -d "$seeds" ]]; then
  "${PYTHON:-python3}" scripts/fuzz_seeds.py "$seeds.tmp" ${LANCER_BIN:+--lancer "$LANCER_BIN"}
  mv "$seeds.tmp" "$seeds"
fi

# Harnesses write each input to a scratch file: memory, not disk, where there is /dev/shm.
[[ -d /dev/shm && -w /dev/shm ]] && export TMPDIR=/dev/shm
export ASAN_OPTIONS="${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
mkdir -p "$build/fuzz-artifacts" "$build/fuzz-logs"
failed=0
rows=()
for h in "${harnesses[@]}"; do
  corpus="$build/fuzz-corpus/$h"
  mkdir -p "$corpus"
  log="$build/fuzz-logs/$h.log"
  echo "== fuzz_$h for ${seconds}s"
  set +e
  # One process (-jobs=1 semantics): the machine is shared. -timeout: an input running 10 s is a hang.
  "$build/fuzz/fuzz_$h" "$corpus" "$seeds/$h" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$build/fuzz-artifacts/$h-" >"$log" 2>&1
  rc=$?
  set -e
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | tail -1 | grep -o '[0-9]*$' || echo 0)
  rate=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | tail -1 | grep -o '[0-9]*$' || echo 0)
  cov=$(grep -o 'cov: [0-9]* ft: [0-9]*' "$log" | tail -1 || true)
  result=ok
  if [[ $rc -ne 0 ]]; then
    result="FAILED (rc $rc): $(grep -m1 -o 'ERROR: [A-Za-z]*Sanitizer: [^ ]*\|runtime error: .*\|ERROR: libFuzzer: [a-z-]*' "$log" || echo see log)"
    failed=1
  fi
  rows+=("$(printf '%-18s %10s %8s  %-20s %s' "$h" "${execs:-0}" "${rate:-0}" "${cov:-?}" "$result")")
done
echo
printf '%-18s %10s %8s  %-20s %s\n' harness executions exec/s coverage result
printf '%s\n' "${rows[@]}"
echo "logs: $build/fuzz-logs, crashing inputs: $build/fuzz-artifacts"
exit $failed
