#!/usr/bin/env bash
# find_package_test.sh BUILD SOURCE VERSION: installs BUILD into a temporary prefix, builds
# tests/install/consumer against it with find_package(lancer), runs it on a copy of a test dataset,
# and has the installed CLI read the index it built.
set -euo pipefail
build=$1 source=$2 version=$3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
prefix=$tmp/prefix

cmake --install "$build" --prefix "$prefix" >/dev/null
for f in bin/lancer include/lancer/create_index.h include/lancer/version.h lib/liblancer.a \
         lib/cmake/lancer/lancerConfig.cmake lib/cmake/lancer/lancerConfigVersion.cmake; do
  [ -e "$prefix/$f" ] || { echo "not installed: $f"; exit 1; }
done
# Only the public API: no stage headers, no stage archives.
extra=$(cd "$prefix" && find include lib -type f | grep -v -e '^include/lancer/' -e '^lib/cmake/lancer/' \
        -e '^lib/liblancer\.a$' -e '^lib/liblancer_object_store\.a$' || true)
[ -z "$extra" ] || { echo "installed beyond the public API:"; echo "$extra"; exit 1; }

generator=()
command -v ninja >/dev/null && generator=(-G Ninja)
cmake -S "$source/tests/install/consumer" -B "$tmp/consumer" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
cmake --build "$tmp/consumer" >/dev/null

cp -r "$source/tests/data/reader/f32x16_v2_1.lance" "$tmp/data.lance"
"$tmp/consumer/consumer" "$tmp/data.lance" "$version"
"$prefix/bin/lancer" inspect "$tmp/data.lance" | tee "$tmp/inspect.txt"
grep -q 'vector_idx.*IVF_FLAT' "$tmp/inspect.txt" || { echo "the installed CLI does not list vector_idx"; exit 1; }
