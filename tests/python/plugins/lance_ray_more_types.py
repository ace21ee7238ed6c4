"""lance-ray 0.5.0's test_build_distributed_vector_index, whose parametrize lists IVF_FLAT,
IVF_SQ and IVF_PQ only, run unchanged over the other vector index types lance-ray 0.5 builds.
Collected by tests/python/test_lance_ray_suite.py in its pytest subprocess (not by the suite
itself: the module imports lance-ray's test file from the fetched sdist)."""

import os
import sys

import pytest

sys.path.insert(0, os.environ["LANCE_RAY_TESTS"])
import test_distributed_indexing as lance_ray_tests  # noqa: E402


@pytest.mark.parametrize("index_type", ["IVF_RQ", "IVF_HNSW_FLAT", "IVF_HNSW_SQ", "IVF_HNSW_PQ"])
def test_build_distributed_vector_index_more_types(tmp_path, index_type):
    lance_ray_tests.test_build_distributed_vector_index(tmp_path, index_type)
