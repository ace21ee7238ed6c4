"""engine="ray" on a local Ray cluster of two worker nodes (ray.cluster_utils)
of different kinds (one runs the generic kernels, as an old CPU would): the
index bytes equal engine="local" and the CLI's, Lance searches the index, and a
worker node removed in the middle of phase 2 does not change them."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import lance
import numpy as np
import pytest

ray = pytest.importorskip("ray")
from ray.cluster_utils import Cluster  # noqa: E402

from oracle_helpers import cli_build, index_bytes  # noqa: E402  (also puts tests/oracle on sys.path)
import lancer  # noqa: E402
from datasets import write_clustered  # noqa: E402

DIM = 16
TYPES = ["IVF_FLAT", "IVF_SQ", "IVF_PQ", "IVF_RQ", "IVF_HNSW_SQ"]
PARAMS = dict(num_partitions=12, num_sub_vectors=4)
# The worker nodes' environments: node 1 as a CPU without SIMD and OpenBLAS's generic core, node 2 its
# best (docs/decisions/same-bytes-any-hardware.md). Training spans both, phase 2 runs on both.
NODE_ENVS = [{"LANCER_SIMD": "scalar", "OPENBLAS_CORETYPE": "Prescott"}, {"LANCER_SIMD": "avx512"}]


@pytest.fixture(scope="module")
def cluster():
    """A head node without CPUs (the driver) and two worker nodes of one CPU each, of different kinds."""
    c = Cluster(initialize_head=True, head_node_args={"num_cpus": 0, "include_dashboard": False})
    workers = [c.add_node(num_cpus=1, env_vars=env) for env in NODE_ENVS]
    ray.init(address=c.address, log_to_driver=False)
    c.wait_for_nodes()
    yield c, workers
    ray.shutdown()
    c.shutdown()


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    uri = str(tmp_path_factory.mktemp("ray") / "base.lance")
    # 48 fragments of 1100 rows: 6 tasks of phase 2
    return uri, write_clustered(uri, 48, 1100, DIM, clusters=30, seed=11)


def copy(base, tmp_path, name):
    uri = str(tmp_path / name)
    shutil.copytree(base[0], uri)
    return uri


def lance_checks(uri, values, index_type):
    ds = lance.dataset(uri)
    (idx,) = ds.describe_indices()
    assert idx.index_type == index_type and idx.num_rows_indexed == len(values)
    q = values[17]
    nearest = {"column": "vector", "q": q, "k": 10, "nprobes": 12}
    assert idx.segments[0].uuid in ds.scanner(nearest=nearest).explain_plan(True)
    got = ds.to_table(nearest=nearest, columns=["id"])["id"].to_pylist()
    if index_type == "IVF_FLAT":  # every partition probed: exact
        exact = np.argsort(((values - q) ** 2).sum(1), kind="stable")[:10]
        assert sorted(got) == sorted(exact.tolist())
    else:
        assert len(got) == 10


def test_the_worker_nodes_differ(cluster):
    """The node environments reach the tasks; otherwise the byte comparisons below prove less."""
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    @ray.remote(num_cpus=1)
    def simd_setting():
        return os.environ.get("LANCER_SIMD")

    _, workers = cluster
    got = ray.get([simd_setting.options(scheduling_strategy=NodeAffinitySchedulingStrategy(w.node_id, soft=False))
                   .remote() for w in workers[:2]])
    assert got == [env["LANCER_SIMD"] for env in NODE_ENVS]


@pytest.mark.parametrize("index_type", TYPES)
def test_ray_equals_local_and_cli(cluster, base, tmp_path, index_type):
    on_ray = copy(base, tmp_path, "ray.lance")
    ds = lancer.create_index(on_ray, "vector", index_type, engine="ray", num_workers=2, progress=False, **PARAMS)
    report = lancer.last_report()
    assert ds.version == 2 and report["engine"] == "ray" and report["tasks"] == 6
    graph_tasks = PARAMS["num_partitions"] if "HNSW" in index_type else 0  # one per partition up to 32
    assert report["train_ranks"] == 2 and sum(w["tasks"] for w in report["workers"]) == 6 + graph_tasks
    assert not os.path.exists(os.path.join(on_ray, "_lancer"))
    lance_checks(on_ray, base[1], index_type)

    local = copy(base, tmp_path, "local.lance")
    lancer.create_index(local, "vector", index_type, engine="local", progress=False, **PARAMS)
    cli = copy(base, tmp_path, "cli.lance")
    cli_build(cli, index_type, 12)
    assert index_bytes(on_ray) == index_bytes(local) == index_bytes(cli)


def test_ray_on_an_object_store_needs_no_shared_folder(cluster, base, tmp_path):
    """Dataset and staging on S3 (moto on loopback), options given only to create_index: the
    workers reach both through the storage_options each task carries; training's two ranks
    exchange their parts through the bucket. The bytes equal the local build's."""
    import s3_server as S

    server = S.MotoServer.start()
    try:
        so = S.storage_options(server.endpoint)
        uri = f"s3://{S.BUCKET}/ray/ds.lance"
        lance.write_dataset(lance.dataset(base[0]).to_table(), uri, max_rows_per_file=1100, storage_options=so)
        local = str(tmp_path / "local.lance")
        lance.write_dataset(lance.dataset(base[0]).to_table(), local, max_rows_per_file=1100)
        ds = lancer.create_index(uri, "vector", "IVF_PQ", engine="ray", num_workers=2, progress=False,
                                 storage_options=so, **PARAMS)
        report = lancer.last_report()
        assert report["train_ranks"] == 2 and report["tasks"] == 6
        assert S.SECRET_KEY not in json.dumps(report)
        lancer.create_index(local, "vector", "IVF_PQ", engine="local", progress=False, **PARAMS)
        (idx,) = ds.describe_indices()
        got = {f: server.get(f"ray/ds.lance/_indices/{idx.segments[0].uuid}/{f}") for f in ("index.idx", "auxiliary.idx")}
        assert got == index_bytes(local)
        assert not [k for k in server.keys("ray/") if "/_lancer/" in k]
    finally:
        server.stop()


def test_more_workers_than_cpus_trains_on_the_cpus_there_are(cluster, base, tmp_path):
    """lance-ray's default num_workers=4 on a 2-CPU cluster: no waiting for CPUs that do not exist.
    Runs before any node is removed, while Ray's view of the cluster is exact."""
    uri = copy(base, tmp_path, "four.lance")
    lancer.create_index(uri, "vector", "IVF_SQ", progress=False, **PARAMS)  # num_workers=4 by default
    report = lancer.last_report()
    assert report["num_workers"] == 4 and report["train_ranks"] == 2


def test_bad_data_error_surfaces_and_leaves_nothing(cluster, base, tmp_path):
    uri = copy(base, tmp_path, "bad.lance")
    with pytest.raises(ValueError, match="num_partitions|partitions"):
        lancer.create_index(uri, "vector", "IVF_PQ", engine="ray", num_workers=2, progress=False,
                            num_partitions=100_000)
    assert not os.path.exists(os.path.join(uri, "_lancer"))
    assert lance.dataset(uri).version == 1


def test_a_rank_lost_during_training_restarts_training(cluster, base, tmp_path):
    reference = copy(base, tmp_path, "ref.lance")
    lancer.create_index(reference, "vector", "IVF_SQ", engine="local", progress=False, **PARAMS)
    uri = copy(base, tmp_path, "lost.lance")
    killed = tmp_path / "killed"
    lancer.create_index(uri, "vector", "IVF_SQ", engine="ray", num_workers=2, progress=False,
                        ray_remote_args={"runtime_env": {"env_vars": {"LANCER_FAULT_KILL_RANK_ONCE": str(killed)}}},
                        **PARAMS)
    assert killed.exists()  # rank 1 was SIGKILLed once
    assert lancer.last_report()["train_retries"] == 1
    assert index_bytes(uri) == index_bytes(reference)


def test_a_node_removed_during_phase_2_changes_nothing(cluster, base, tmp_path, monkeypatch):
    c, workers = cluster
    reference = copy(base, tmp_path, "ref.lance")
    lancer.create_index(reference, "vector", "IVF_PQ", engine="local", progress=False, **PARAMS)

    # Task results as the driver receives them (each names the node that built it).
    results = []
    real_get = ray.get

    def recording_get(refs, *args, **kwargs):
        out = real_get(refs, *args, **kwargs)
        if isinstance(out, dict) and "node" in out:
            results.append(out)
        return out

    monkeypatch.setattr(ray, "get", recording_get)
    removed = []

    def remove_a_busy_node(phase, done, total, finished):
        # Every task sleeps 1.5 s, two run at once on the two one-CPU nodes: when
        # the first is done, the other node is still building the second.
        if phase == "build" and done == 1 and not removed:
            busy = next(n for n in workers if n.node_id != results[-1]["node"])
            c.remove_node(busy, allow_graceful=False)
            removed.append(busy)

    uri = copy(base, tmp_path, "killed.lance")
    lancer.create_index(uri, "vector", "IVF_PQ", engine="ray", num_workers=2, progress=remove_a_busy_node,
                        ray_remote_args={"runtime_env": {"env_vars": {"LANCER_FAULT_TASK_DELAY_MS": "1500"}}},
                        **PARAMS)
    assert removed, "no node was removed"
    # One result per task: the one in flight on the removed node was built again elsewhere (or, when
    # its worker outlived its raylet long enough, reported anyway), never twice.
    assert len(results) == 6
    assert index_bytes(uri) == index_bytes(reference)
    lance_checks(uri, base[1], "IVF_PQ")
    workers.remove(removed[0])
    workers.append(c.add_node(num_cpus=1))  # for any test after this one
    c.wait_for_nodes(timeout=120)  # until Ray counts the removed node as dead and the new one as alive


def test_starts_a_local_cluster_when_none_is_running(base, tmp_path):
    """Without ray.init() by the caller (and no RAY_ADDRESS), engine="ray" starts its own."""
    uri = copy(base, tmp_path, "own.lance")
    code = ("import ray, lancer; assert not ray.is_initialized(); "
            f"ds = lancer.create_index({uri!r}, 'vector', 'IVF_FLAT', num_workers=2, progress=False, "
            "num_partitions=12); assert ray.is_initialized(); print(ds.version, lancer.last_report()['engine'])")
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, env=env)
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stdout.split()[-2:] == ["2", "ray"]

