#!/usr/bin/env bash
# Builds the self-contained Python wheel into dist/:
#   lancer-<version>-cp3XX-cp3XX-manylinux_<glibc>_x86_64.whl
# scikit-build-core builds python/ (the module lancer._core and, for the `lancer` console command,
# the CLI without MPI, LANCER_WHEEL_CLI=ON) with the object-store backend into build-wheel/; then
# auditwheel copies the shared libraries they link (OpenBLAS and its Fortran runtime, protobuf,
# roaring, zstd) into the wheel and points both at the copies, and checks the manylinux tag.
# Needs what scripts/setup.sh installs (the Debian packages, cargo); makes its own .venv-wheel from
# requirements-wheel.txt. Idempotent; rebuilds incrementally.
set -euo pipefail
cd "$(dirname "$0")/.."
say() { printf '\n==> [%ss] %s\n' "$SECONDS" "$*"; }

export PATH="$HOME/.cargo/bin:$PATH"
if ! command -v cargo >/dev/null 2>&1; then
  echo "wheel.sh: cargo is needed (rustup): the wheel carries the object-store backend (s3://, gs://, az://)"
  exit 1
fi
venv=.venv-wheel
if ! { [ -x $venv/bin/python ] && cmp -s requirements-wheel.txt $venv/.requirements; }; then
  say "$venv: installing requirements-wheel.txt"
  python3 -m venv $venv
  $venv/bin/pip install -q --disable-pip-version-check -r requirements-wheel.txt
  cp requirements-wheel.txt $venv/.requirements
fi

settings=(-Cbuild-dir="$PWD/build-wheel/cmake" -Ccmake.define.LANCER_WHEEL_CLI=ON -Ccmake.define.LANCER_OBJECT_STORE=ON)
if command -v ccache >/dev/null 2>&1; then
  settings+=(-Ccmake.define.CMAKE_CXX_COMPILER_LAUNCHER=ccache -Ccmake.define.CMAKE_C_COMPILER_LAUNCHER=ccache)
fi
export CMAKE_BUILD_PARALLEL_LEVEL=${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc)}
rm -rf build-wheel/raw
say "building the wheel (python/, LANCER_WHEEL_CLI=ON, LANCER_OBJECT_STORE=ON) in build-wheel/"
$venv/bin/pip wheel -q --disable-pip-version-check --no-build-isolation --no-deps -w build-wheel/raw \
  "${settings[@]}" ./python
raw=(build-wheel/raw/lancer-*.whl)

say "auditwheel repair: the shared libraries into the wheel"
mkdir -p dist
version=$(sed -n 's/^project(lancer VERSION \([0-9.]*\).*/\1/p' CMakeLists.txt)
rm -f dist/lancer-"$version"-*.whl
PATH="$PWD/$venv/bin:$PATH" $venv/bin/auditwheel repair -w dist "${raw[0]}"
wheel=(dist/lancer-"$version"-*.whl)
$venv/bin/auditwheel show "${wheel[0]}"
say "wheel ready: ${wheel[0]}"
