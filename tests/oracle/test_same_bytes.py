"""Same index bytes on any hardware (issue 14).

Every build of one dataset with one set of parameters and seed must write the same index files,
whatever computes it: the SIMD level (LANCER_SIMD caps it, as an older CPU would), the BLAS kernels
the environment forces (OPENBLAS_CORETYPE, OPENBLAS_L2_SIZE), the thread count, and MPI ranks that
each run on a different kind of node. IVF_FLAT, IVF_SQ and IVF_PQ; l2, cosine and dot.

By default this is the fast part of the matrix, part of the suite: a small dataset, each node kind
once, and a two-rank MPI build that mixes the two furthest apart. The release check runs the whole
matrix (every OPENBLAS_CORETYPE x LANCER_SIMD pair, three mixed ranks) on the issue's two sizes,
200,000 x 128 and 60,000 x 1024, and prints one digest per size, type and metric:

    LANCER_SAME_BYTES=full .venv/bin/python -m pytest -s tests/oracle/test_same_bytes.py

(30-45 minutes on 2 cores; 43.6 min measured while another build ran). Ray workers on differing nodes are in tests/python/test_ray_engine.py.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import shutil
import subprocess

import pytest

from datasets import write_clustered
from lancer_cli import lancer_bin

FULL = os.environ.get("LANCER_SAME_BYTES") == "full"
MPIRUN = shutil.which("mpirun")
TYPES = ["IVF_FLAT", "IVF_SQ", "IVF_PQ", "IVF_RQ", "IVF_HNSW_FLAT", "IVF_HNSW_SQ", "IVF_HNSW_PQ"]
METRICS = ["l2", "cosine", "dot"]
# What the environment may set, removed for the reference build.
HARDWARE_VARS = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "LANCER_SIMD")
# Node kinds: (OpenBLAS core type, SIMD level, extra variables). LANCER_SIMD above what this CPU has is
# capped to it; lancer makes no BLAS call while it builds, so any core type is safe to name here.
NODES = {
    "generic": {"OPENBLAS_CORETYPE": "Prescott", "LANCER_SIMD": "scalar"},
    "avx2": {"OPENBLAS_CORETYPE": "Haswell", "LANCER_SIMD": "avx2", "OPENBLAS_L2_SIZE": "262144"},
    "avx512": {"OPENBLAS_CORETYPE": "SkylakeX", "LANCER_SIMD": "avx512"},
}


class Size:
    def __init__(self, name, fragments, rows_per_fragment, dim, partitions, sub_vectors):
        self.name, self.fragments, self.rows_per_fragment, self.dim = name, fragments, rows_per_fragment, dim
        self.partitions, self.sub_vectors = partitions, sub_vectors


SIZES = ([Size("200000x128", 8, 25_000, 128, 447, 16), Size("60000x1024", 4, 15_000, 1024, 245, 128)] if FULL
         else [Size("9000x48", 6, 1500, 48, 24, 8)])


def clean_env(**extra):
    env = {k: v for k, v in os.environ.items() if k not in HARDWARE_VARS}
    env.update(OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
               OMPI_MCA_btl_vader_single_copy_mechanism="none", OMPI_MCA_rmaps_base_oversubscribe="1")
    env.update(extra)
    return env


def build_args(uri, size, index_type, metric, threads):
    return ["create-index", uri, "--column", "vector", "--index-type", index_type, "--metric", metric,
            "--num-partitions", str(size.partitions), "--num-sub-vectors", str(size.sub_vectors), "--seed", "7",
            "--threads", str(threads)]


def run(argv, env):
    r = subprocess.run(argv, capture_output=True, text=True, timeout=3600, env=env)
    assert r.returncode == 0, f"{' '.join(argv)} failed ({r.returncode}):\n{r.stdout}\n{r.stderr}"


def digest(uri):
    (folder,) = glob.glob(os.path.join(uri, "_indices", "*"))
    h = hashlib.sha256()
    for name in ("index.idx", "auxiliary.idx"):
        with open(os.path.join(folder, name), "rb") as f:
            h.update(f.read())
    return h.hexdigest()[:16]


def fresh(base, tmp_path, name):
    uri = str(tmp_path / f"{name}.lance")
    shutil.rmtree(uri, ignore_errors=True)
    shutil.copytree(base, uri)
    return uri


@pytest.fixture(scope="module", params=SIZES, ids=lambda s: s.name)
def dataset(request, tmp_path_factory):
    size = request.param
    uri = str(tmp_path_factory.mktemp("same-bytes") / "base.lance")
    write_clustered(uri, size.fragments, size.rows_per_fragment, size.dim, clusters=200, seed=14)
    return size, uri


def one_process(base, tmp_path, size, index_type, metric, name, env, threads):
    uri = fresh(base, tmp_path, name)
    run([lancer_bin(), *build_args(uri, size, index_type, metric, threads)], env)
    d = digest(uri)
    shutil.rmtree(uri)
    return d


def mixed_ranks(base, tmp_path, size, index_type, metric, nodes):
    """One MPI build whose ranks run as different node kinds (mpirun's MPMD form: A : B : C)."""
    uri = fresh(base, tmp_path, "mpi")
    argv = [MPIRUN, "--oversubscribe"]
    for i, node in enumerate(nodes):
        if i:
            argv.append(":")
        argv += ["-np", "1"]
        for k, v in NODES[node].items():
            argv += ["-x", f"{k}={v}"]
        argv += [lancer_bin(), *build_args(uri, size, index_type, metric, 1)]
    run(argv, clean_env())
    d = digest(uri)
    shutil.rmtree(uri)
    return d


@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("index_type", TYPES)
def test_one_digest_whatever_the_hardware(dataset, tmp_path, index_type, metric):
    size, base = dataset
    reference = one_process(base, tmp_path, size, index_type, metric, "reference", clean_env(), 2)
    digests = {"reference (nothing set, 2 threads)": reference}
    if FULL:
        for core in ("Prescott", "Haswell", "SkylakeX"):
            for simd in ("scalar", "avx2", "avx512"):
                env = clean_env(OPENBLAS_CORETYPE=core, LANCER_SIMD=simd)
                digests[f"{core} x {simd}"] = one_process(base, tmp_path, size, index_type, metric, "one", env, 2)
    else:
        for i, (node, extra) in enumerate(NODES.items()):
            digests[node] = one_process(base, tmp_path, size, index_type, metric, "one", clean_env(**extra), 1 + i % 2)
    if MPIRUN:
        nodes = ["generic", "avx2", "avx512"] if FULL else ["generic", "avx512"]
        digests["mpi " + " + ".join(nodes)] = mixed_ranks(base, tmp_path, size, index_type, metric, nodes)
    print(json.dumps({"size": size.name, "index_type": index_type, "metric": metric, "digests": digests}))
    assert set(digests.values()) == {reference}, json.dumps(digests, indent=1)


def version_says(text):
    """Whether `lancer --version` mentions `text` (the reduced-precision paths this machine runs)."""
    r = subprocess.run([lancer_bin(), "--version"], capture_output=True, text=True, env=clean_env())
    return r.returncode == 0 and text in r.stdout


# Wide enough (d >= 64, k >= 32) for the bfloat16 proposal: the index bytes equal the exact kernel's alone.
BF16_SIZES = [Size("4000x96", 4, 1000, 96, 40, 12), Size("2400x1024", 3, 800, 1024, 32, 64)]


@pytest.mark.parametrize("size", BF16_SIZES, ids=lambda s: s.name)
@pytest.mark.parametrize("index_type", ["IVF_FLAT", "IVF_PQ", "IVF_RQ"])
def test_reduced_precision_gives_the_exact_kernels_bytes(tmp_path, size, index_type):
    if not version_says("AVX512-BF16 proposal"):
        pytest.skip("no AVX512-BF16 here (lancer --version): nothing to compare")
    base = str(tmp_path / "base.lance")
    write_clustered(base, size.fragments, size.rows_per_fragment, size.dim, clusters=60, seed=21)
    for metric in METRICS:
        proposed = one_process(base, tmp_path, size, index_type, metric, "bf16", clean_env(), 2)
        exact = one_process(base, tmp_path, size, index_type, metric, "fp32", clean_env(LANCER_BF16="0"), 2)
        assert proposed == exact, f"{index_type} {metric} {size.name}: {proposed} != {exact}"
        if version_says("on AMX tiles"):  # the products on AVX-512 instead of AMX's tiles
            vector = one_process(base, tmp_path, size, index_type, metric, "noamx", clean_env(LANCER_AMX="0"), 2)
            assert vector == exact, f"{index_type} {metric} {size.name} without AMX: {vector} != {exact}"
