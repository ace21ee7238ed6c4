#!/usr/bin/env bash
# Installs everything lancer needs on Debian 12 and builds it. Idempotent.
#   scripts/setup.sh            Debian packages, .venv (pinned), build/ (Release + warnings as errors),
#                               the lancer Python package into .venv, lance-ray's sdist tests
#                               into build/third_party
#   LANCER_SETUP_LANCE10=1      also the second oracle .venv-lance10 (pylance 10)
#   LANCER_SETUP_ASAN=1         also build-asan/ (AddressSanitizer + UBSan)
#   LANCER_SETUP_AZURITE=1      also Azurite (npm) into .azurite/, for the az:// tests
set -euo pipefail
cd "$(dirname "$0")/.."
say() { printf '\n==> [%ss] %s\n' "$SECONDS" "$*"; }

mapfile -t packages < <(grep -v '^\s*#' scripts/apt-packages.txt | grep -v '^\s*$')
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  say "apt-get install ${missing[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  say "Debian packages: all ${#packages[@]} present"
fi

make_venv() {  # dir requirements
  local dir=$1 req=$2 stamp="$1/.requirements"
  if [ -x "$dir/bin/python" ] && cmp -s "$req" "$stamp"; then
    say "$dir: up to date with $req"
    return
  fi
  say "$dir: installing $req"
  python3 -m venv "$dir"
  "$dir/bin/pip" install -q --disable-pip-version-check -r "$req"
  cp "$req" "$stamp"
}
make_venv .venv requirements.txt
if [ "${LANCER_SETUP_LANCE10:-0}" = 1 ]; then make_venv .venv-lance10 requirements-lance10.txt; fi

# The object-store backend (s3://, gs://, az://) is Rust: cargo from rustup, which machines of this
# kind have (Debian's rustc is too old). Without it lancer builds and refuses such URIs by name.
export PATH="$HOME/.cargo/bin:$PATH"
if command -v cargo >/dev/null 2>&1; then
  object_store=ON
else
  object_store=OFF
  say "note: no cargo found: building without object-store support (LANCER_OBJECT_STORE=OFF)"
fi
export CMAKE_ARGS="-DLANCER_OBJECT_STORE=$object_store"  # for the Python package's build too

build() {  # dir, extra cmake args...
  local dir=$1; shift
  say "building $dir"
  cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=Release -DLANCER_WERROR=ON -DLANCER_OBJECT_STORE=$object_store \
    "$@" >/dev/null
  cmake --build "$dir"
}
build build

# The Python package `lancer` (python/) into .venv; build-python/ keeps its build incremental.
say "pip install ./python (the lancer Python package)"
.venv/bin/pip install -q --disable-pip-version-check --no-build-isolation ./python

# lance-ray's own tests (in its sdist, not its wheel), run against lancer.create_index.
if [ ! -f build/third_party/lance_ray-0.5.0/tests/test_distributed_indexing.py ]; then
  say "fetching the lance-ray 0.5.0 sdist (for its tests)"
  mkdir -p build/third_party
  .venv/bin/pip download -q --disable-pip-version-check --no-deps --no-binary :all: lance-ray==0.5.0 \
    -d build/third_party
  tar xzf build/third_party/lance_ray-0.5.0.tar.gz -C build/third_party
fi
# Azurite (npm): the Azure Blob emulator the az:// tests run against (tests/oracle/s3_server.py).
if [ "${LANCER_SETUP_AZURITE:-0}" = 1 ]; then
  if command -v npm >/dev/null 2>&1; then
    if ! grep -qs '"version": "3.37.0"' .azurite/node_modules/azurite/package.json; then
      say "npm install azurite@3.37.0 into .azurite/ (for the az:// tests)"
      npm install --silent --no-audit --no-fund --prefix .azurite azurite@3.37.0
    fi
  else
    say "note: no npm: the az:// tests against Azurite will skip"
  fi
fi
if [ "${LANCER_SETUP_ASAN:-0}" = 1 ]; then
  # -O1 -g1 (line tables: ASan still names file and line): a clean build 9m14s -> 5m38s here, and the
  # corruption tests ran no slower (163 s against 192 s at -O2 -g).
  build build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DLANCER_SANITIZE=ON -DLANCER_BUILD_BENCH=OFF \
    "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -g1 -DNDEBUG" "-DCMAKE_C_FLAGS_RELWITHDEBINFO=-O1 -g1 -DNDEBUG"
fi
say "CLI ready: build/lancer"
