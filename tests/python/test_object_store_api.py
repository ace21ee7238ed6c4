"""The Python package on an object store (moto's S3 server on loopback): storage_options on
every function, a LanceDataset's own options used when none are given, the per-phase functions
and cleanup; credentials never in what lancer returns."""

from __future__ import annotations

import json

import lance
import numpy as np
import pytest

from oracle_helpers import index_bytes  # noqa: F401  (puts tests/oracle on sys.path)
import lancer  # noqa: E402
import s3_server as S  # noqa: E402
from datasets import write_clustered  # noqa: E402

PARAMS = dict(num_partitions=8, num_sub_vectors=4)

pytestmark = pytest.mark.skipif(not lancer._core.object_store_supported(),
                                reason="lancer built without the object-store backend (no cargo)")


@pytest.fixture(scope="module")
def s3():
    server = S.MotoServer.start()
    yield server
    server.stop()


def dataset_on(s3, key, tmp_path):
    so = S.storage_options(s3.endpoint)
    uri = f"s3://{S.BUCKET}/{key}"
    values = write_clustered(str(tmp_path / "local.lance"), 4, 500, 16, clusters=8, seed=3)
    lance.write_dataset(lance.dataset(str(tmp_path / "local.lance")).to_table(), uri, max_rows_per_file=500,
                        storage_options=so)
    return uri, so, values


def test_create_index_with_options_or_a_lance_dataset(s3, tmp_path):
    uri, so, values = dataset_on(s3, "api/ds.lance", tmp_path)
    ds = lancer.create_index(uri, "vector", "IVF_PQ", engine="local", progress=False, storage_options=so, **PARAMS)
    assert isinstance(ds, lance.LanceDataset) and ds.version == 2
    assert S.SECRET_KEY not in json.dumps(lancer.last_report())
    # A LanceDataset opened with options: they are used when none are given.
    opened = lance.dataset(uri, storage_options=so)
    ds = lancer.create_index(opened, "vector", "IVF_SQ", name="sq_idx", engine="local", progress=False,
                             num_partitions=8)
    assert sorted(i.name for i in ds.describe_indices()) == ["sq_idx", "vector_idx"]
    info = lancer.inspect(uri, storage_options=so)
    assert info["uri"] == uri and len(info["indices"]) == 2
    got = ds.to_table(nearest={"column": "vector", "q": values[5], "k": 3, "nprobes": 8}, columns=["id"])
    assert got["id"].to_pylist()[0] == 5
    local = str(tmp_path / "local.lance")
    lancer.create_index(local, "vector", "IVF_PQ", engine="local", progress=False, **PARAMS)
    (idx,) = [i for i in ds.describe_indices() if i.name == "vector_idx"]
    s3_bytes = {f: s3.get(f"api/ds.lance/_indices/{idx.segments[0].uuid}/{f}") for f in ("index.idx", "auxiliary.idx")}
    assert s3_bytes == index_bytes(local)


def test_phase_functions_and_supplied_centroids_on_s3(s3, tmp_path):
    uri, so, values = dataset_on(s3, "phases/ds.lance", tmp_path)
    centroids = values[:8].copy()
    kw = dict(storage_options=so, ivf_centroids=centroids, **PARAMS)
    planned = lancer.plan(uri, "vector", "IVF_PQ", **kw)
    assert planned["staging"].startswith(uri + "/_lancer/")
    lancer.train(uri, "vector", "IVF_PQ", **kw)
    for t in range(planned["tasks"]):
        lancer.build_task(uri, "vector", "IVF_PQ", task=t, **kw)
    ds = lancer.finalize(uri, "vector", "IVF_PQ", **kw)
    assert ds.version == 2
    assert not [k for k in s3.keys("phases/") if "/_lancer/" in k], "staging or inputs left behind"


def test_cleanup_after_a_failed_build_on_s3(s3, tmp_path):
    uri, so, _ = dataset_on(s3, "cleanup/ds.lance", tmp_path)
    lancer.plan(uri, "vector", "IVF_FLAT", storage_options=so, num_partitions=8)
    assert [k for k in s3.keys("cleanup/") if "/_lancer/" in k]
    removed = lancer.cleanup(uri, storage_options=so)
    assert removed and all(r.startswith(uri) for r in removed)
    assert not [k for k in s3.keys("cleanup/") if "/_lancer/" in k]


def test_schemes_it_cannot_commit_to(tmp_path):
    with pytest.raises(NotImplementedError, match="DynamoDB"):
        lancer.create_index("s3+ddb://b/ds?ddbTableName=t", "vector", "IVF_PQ", engine="local")
    with pytest.raises(NotImplementedError, match="cos://"):
        lancer.inspect("cos://b/ds")
