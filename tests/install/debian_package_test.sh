#!/usr/bin/env bash
# debian_package_test.sh BUILD VERSION: cpacks BUILD's .deb into a temporary folder and checks it
# with dpkg-deb: the CLI in /usr/bin, Depends naming the runtime libraries (never a -dev package).
# Installing it for real happens in scripts/release_check.sh (apt-get install in a Debian root).
set -euo pipefail
build=$1 version=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

cpack --config "$build/CPackConfig.cmake" -B "$tmp" >/dev/null
deb=("$tmp"/lancer_"$version"_*.deb)
[ -f "${deb[0]}" ] || { echo "no lancer_${version}_*.deb in:"; ls "$tmp"; exit 1; }
dpkg-deb -I "${deb[0]}"
dpkg-deb -c "${deb[0]}" | tee "$tmp/contents"
grep -q ' ./usr/bin/lancer$' "$tmp/contents" || { echo "no /usr/bin/lancer in the package"; exit 1; }
depends=$(dpkg-deb -f "${deb[0]}" Depends)
for lib in libprotobuf libroaring libzstd libopenblas libstdc++ libc6; do
  grep -q "$lib" <<<"$depends" || { echo "Depends lacks $lib: $depends"; exit 1; }
done
if grep -q -- '-dev' <<<"$depends"; then echo "Depends names a -dev package: $depends"; exit 1; fi
echo "ok: ${deb[0]##*/}"
