"""The lancer Python package without Ray: engine="local", the per-phase
functions, argument handling and errors, judged by bytes and by Lance."""

from __future__ import annotations

import glob
import hashlib
import json
import os
import shutil
import subprocess
import sys

import lance
import numpy as np
import pyarrow as pa
import pytest
import lance.file

from oracle_helpers import cli_build, index_bytes  # also puts tests/oracle on sys.path
import lancer
from datasets import write_clustered

DIM = 16
TYPES = ["IVF_FLAT", "IVF_SQ", "IVF_PQ", "IVF_RQ", "IVF_HNSW_FLAT", "IVF_HNSW_SQ", "IVF_HNSW_PQ"]
PARAMS = dict(num_partitions=8, num_sub_vectors=4)


def tree_digest(root):
    out = {}
    for dirpath, _, files in os.walk(root):
        for f in files:
            p = os.path.join(dirpath, f)
            out[os.path.relpath(p, root)] = hashlib.sha256(open(p, "rb").read()).hexdigest()
    return out


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    uri = str(tmp_path_factory.mktemp("api") / "base.lance")
    return uri, write_clustered(uri, 6, 3000, DIM, clusters=12, seed=5)


@pytest.fixture
def uri(base, tmp_path):
    dst = str(tmp_path / "ds.lance")
    shutil.copytree(base[0], dst)
    return dst


@pytest.mark.parametrize("index_type", TYPES)
def test_local_engine_matches_the_cli_and_lance_searches_it(base, uri, tmp_path, index_type):
    ds = lancer.create_index(uri, "vector", index_type, engine="local", progress=False, **PARAMS)
    assert isinstance(ds, lance.LanceDataset) and ds.version == 2
    report = lancer.last_report()
    assert report["engine"] == "local" and report["rows"] == len(base[1]) and report["version"] == 2
    assert set(report["phases_s"]) == {"sample", "train_ivf", "train_quantizer", "build", "graph", "merge",
                                       "commit", "total"}
    other = str(tmp_path / "cli.lance")
    shutil.copytree(base[0], other)
    cli_build(other, index_type, 8)
    assert index_bytes(uri) == index_bytes(other)
    idx = ds.describe_indices()[0]
    assert idx.num_rows_indexed == len(base[1])
    q = base[1][3]
    plan = ds.scanner(nearest={"column": "vector", "q": q, "k": 5, "nprobes": 8}).explain_plan(True)
    assert idx.segments[0].uuid in plan


def test_ivf_rq_num_bits_and_a_lance_rabitq_model(uri, tmp_path):
    """IVF_RQ builds pylance 14's default of 5 bits unless told (lance-ray 0.5 documents 1, from
    older Lance), says so in the report, and takes Lance's own RaBitQ model for its rotation."""
    ds = lancer.create_index(uri, "vector", "IVF_RQ", engine="local", progress=False, num_partitions=8)
    assert lancer.last_report()["num_bits"] == 5
    meta = json.loads(json.loads(lance.file.LanceFileReader(
        glob.glob(os.path.join(uri, "_indices", "*", "auxiliary.idx"))[0]).metadata().schema.metadata[
            b"storage_metadata"])[0])
    assert meta["num_bits"] == 5
    assert ds.describe_indices()[0].index_type == "IVF_RQ"
    # a lance-ray 0.5 call: num_bits=1 and the model lance-ray trains with build_rq_model
    from lance.lance import indices
    model = indices.build_rq_model(DIM, num_bits=1)
    lancer.create_index(uri, "vector", "IVF_RQ", name="rq1", engine="local", progress=False, num_partitions=8,
                        num_bits=1, rabitq_model=model)
    assert lancer.last_report()["num_bits"] == 1
    [aux] = [p for p in glob.glob(os.path.join(uri, "_indices", "*", "auxiliary.idx"))
             if json.loads(json.loads(lance.file.LanceFileReader(p).metadata().schema.metadata[
                 b"storage_metadata"])[0])["num_bits"] == 1]
    signs = json.loads(json.loads(lance.file.LanceFileReader(aux).metadata().schema.metadata[
        b"storage_metadata"])[0])["fast_rotation_signs"]
    assert signs == json.loads(model)["fast_rotation_signs"]
    with pytest.raises(ValueError, match="num_bits"):
        lancer.create_index(uri, "vector", "IVF_RQ", name="rq5", engine="local", progress=False,
                            num_partitions=8, num_bits=5, rabitq_model=model)


def test_accepts_a_lance_dataset_and_returns_the_new_version(uri):
    before = lance.dataset(uri)
    ds = lancer.create_index(before, "vector", "ivf_flat", name="v", engine="local", progress=False, **PARAMS)
    assert ds.version == before.version + 1
    assert [i.name for i in ds.describe_indices()] == ["v"]
    assert lancer.inspect(uri)["indices"][0]["name"] == "v"
    assert lancer.inspect(uri, version=1)["indices"] == []


def test_the_ray_engine_is_handed_the_largest_tasks_first(tmp_path):
    # One task per fragment (each above the 8,192-row minimum), of unequal sizes.
    uri = str(tmp_path / "unequal.lance")
    rng = np.random.default_rng(3)
    for i, rows in enumerate([9000, 20000, 12000, 30000]):
        table = pa.table({"vector": pa.FixedSizeListArray.from_arrays(
            pa.array(rng.standard_normal(rows * 4, dtype=np.float32)), 4)})
        lance.write_dataset(table, uri, mode="append" if i else "create")
    opts = dict(num_partitions=4)
    assert lancer.plan(uri, "vector", "IVF_FLAT", **opts)["tasks"] == 4
    with lancer._api._phase_options(uri, "vector", "IVF_FLAT", None, opts) as (options, _):
        assert lancer._core.missing(options, "encode") == [3, 1, 2, 0]
        lancer.train(uri, "vector", "IVF_FLAT", **opts)
        lancer.build_task(uri, "vector", "IVF_FLAT", task=1, **opts)
        assert lancer._core.missing(options, "encode") == [3, 2, 0]


def test_per_phase_functions_give_the_same_bytes(base, uri, tmp_path):
    args = (uri, "vector", "IVF_PQ")
    planned = lancer.plan(*args, **PARAMS)
    assert planned["tasks"] >= 2 and not planned["trained"] and planned["missing_tasks"] == list(
        range(planned["tasks"]))
    lancer.train(*args, **PARAMS)
    with pytest.raises(ValueError, match="not built yet"):
        lancer.finalize(*args, **PARAMS)
    assert lancer.build_task(*args, task=0, **PARAMS)["task"] == 0
    # A fresh plan (as a resumed Ray engine makes) sees the finished task (it listed every task).
    assert lancer.plan(*args, **PARAMS)["missing_tasks"] == list(range(1, planned["tasks"]))
    for t in reversed(range(1, planned["tasks"])):
        assert lancer.build_task(*args, task=t, **PARAMS)["task"] == t
    assert lancer.plan(*args, **PARAMS)["missing_tasks"] == []
    assert lancer.build_task(*args, task=0, **PARAMS)["reused"]
    ds = lancer.finalize(*args, **PARAMS)
    assert ds.version == 2 and not os.path.exists(os.path.join(uri, "_lancer"))
    other = str(tmp_path / "cli.lance")
    shutil.copytree(base[0], other)
    cli_build(other, "IVF_PQ", 8)
    assert index_bytes(uri) == index_bytes(other)


def test_centroids_and_codebook_as_arrays_are_honoured(base, uri, tmp_path):
    rng = np.random.default_rng(3)
    centroids = base[1][rng.choice(len(base[1]), 8, replace=False)]
    codebook = rng.standard_normal((4, 256, DIM // 4)).astype(np.float32)
    fsl = pa.FixedSizeListArray.from_arrays(pa.array(centroids.ravel()), DIM)
    lancer.create_index(uri, "vector", "IVF_PQ", engine="local", progress=False, ivf_centroids=fsl,
                        pq_codebook=codebook.reshape(4 * 256, DIM // 4), **PARAMS)
    assert not os.path.exists(os.path.join(uri, "_lancer"))  # the written inputs are gone
    other = str(tmp_path / "cli.lance")
    shutil.copytree(base[0], other)
    np.save(tmp_path / "c.npy", centroids)
    np.save(tmp_path / "p.npy", codebook)
    cli_build(other, "IVF_PQ", 8, "--ivf-centroids", str(tmp_path / "c.npy"), "--pq-codebook", str(tmp_path / "p.npy"))
    assert index_bytes(uri) == index_bytes(other)


def test_inputs_another_build_holds_are_not_removed(base, uri):
    from lancer._options import HeldInputs, write_input
    rng = np.random.default_rng(4)
    centroids = np.ascontiguousarray(base[1][rng.choice(len(base[1]), 8, replace=False)])
    other_build = HeldInputs()  # a concurrent build using the same centroids
    path = write_input(uri, centroids, "ivf_centroids", other_build)
    lancer.create_index(uri, "vector", "IVF_FLAT", engine="local", progress=False, ivf_centroids=centroids,
                        **PARAMS)
    assert np.array_equal(np.load(path), centroids)  # still there for the other build
    lancer.cleanup(uri)
    assert os.path.exists(path)
    other_build.release()
    lancer.cleanup(uri)
    assert not os.path.exists(os.path.join(uri, "_lancer"))


@pytest.mark.parametrize("kwargs,error,match", [
    (dict(column="nope"), lancer.NotFoundError, "column nope does not exist"),
    (dict(index_type="BTREE"), NotImplementedError, "BTREE"),
    (dict(index_type="IVF_HNSW_SQ", m=2), ValueError, "m must be"),
    (dict(index_type="FOO"), ValueError, "unknown index type"),
    (dict(metric="manhattan"), ValueError, "unknown metric"),
    (dict(metric="hamming"), NotImplementedError, "hamming"),
    (dict(column=""), ValueError, "Column name cannot be empty"),
    (dict(sample_rate=0), ValueError, "sample_rate must be positive, got 0"),
    (dict(num_sub_vectors=5), ValueError, "divisible|divide"),
    (dict(num_workers=0), ValueError, "num_workers"),
    (dict(engine="spark"), ValueError, "engine"),
    (dict(num_bits=6), ValueError, "num_bits"),
    (dict(surprise=1), TypeError, "surprise"),
    (dict(ivf_centroids=np.zeros((8, DIM + 1), np.float32)), ValueError,
     r"ivf_centroids-.*IVF centroids must have shape \[8, 16\], found \[8, 17\]"),
])
def test_bad_arguments_raise_and_change_nothing(uri, kwargs, error, match):
    args = dict(column="vector", index_type="IVF_PQ", engine="local", progress=False, **PARAMS)
    args.update(kwargs)
    before = tree_digest(uri)
    with pytest.raises(error, match=match):
        lancer.create_index(uri, **args)
    assert tree_digest(uri) == before


def test_missing_dataset_and_object_stores(tmp_path):
    with pytest.raises(lancer.NotFoundError, match="not a directory|not a Lance dataset"):
        lancer.create_index(str(tmp_path / "none"), "vector", "IVF_FLAT", engine="local")
    # Object stores are reached (tests/python/test_object_store_api.py); schemes lancer cannot
    # commit to, or does not know, are refused by name.
    with pytest.raises(NotImplementedError, match="s3\\+ddb"):
        lancer.create_index("s3+ddb://bucket/ds?ddbTableName=t", "vector", "IVF_FLAT", engine="local")
    with pytest.raises(NotImplementedError, match="cos://"):
        lancer.create_index("cos://bucket/ds", "vector", "IVF_FLAT", engine="local")
    with pytest.raises(FileNotFoundError):  # NotFoundError is an OSError too
        lancer.inspect(str(tmp_path / "none"))


def test_corrupt_file_raises_corruption_error(uri):
    data = sorted(glob.glob(os.path.join(uri, "data", "*.lance")))[0]
    blob = bytearray(open(data, "rb").read())
    blob[-4:] = b"XXXX"  # the footer magic
    open(data, "wb").write(bytes(blob))
    with pytest.raises(lancer.CorruptionError, match=os.path.basename(data)):
        lancer.create_index(uri, "vector", "IVF_FLAT", engine="local", progress=False, **PARAMS)


def test_progress_callback_sees_every_phase(uri):
    events = []
    lancer.create_index(uri, "vector", "IVF_PQ", engine="local", progress=lambda *e: events.append(e), **PARAMS)
    finished = {phase for phase, _, _, done in events if done}
    assert {"sample", "train IVF", "train PQ/SQ", "build", "merge"} <= finished


def test_without_pylance_the_version_number_is_returned(uri):
    code = ("import sys; sys.modules['lance'] = None; import lancer; "
            f"print(lancer.create_index({uri!r}, 'vector', 'IVF_FLAT', engine='local', progress=False, "
            "num_partitions=8))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "2"


def test_report_has_the_cli_report_fields(uri, tmp_path):
    lancer.create_index(uri, "vector", "IVF_SQ", engine="local", progress=False, **PARAMS)
    py = lancer.last_report()
    other = str(tmp_path / "cli.lance")
    shutil.copytree(uri, other)
    cli_build(other, "IVF_SQ", 8, "--report", str(tmp_path / "r.json"))
    cli = json.load(open(tmp_path / "r.json"))
    assert set(cli) <= set(py)


def test_progress_bars_by_default(uri, capsys):
    pytest.importorskip("tqdm")
    lancer.create_index(uri, "vector", "IVF_PQ", engine="local", **PARAMS)
    err = capsys.readouterr().err
    for phase in ("sample", "train IVF", "train PQ/SQ", "build", "merge"):
        assert f"{phase}: 100%" in err, err


def test_replace_false_refuses_an_existing_name_and_replace_swaps_it(uri):
    first = lancer.create_index(uri, "vector", "IVF_FLAT", engine="local", progress=False, **PARAMS)
    before = tree_digest(uri)
    with pytest.raises(ValueError, match="vector_idx"):
        lancer.create_index(uri, "vector", "IVF_PQ", engine="local", progress=False, replace=False, **PARAMS)
    assert tree_digest(uri) == before
    second = lancer.create_index(uri, "vector", "IVF_PQ", engine="local", progress=False, **PARAMS)
    (idx,) = second.describe_indices()
    assert second.version == first.version + 1 and idx.index_type == "IVF_PQ"


def test_python_options_are_the_cores_build_options(tmp_path):
    """The dict the Python side builds has exactly the keys of the core's one option table
    (include/lancer/build_options.h), so a parameter added there cannot be missed here."""
    from lancer import _core, _options
    held = _options.HeldInputs()
    try:
        opts = _options.build_options(
            str(tmp_path / "d.lance"), "vector", "IVF_PQ", None, replace=True, metric="l2", num_partitions=4,
            num_sub_vectors=2, sample_rate=256, max_iters=50, num_bits=8, ivf_centroids=None, pq_codebook=None,
            num_segments=None, seed=None, threads=None, work_dir=None, held=held)
    finally:
        held.release()
    supplied_arrays = {"ivf_centroids", "pq_codebook", "rabitq_model"}  # added only when one is given
    where_not_what = {"storage_options"}  # where the data lives, not a build parameter (never in the plan)
    assert (set(opts) - where_not_what) | supplied_arrays == set(_core.build_option_names())


def test_python_index_types_are_the_cores():
    """The types the Python side accepts are the core's registry (src/quant/registry.cc)."""
    from lancer import _core, _options
    assert tuple(_core.buildable_index_types()) == _options.SUPPORTED_INDEX_TYPES
