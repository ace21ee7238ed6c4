"""lance-ray's own vector-index tests (tests/test_distributed_indexing.py of the
lance-ray 0.5.0 sdist, fetched by scripts/setup.sh) with lance_ray.create_index
replaced by lancer.create_index, run as they are in a pytest subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SUITE = os.environ.get("LANCE_RAY_TESTS", os.path.join(REPO, "build", "third_party", "lance_ray-0.5.0", "tests"))
# Every test of the file that builds a vector index (IVF_FLAT / IVF_SQ / IVF_PQ)
# or checks create_index's argument rules.
VECTOR_TESTS = [
    "test_build_distributed_vector_index[IVF_FLAT]",
    "test_build_distributed_vector_index[IVF_SQ]",
    "test_build_distributed_vector_index[IVF_PQ]",
    "test_distributed_nested_vector_index_and_search[IVF_FLAT]",
    "test_distributed_nested_vector_index_and_search[IVF_PQ]",
    "TestNamespaceIndexing::test_distributed_vector_index_with_directory_namespace",
    "TestNamespaceIndexing::test_create_index_namespace_uri_mutual_exclusion",
    "TestNamespaceIndexing::test_create_index_namespace_requires_uri_or_namespace",
]


# The same test_build_distributed_vector_index over the types its parametrize leaves out
# (plugins/lance_ray_more_types.py). lance-ray's IVF_RQ tests in test_vector_index_options.py
# replace lance-ray's internals (IndicesBuilder, its fragment handler) with fakes and pass a fake
# dataset: they test lance-ray's plumbing, not a builder, so they are not run here;
# tests/python/test_api.py checks the behaviours they describe (num_bits, a shared rabitq_model).
MORE_TYPES = ["IVF_RQ", "IVF_HNSW_FLAT", "IVF_HNSW_SQ", "IVF_HNSW_PQ"]


def test_lance_ray_vector_tests_pass_with_lancer(tmp_path):
    pytest.importorskip("lance_ray")
    path = os.path.join(SUITE, "test_distributed_indexing.py")
    assert os.path.isfile(path), f"{path} is missing: run scripts/setup.sh (it fetches the lance-ray 0.5.0 sdist)"
    plugins = os.path.join(REPO, "tests", "python", "plugins")
    env = dict(os.environ, PYTHONPATH=plugins, LANCER_CALLS_FILE=str(tmp_path / "calls"), LANCE_RAY_TESTS=SUITE)
    junit = tmp_path / "junit.xml"
    argv = [sys.executable, "-m", "pytest", "-q", "-p", "lancer_as_lance_ray", "-o", "addopts=", "-p",
            "no:cacheprovider", f"--junitxml={junit}", "--rootdir", os.path.dirname(SUITE),
            *[f"{path}::{t}" for t in VECTOR_TESTS], os.path.join(plugins, "lance_ray_more_types.py")]
    r = subprocess.run(argv, cwd=os.path.dirname(SUITE), env=env, capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stdout[-6000:] + r.stderr[-3000:]
    cases = ET.parse(junit).getroot().iter("testcase")
    outcomes = {c.get("name"): [child.tag for child in c] for c in cases}
    assert len(outcomes) == len(VECTOR_TESTS) + len(MORE_TYPES), outcomes
    assert all(not tags for tags in outcomes.values()), outcomes  # no skip, failure or error
    assert int(open(tmp_path / "calls").read()) >= 6 + len(MORE_TYPES)  # the replaced create_index did the builds
