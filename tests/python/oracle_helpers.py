"""Shared by the Python package's tests: the oracle suite's dataset writers and
CLI helpers (tests/oracle) on sys.path, and the index checks both files use.

Not a conftest.py: two conftest modules on sys.path would shadow each other."""

import os
import subprocess
import sys

ORACLE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "oracle")
if ORACLE not in sys.path:
    sys.path.append(ORACLE)

from lancer_cli import lancer_bin  # noqa: E402


def index_bytes(uri, name="vector_idx"):
    """index.idx and auxiliary.idx of the (one-segment) index `name`, as Lance lists it."""
    import lance

    (idx,) = [i for i in lance.dataset(uri).describe_indices() if i.name == name]
    folder = os.path.join(uri, "_indices", idx.segments[0].uuid)
    return {f: open(os.path.join(folder, f), "rb").read() for f in ("index.idx", "auxiliary.idx")}


def cli_build(uri, index_type, num_partitions, *extra):
    """`lancer create-index` on the `vector` column with 4 sub-vectors, asserting success."""
    argv = [lancer_bin(), "create-index", uri, "--column", "vector", "--index-type", index_type,
            "--num-partitions", str(num_partitions), "--num-sub-vectors", "4", *extra]
    r = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    return r
