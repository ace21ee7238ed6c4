"""lancer.__version__: the distribution's version (CMakeLists.txt's), carrying what the C++ core was
built from and runs with; the wheel's `lancer` command prints the same."""

from __future__ import annotations

import importlib.metadata
import os
import re
import subprocess
import sys

import pytest

import lancer

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_version_is_the_distributions():
    assert isinstance(lancer.__version__, str)
    assert lancer.__version__ == importlib.metadata.version("lancer")
    with open(os.path.join(REPO, "CMakeLists.txt")) as f:
        assert lancer.__version__ == re.search(r"project\(lancer VERSION ([0-9.]+)", f.read()).group(1)


def test_build_details():
    v = lancer.__version__
    assert re.fullmatch(r"[0-9a-f]{12}(-dirty)?|unknown", v.git_revision), v.git_revision
    assert v.simd_cpu in v.simd_kernels and v.simd_in_use in v.simd_kernels
    assert v.blas.startswith("OpenBLAS") and v.blas_kernel, v.blas
    assert os.path.exists(v.blas_library), v.blas_library
    assert v.details.splitlines()[0] == f"lancer {v} (git {v.git_revision})"


def test_simd_level_follows_lancer_simd():
    code = "import lancer; v = lancer.__version__; print(v.simd_in_use, v.simd_cpu)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "LANCER_SIMD": "scalar"}).stdout.split()
    assert out[0] == "scalar" and out[1] == lancer.__version__.simd_cpu


def test_console_command_prints_the_same():
    from lancer._cli import executable
    if not os.access(executable(), os.X_OK):
        pytest.skip("this build of the package carries no CLI (LANCER_WHEEL_CLI=OFF)")
    out = subprocess.run([executable(), "--version"], capture_output=True, text=True, check=True).stdout
    assert out.startswith(lancer.__version__.details.split("\nBLAS")[0])
