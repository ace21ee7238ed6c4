#!/usr/bin/env bash
# The check before a release (slow: not part of scripts/test.sh). Run as root on Debian 12:
#   1. builds the wheel (scripts/wheel.sh) and the Debian package (build-release/, cpack) into dist/,
#      and builds tests/install's find_package consumer against build-release's install;
#   2. writes a dataset with pylance (.venv) and makes a minimal Debian 12 root with debootstrap
#      (python3, python3-venv, ca-certificates: none of the -dev packages lancer builds with);
#   3. inside it, a fresh venv installs the wheel alone (pip fetches its declared dependencies) and
#      builds, searches and inspects indexes with the `lancer` command and the Python package;
#   4. pylance on this machine opens the result and searches it: Lance's rows and distances must be
#      the ones lancer returned inside the root;
#   5. inside the root, `apt-get install ./lancer_*.deb` (its Depends from Debian's mirrors), and the
#      packaged CLI returns the same search results as the wheel's.
# Run after scripts/setup.sh (the Debian packages, debootstrap among them; cargo; .venv with pylance).
# Needs network (Debian's mirrors, PyPI). LANCER_RELEASE_PYTHON: a python with pylance instead of
# .venv's; LANCER_RELEASE_KEEP_ROOT=1 keeps the root (build-release/debian12) afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
say() { printf '\n==> [%ss] %s\n' "$SECONDS" "$*"; }
[ "$(id -u)" -eq 0 ] || { echo "release_check.sh: needs root (debootstrap, chroot)"; exit 1; }
export PATH="$HOME/.cargo/bin:$PATH"

python=${LANCER_RELEASE_PYTHON:-$repo/.venv/bin/python}  # pylance: writes the dataset, checks the result
"$python" -c 'import lance' 2>/dev/null || { echo "release_check.sh: no pylance in $python: run scripts/setup.sh"; exit 1; }
command -v debootstrap >/dev/null || { echo "release_check.sh: no debootstrap: run scripts/setup.sh"; exit 1; }
version=$(sed -n 's/^project(lancer VERSION \([0-9.]*\).*/\1/p' CMakeLists.txt)

say "1. the wheel"
scripts/wheel.sh
wheel=$(ls dist/lancer-"$version"-*.whl)

say "1. the Debian package (build-release/: Release, object stores on, no tests)"
launcher=()
command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)
cmake -S . -B build-release -G Ninja -DCMAKE_BUILD_TYPE=Release -DLANCER_WERROR=ON -DLANCER_OBJECT_STORE=ON \
  -DLANCER_BUILD_TESTS=OFF -DLANCER_BUILD_BENCH=OFF "${launcher[@]}" >/dev/null
cmake --build build-release -j "${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc)}"
rm -f dist/lancer_"$version"_*.deb
cpack --config build-release/CPackConfig.cmake -B build-release/package >/dev/null
cp build-release/package/lancer_"$version"_*.deb dist/
deb=$(ls dist/lancer_"$version"_*.deb)
dpkg-deb -f "$deb" Package Version Architecture Depends Recommends
say "1. find_package(lancer) against build-release's install"
bash tests/install/find_package_test.sh build-release "$repo" "$version" | tail -3

say "2. a dataset written by pylance $("$python" -c 'import lance; print(lance.__version__)')"
root=$repo/build-release/debian12
mounted=()
cleanup() {
  for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do umount "${mounted[i]}" 2>/dev/null || true; done
  if [ "${LANCER_RELEASE_KEEP_ROOT:-0}" != 1 ]; then rm -rf "$root"; fi
}
trap cleanup EXIT
rm -rf "$root"
check=$root/check  # what the root sees as /check
mkdir -p "$check"
"$python" - "$check" <<'PY'
import sys
import lance, numpy as np, pyarrow as pa
out = sys.argv[1]
rng = np.random.default_rng(19)
centers = rng.standard_normal((64, 64)).astype(np.float32) * 4
vectors = (centers[rng.integers(0, 64, 20000)] + rng.standard_normal((20000, 64))).astype(np.float32)
table = pa.table({"id": pa.array(np.arange(20000)),
                  "vector": pa.FixedSizeListArray.from_arrays(pa.array(vectors.ravel()), 64)})
lance.write_dataset(table, f"{out}/vectors.lance", max_rows_per_file=5000)
np.save(f"{out}/queries.npy", vectors[rng.integers(0, 20000, 8)] + 0.1)
print(f"{out}/vectors.lance: 20000 x 64 float32 in 4 fragments; 8 queries")
PY
cp "$wheel" "$deb" "$check/"

say "2. a minimal Debian 12 root (debootstrap --variant=minbase)"
debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates bookworm "$root" \
  http://deb.debian.org/debian >"$repo/build-release/debootstrap.log" 2>&1 ||
  { tail -20 "$repo/build-release/debootstrap.log"; exit 1; }
mount -t proc proc "$root/proc" && mounted+=("$root/proc")
mount --bind /dev/pts "$root/dev/pts" && mounted+=("$root/dev/pts")  # apt's terminal log
cp /etc/resolv.conf "$root/etc/resolv.conf"
# This machine's CA bundle, for a network that re-signs TLS (PIP_CERT / pip.conf name it here).
cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/ca-certificates.crt"
in_root() {
  chroot "$root" /usr/bin/env -i PATH=/opt/lancer/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 \
    PIP_CERT=/etc/ssl/certs/ca-certificates.crt PIP_DISABLE_PIP_VERSION_CHECK=1 DEBIAN_FRONTEND=noninteractive \
    bash -euo pipefail -c "$1"
}
no_dev_packages() {
  local dev
  dev=$(in_root "dpkg-query -W -f '\${Package}\n' | grep -e '-dev\$' -e '-dev:' || true")
  [ -z "$dev" ] || { echo "-dev packages in the root: $dev"; exit 1; }
  echo "$(in_root "dpkg-query -W -f '\${Package}\n' | wc -l") Debian packages in the root, none of them -dev"
}
in_root 'cat /etc/debian_version; python3 --version'
no_dev_packages

say "3. a fresh venv in the root installs the wheel alone"
in_root "python3 -m venv /opt/lancer && pip install -q /check/${wheel##*/} && pip list --format=freeze"
in_root 'lancer --version'
in_root 'python -c "import lancer; v = lancer.__version__; print(repr(str(v)), v.git_revision, v.simd_in_use, v.blas_kernel, v.blas_library)"'
say "3. inspect, build (Python: IVF_PQ; CLI: IVF_HNSW_SQ on a copy), search, inspect"
in_root 'lancer inspect /check/vectors.lance'
# Lance searches a column through one of its indexes: one index per dataset, so pylance checks each.
in_root 'cp -r /check/vectors.lance /check/hnsw.lance'
in_root 'python - <<PY
import lancer
version = lancer.create_index("/check/vectors.lance", "vector", "IVF_PQ", engine="local", num_partitions=32,
                              num_sub_vectors=16, progress=False)
report = lancer.last_report()
print("committed version", version, {k: report[k] for k in ("index_type", "num_partitions", "rows") if k in report})
PY'
in_root 'lancer create-index /check/hnsw.lance --column vector --index-type IVF_HNSW_SQ --num-partitions 8 | tail -3'
in_root 'lancer search /check/vectors.lance --index vector_idx --vector-file /check/queries.npy -k 10 --nprobes 8 --json > /check/wheel_pq.json'
in_root 'lancer search /check/hnsw.lance --index vector_idx --vector-file /check/queries.npy -k 10 --nprobes 4 --json > /check/wheel_hnsw.json'
in_root 'lancer inspect /check/hnsw.lance | sed -n "/^indices/,\$p"'
in_root 'python -c "import lancer; print([(i[\"name\"], i[\"type\"]) for i in lancer.inspect(\"/check/vectors.lance\")[\"indices\"]])"'

say "4. pylance on this machine searches what the root built"
"$python" - "$check" <<'PY'
import json, sys
import lance, numpy as np
check = sys.argv[1]
queries = np.load(f"{check}/queries.npy")
for dataset, name, nprobes in (("vectors", "wheel_pq", 8), ("hnsw", "wheel_hnsw", 4)):
    ds = lance.dataset(f"{check}/{dataset}.lance")
    print(f"{dataset}.lance:", [(i["name"], i["type"]) for i in ds.list_indices()])
    ours = json.load(open(f"{check}/{name}.json"))
    same = 0
    for q, hits in zip(queries, ours):
        t = ds.to_table(nearest={"column": "vector", "q": q, "k": 10, "nprobes": nprobes},
                        with_row_id=True, columns=["_distance"])
        ids, dists = t["_rowid"].to_pylist(), t["_distance"].to_numpy()
        np.testing.assert_allclose([h["_distance"] for h in hits], dists, rtol=1e-4, atol=1e-6)
        same += [h["_rowid"] for h in hits] == ids
    print(f"{name}: {len(ours)} queries, Lance's distances; the same rows in the same order for {same}")
PY

say "5. apt-get install ./lancer_*.deb in the root"
in_root "apt-get update -qq && apt-get install -y -qq ./check/${deb##*/} >/dev/null && dpkg -s lancer | sed -n '/^Depends/p'"
no_dev_packages
in_root '/usr/bin/lancer --version'
in_root '/usr/bin/lancer search /check/vectors.lance --index vector_idx --vector-file /check/queries.npy -k 10 --nprobes 8 --json > /check/deb_pq.json'
cmp "$check/deb_pq.json" "$check/wheel_pq.json" && echo "the .deb's CLI returns the wheel's search results byte for byte"
say "release check passed: ${wheel##*/}, ${deb##*/}"
