"""`lancer --version`: the version CMakeLists.txt sets, the git revision the binary was built from,
the SIMD level its kernels use (this CPU's, capped by LANCER_SIMD) and the BLAS kernels OpenBLAS
picked (OPENBLAS_CORETYPE forces them)."""

from __future__ import annotations

import os
import re
import subprocess

import pytest

from lancer_cli import REPO


def version_text(lancer, **env: str) -> dict:
    environ = {k: v for k, v in os.environ.items() if k not in ("LANCER_SIMD", "OPENBLAS_CORETYPE")}
    r = subprocess.run([lancer.lancer_bin(), "--version"], capture_output=True, text=True, timeout=60,
                       env={**environ, **env})
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    heads = {}
    for line in lines[1:]:
        key, _, rest = line.partition(": ")
        heads[key] = rest
    heads["first"] = lines[0]
    return heads


def cpu_simd_level() -> str:
    flags = set()
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
                break
    if {"avx2", "fma"} <= flags:
        return "avx512" if {"avx512f", "avx512bw", "avx512dq", "avx512vl"} <= flags else "avx2"
    return "scalar"


def test_version_and_git_revision(lancer):
    first = version_text(lancer)["first"]
    m = re.fullmatch(r"lancer (\S+) \(git (\S+)\)", first)
    assert m, first
    with open(os.path.join(REPO, "CMakeLists.txt")) as f:
        assert m.group(1) == re.search(r"project\(lancer VERSION ([0-9.]+)", f.read()).group(1)
    head = subprocess.run(["git", "-C", REPO, "rev-parse", "--short=12", "HEAD"], capture_output=True, text=True)
    if head.returncode != 0:
        pytest.skip("not a git checkout")
    # The revision the binary was built from: a binary older than HEAD fails here (rebuild it).
    assert m.group(2).removesuffix("-dirty") == head.stdout.strip()


def test_simd_level_in_use(lancer):
    cpu = cpu_simd_level()
    assert version_text(lancer)["SIMD"].startswith(f"{cpu} in use (this CPU: {cpu};")
    capped = version_text(lancer, LANCER_SIMD="scalar")["SIMD"]
    assert capped.startswith(f"scalar in use (this CPU: {cpu}, LANCER_SIMD=scalar;"), capped


def test_blas_kernel_and_library(lancer):
    blas = version_text(lancer)["BLAS"]
    m = re.fullmatch(r"OpenBLAS \S+ .*, kernel (\w+) from (\S+)", blas)
    assert m, blas
    assert os.path.exists(m.group(2))
    # Prescott (SSE3) runs on every x86-64 CPU: the line names what OpenBLAS actually loaded.
    forced = version_text(lancer, OPENBLAS_CORETYPE="Prescott")["BLAS"]
    assert ", kernel Prescott (OPENBLAS_CORETYPE=Prescott) from " in forced, forced


def test_mpi_and_object_store_lines(lancer):
    info = version_text(lancer)
    assert info["MPI"].startswith("Open MPI v") or info["MPI"] == "not built (LANCER_MPI=OFF)", info["MPI"]
    assert info["object stores"] in ("s3:// gs:// az://", "not built (LANCER_OBJECT_STORE=OFF)")
