"""The `lancer` console command of the wheel: runs the CLI it carries (lancer/bin/lancer).

The wheel's CLI is the C++ one, built without MPI; a package built from source without it
(python/CMakeLists.txt, LANCER_WHEEL_CLI=OFF) says so and where else the CLI is.
"""

from __future__ import annotations

import os
import sys


def executable() -> str:
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), "bin", "lancer")


def main() -> None:
    path = executable()
    if not os.access(path, os.X_OK):
        sys.exit(f"lancer: this build of the Python package has no CLI ({path} is missing): install the wheel "
                 f"from scripts/wheel.sh, or build it with -DLANCER_WHEEL_CLI=ON, or use build/lancer")
    os.execv(path, [path, *sys.argv[1:]])
