"""Datasets on an object store (issue 15): lancer reads, builds, stages and commits on S3
(moto's server on loopback), and pylance 14 opens, plans with and searches what it wrote.

The S3 server is started here on a free port and stopped at the end; a fault proxy in front of
it adds latency, answers 500/503, rejects a credential or loses the answer of a request. pylance
reaches the server through AWS_* environment variables (set for this module only); lancer gets
its options from a --storage-options-file, from --storage-option, or from the same variables."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import threading
import time

import lance
import numpy as np
import pyarrow as pa
import pytest

import datasets as D
import lancer_cli as L
import s3_server as S

TYPES = ["IVF_FLAT", "IVF_SQ", "IVF_PQ", "IVF_RQ", "IVF_HNSW_SQ"]
MPIRUN = shutil.which("mpirun")


def _object_store_built() -> bool:
    r = subprocess.run([L.lancer_bin(), "inspect", "s3://probe/x"], capture_output=True, text=True)
    return "built without object-store support" not in r.stderr


pytestmark = pytest.mark.skipif(not os.path.exists(L.lancer_bin()) or not _object_store_built(),
                                reason="lancer built without the object-store backend (no cargo)")


@pytest.fixture(scope="module")
def s3():
    server = S.MotoServer.start()
    saved = {k: os.environ.get(k) for k in S.env_for(server.endpoint)}
    os.environ.update(S.env_for(server.endpoint))
    yield server
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v
    server.stop()


@pytest.fixture
def proxy(s3):
    p = S.FaultProxy(s3.endpoint)
    yield p
    p.stop()


def options_file(tmp_path, endpoint, **extra) -> str:
    path = str(tmp_path / f"storage-{abs(hash(endpoint))}.json")
    with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:
        json.dump(S.storage_options(endpoint, **extra), f)
    return path


def clean_env():
    """The environment without the module's AWS_* variables: options must come from elsewhere."""
    return {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}


def run(args, env=None, check=True, timeout=300):
    r = subprocess.run([L.lancer_bin(), *map(str, args)], capture_output=True, text=True, timeout=timeout,
                       env=env if env is not None else dict(os.environ))
    assert S.SECRET_KEY not in r.stdout + r.stderr, "the secret key leaked into lancer's output"
    if check:
        assert r.returncode == 0, f"lancer {' '.join(map(str, args))} failed ({r.returncode}):\n{r.stdout}\n{r.stderr}"
    return r


def uri_of(key: str) -> str:
    return f"s3://{S.BUCKET}/{key}"


def write_pair(s3, tmp_path, key, rows=3000, dim=32, fragments=3, seed=5):
    """The same clustered data on S3 (`key`) and in a local folder; returns (s3 uri, local uri, values)."""
    local = str(tmp_path / "local.lance")
    values = D.write_clustered(local, fragments, rows // fragments, dim, clusters=12, seed=seed)
    D.write_clustered(uri_of(key), fragments, rows // fragments, dim, clusters=12, seed=seed)
    return uri_of(key), local, values


def s3_index_files(s3, key, uuid):
    return {n: s3.get(f"{key}/_indices/{uuid}/{n}") for n in ("index.idx", "auxiliary.idx")}


def local_index_files(uri, uuid):
    return {n: open(os.path.join(uri, "_indices", uuid, n), "rb").read() for n in ("index.idx", "auxiliary.idx")}


def only_index(ds, name="vector_idx"):
    found = [i for i in ds.list_indices() if i["name"] == name]
    assert len(found) == 1, ds.list_indices()
    return found[0]


def build_args(uri, index_type, *extra, partitions=8):
    args = ["create-index", uri, "--column", "vector", "--index-type", index_type,
            "--num-partitions", str(partitions), *extra]
    if index_type == "IVF_PQ":
        args += ["--num-sub-vectors", "8"]
    return args


# ---------------------------------------------------------------------------------------------
# reading

READ_SPECS = [s for s in D.matrix_specs()
              if s.dim == 16 and s.nulls == s.deletions and (s.dtype == "f32" or s.multi_frag)]


@pytest.mark.parametrize("spec", READ_SPECS, ids=[s.id for s in READ_SPECS])
def test_export_over_s3_matches_lance(s3, spec, outdir):
    """A subset of the oracle matrix (every file version, nulls + deletions, 1 or more fragments),
    written to S3 by pylance, exported by lancer byte for byte."""
    exp = D.Expected(*_matrix_on_s3(spec))
    L.check_export(exp, outdir)


def _matrix_on_s3(spec):
    uri = uri_of(f"matrix/{spec.id}")
    ds, values, mask = D.write_matrix_dataset(lance, spec, uri)
    live = D.live_rows(ds)
    addrs, vecs = D.expected_from(values, mask, live["ids"], live["addrs"])
    return uri, "vector", D.DTYPES[spec.dtype], spec.dim, addrs, vecs, None, spec.id


def test_inspect_takes_options_from_each_source(s3, tmp_path):
    """--storage-options-file, --storage-option and AWS_* variables reach the same dataset;
    with none of them the error says what failed."""
    uri = uri_of("inspect/ds")
    lance.write_dataset(pa.table({"id": np.arange(10)}), uri)
    env = clean_env()
    by_file = run(["inspect", uri, "--json", "--storage-options-file", options_file(tmp_path, s3.endpoint)], env=env)
    pairs = [f"--storage-option={k}={v}" for k, v in S.storage_options(s3.endpoint).items()
             if k != "aws_secret_access_key"]
    by_flag = run(["inspect", uri, "--json", *pairs], env=dict(env, AWS_SECRET_ACCESS_KEY=S.SECRET_KEY))
    by_env = run(["inspect", uri, "--json"])
    assert json.loads(by_file.stdout) == json.loads(by_flag.stdout) == json.loads(by_env.stdout)
    assert json.loads(by_env.stdout)["uri"] == uri
    missing = run(["inspect", uri_of("inspect/nothing-here")], check=False)
    assert missing.returncode == 3 and "not a Lance dataset" in missing.stderr


def test_a_secret_on_the_command_line_is_warned_about(s3):
    r = run(["inspect", uri_of("nowhere"), f"--storage-option=aws_session_token=tok-{S.ACCESS_KEY}"], check=False)
    assert "command line" in r.stderr and "aws_session_token" in r.stderr


def test_schemes_lancer_cannot_commit_to_are_refused_by_name(s3, tmp_path):
    r = run(["inspect", "s3+ddb://bucket/ds?ddbTableName=t"], check=False)
    assert r.returncode == 4 and "s3+ddb" in r.stderr and "DynamoDB" in r.stderr
    r = run(["inspect", "cos://bucket/ds"], check=False)
    assert r.returncode == 4 and "cos://" in r.stderr


def test_gs_and_az_options_and_errors(tmp_path):
    """gs:// and az:// parse Lance's keys and fail with the store's reason, fast, naming the URI."""
    missing = str(tmp_path / "no-such-key.json")
    r = run(["inspect", "gs://bucket/ds", f"--storage-option=google_service_account={missing}",
             "--storage-option=client_max_retries=0"], check=False, timeout=60)
    assert r.returncode != 0 and "gs://bucket" in r.stderr and "no-such-key.json" in r.stderr
    r = run(["inspect", "az://container/ds", "--storage-option=azure_storage_account_name=devstoreaccount1",
             "--storage-option=azure_storage_use_emulator=true", "--storage-option=client_max_retries=0",
             f"--storage-option=azure_storage_endpoint=http://127.0.0.1:{S.free_port()}"],
            check=False, timeout=60)
    assert r.returncode != 0 and "az://container" in r.stderr, r.stderr
    r = run(["inspect", "abfss://container@account.dfs.core.windows.net/ds", "--storage-option=client_max_retries=0",
             "--storage-option=azure_storage_account_key=bm90LWEta2V5", "--storage-option=allow_http=true",
             f"--storage-option=azure_storage_endpoint=http://127.0.0.1:{S.free_port()}"],
            check=False, timeout=60)
    assert r.returncode != 0 and "abfss://container@account.dfs.core.windows.net" in r.stderr, r.stderr
    assert "bm90LWEta2V5" not in r.stderr


# ---------------------------------------------------------------------------------------------
# building and committing

@pytest.mark.parametrize("index_type", TYPES)
def test_build_on_s3_equals_local_and_pylance_searches_it(s3, tmp_path, index_type):
    key = f"build-{index_type}/ds.lance"
    uri, local, values = write_pair(s3, tmp_path, key)
    env = clean_env()
    report = tmp_path / "report.json"
    run([*build_args(uri, index_type, "--report", report),
         "--storage-options-file", options_file(tmp_path, s3.endpoint)], env=env)
    run(build_args(local, index_type), env=env)
    ds = lance.dataset(uri)
    idx = only_index(ds)
    assert idx["type"] == index_type
    assert s3_index_files(s3, key, idx["uuid"]) == local_index_files(local, only_index(lance.dataset(local))["uuid"])
    assert not [k for k in s3.keys(key + "/") if "/_lancer/" in k], "staging left behind"
    assert S.SECRET_KEY not in report.read_text()

    q = values[11]
    plan = ds.scanner(nearest={"column": "vector", "q": q, "k": 5, "nprobes": 8}).explain_plan(True)
    assert idx["uuid"] in plan
    got = ds.to_table(nearest={"column": "vector", "q": q, "k": 5, "nprobes": 8}, with_row_id=True)
    qfile = tmp_path / "q.npy"
    np.save(qfile, q.astype(np.float32))
    ours = json.loads(run(["search", uri, "--index", "vector_idx", "--vector-file", qfile, "-k", "5",
                           "--nprobes", "8", "--json"]).stdout)
    hits = ours[0] if isinstance(ours, list) else ours["results"][0]
    assert [h["_rowid"] if "_rowid" in h else h["row_id"] for h in hits] == got["_rowid"].to_pylist()

    # Lance maintains it on S3: append, optimize, search again.
    lance.write_dataset(pa.table({"id": np.arange(50, dtype=np.int64) + 10**6,
                                  "vector": D.fsl_array(values[:50], "f32")}), uri, mode="append")
    ds = lance.dataset(uri)
    ds.optimize.optimize_indices()
    ds = lance.dataset(uri)
    assert ds.to_table(nearest={"column": "vector", "q": q, "k": 5, "nprobes": 8}).num_rows == 5


def test_commit_is_one_conditional_put_and_rebases_over_a_pylance_append(s3, proxy, tmp_path):
    """plan/train/build-task, then pylance appends (version 2), then finalize: its conditional PUT
    of version 2 gets 412, the version is verified to be foreign, the commit is rebased onto it."""
    key = "race-append/ds.lance"
    uri, _, values = write_pair(s3, tmp_path, key)
    opts = options_file(tmp_path, proxy.endpoint)
    common = ["--column", "vector", "--index-type", "IVF_PQ", "--num-partitions", "8", "--num-sub-vectors", "8",
              "--storage-options-file", opts]
    plan = run(["plan", uri, *common, "--json"], env=clean_env())
    tasks = json.loads(plan.stdout)["tasks"]
    run(["train", uri, *common], env=clean_env())
    for t in range(tasks):
        run(["build-task", uri, *common, "--task", t], env=clean_env())
    lance.write_dataset(pa.table({"id": np.arange(7, dtype=np.int64) + 10**6,
                                  "vector": D.fsl_array(values[:7], "f32")}), uri, mode="append")
    del proxy.log[:]
    run(["finalize", uri, *common], env=clean_env())
    puts = proxy.requests("PUT", "/_versions/")
    assert len(puts) == 2 and all(h.get("If-None-Match") == "*" for _, _, h in puts), puts
    ds = lance.dataset(uri)
    assert ds.version == 3
    idx = only_index(ds)
    assert ds.count_rows() == len(values) + 7
    assert sorted(idx["fragment_ids"]) == [0, 1, 2]  # the appended fragment is not indexed
    assert ds.to_table(nearest={"column": "vector", "q": values[3], "k": 3}).num_rows == 3


def test_two_builds_racing_both_commit(s3, tmp_path):
    key = "race-two/ds.lance"
    uri, _, _ = write_pair(s3, tmp_path, key)
    procs = [subprocess.Popen([L.lancer_bin(), *map(str, build_args(uri, t, "--name", f"{t.lower()}_idx"))],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for t in ("IVF_FLAT", "IVF_SQ")]
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
    ds = lance.dataset(uri)
    assert ds.version == 3
    assert sorted(i["name"] for i in ds.list_indices()) == ["ivf_flat_idx", "ivf_sq_idx"]


def test_a_lost_answer_after_a_successful_put_is_verified_as_ours(s3, proxy, tmp_path):
    key = "lost-answer/ds.lance"
    uri, local, _ = write_pair(s3, tmp_path, key)
    proxy.drop_next(lambda m, p: m == "PUT" and "/_versions/" in p)
    run([*build_args(uri, "IVF_FLAT"), "--storage-options-file", options_file(tmp_path, proxy.endpoint)],
        env=clean_env())
    ds = lance.dataset(uri)
    assert ds.version == 2 and len(ds.list_indices()) == 1
    # The client sent it again, got 412, and lancer read the version back: it was its own.
    puts = proxy.requests("PUT", "/_versions/")
    assert len(puts) == 2, puts
    assert proxy.requests("GET", puts[0][1]), "the version was not read back for verification"


def test_server_errors_and_slow_answers_are_retried(s3, proxy, tmp_path):
    key = "faults/ds.lance"
    uri, local, _ = write_pair(s3, tmp_path, key)
    proxy.fail_next(2, 503)
    proxy.fail_next(1, 500)
    proxy.fail_next(1, 503, match=lambda m, p: m == "PUT" and "/_versions/" in p)
    proxy.latency_s = 0.3

    def calm_down():
        time.sleep(3)
        proxy.latency_s = 0.0

    threading.Thread(target=calm_down, daemon=True).start()
    run([*build_args(uri, "IVF_SQ"), "--storage-options-file", options_file(tmp_path, proxy.endpoint)],
        env=clean_env())
    run(build_args(local, "IVF_SQ"), env=clean_env())
    uuid = only_index(lance.dataset(uri))["uuid"]
    assert s3_index_files(s3, key, uuid) == local_index_files(local, only_index(lance.dataset(local))["uuid"])


def test_a_staging_upload_that_fails_in_the_background_fails_the_build(s3, proxy, tmp_path):
    """A task's spill upload fails after the task returned (create-index uploads in the
    background): the build fails naming the object, commits nothing and leaves no staging."""
    key = "background-fault/ds.lance"
    uri, _, _ = write_pair(s3, tmp_path, key, rows=27000, dim=16)
    before = s3.snapshot(key + "/")
    proxy.fail_next(100, 500, match=lambda m, p: m == "PUT" and p.endswith("task-000001.run"))
    r = run([*build_args(uri, "IVF_SQ"), "--storage-options-file", options_file(tmp_path, proxy.endpoint),
             "--storage-option", "client_max_retries=1"], env=clean_env(), check=False)
    assert r.returncode != 0
    assert "task-000001.run" in r.stderr and "500" in r.stderr, r.stderr
    assert s3.snapshot(key + "/") == before


def test_a_refused_credential_is_a_clear_error_and_writes_nothing(s3, proxy, tmp_path):
    key = "bad-key/ds.lance"
    uri, _, _ = write_pair(s3, tmp_path, key)
    before = s3.snapshot(key + "/")
    proxy.rejected_key = S.ACCESS_KEY
    r = run([*build_args(uri, "IVF_PQ"), "--storage-options-file", options_file(tmp_path, proxy.endpoint)],
            env=clean_env(), check=False)
    assert r.returncode != 0
    assert "403" in r.stderr and "credentials" in r.stderr and uri in r.stderr
    assert s3.snapshot(key + "/") == before


def test_a_store_without_conditional_put_is_refused_and_nothing_committed(s3, tmp_path):
    """object_store's aws_conditional_put=disabled: a commit there could lose a concurrent writer's
    version, so lancer refuses it by name, and the dataset is left as it was."""
    key = "no-conditional-put/ds.lance"
    uri, _, _ = write_pair(s3, tmp_path, key)
    before = s3.snapshot(key + "/")
    r = run([*build_args(uri, "IVF_FLAT"), "--storage-option", "aws_conditional_put=disabled"], check=False)
    assert r.returncode == 4, r.stderr
    assert "only if it is absent" in r.stderr and "_versions/" in r.stderr
    assert s3.snapshot(key + "/") == before


def test_killed_during_the_upload_then_rerun_and_cleanup(s3, tmp_path):
    key = "killed/ds.lance"
    uri, local, _ = write_pair(s3, tmp_path, key)
    before = {k for k in s3.keys(key + "/_versions/")}
    r = run(build_args(uri, "IVF_FLAT"), env=dict(os.environ, LANCER_FAULT_KILL_AT="merge"), check=False)
    assert r.returncode != 0
    assert set(s3.keys(key + "/_versions/")) == before, "a killed build must not commit"
    assert lance.dataset(uri).list_indices() == []
    staged = {k: v for k, v in s3.snapshot(key + "/").items() if "/_lancer/" in k}
    assert staged, "the staging objects should be there to resume"
    assert not [k for k, v in staged.items() if S.SECRET_KEY.encode() in v or S.ACCESS_KEY.encode() in v], \
        "a credential was written into the staging folder"
    # cleanup removes them (and what the merge had uploaded) ...
    cleaned = run(["cleanup", uri])
    assert "removed" in cleaned.stdout
    left = s3.keys(key + "/")
    assert not [k for k in left if "/_lancer/" in k or "/_indices/" in k], left
    # ... and a build after a kill, rerun, gives the bytes of an uninterrupted one.
    run(build_args(uri, "IVF_FLAT"), env=dict(os.environ, LANCER_FAULT_KILL_AT="merge"), check=False)
    run(build_args(uri, "IVF_FLAT"))
    run(build_args(local, "IVF_FLAT"))
    uuid = only_index(lance.dataset(uri))["uuid"]
    assert s3_index_files(s3, key, uuid) == local_index_files(local, only_index(lance.dataset(local))["uuid"])
    assert not [k for k in s3.keys(key + "/") if "/_lancer/" in k]


def test_one_process_build_asks_for_no_record_and_resumes_from_its_uploads(s3, proxy, tmp_path):
    """create-index plans the build itself, so it never looks for a task record; its staging
    uploads finish while the next task runs and its staging folder goes with the commit. Killed
    at the merge, the rerun finds every upload: it reuses all tasks, and the bytes are a local
    build's."""
    key = "in-process/ds.lance"
    uri, local, _ = write_pair(s3, tmp_path, key, rows=27000, dim=16)
    opts = options_file(tmp_path, proxy.endpoint)
    proxy.latency_s = 0.005
    report = tmp_path / "report.json"
    run([*build_args(uri, "IVF_SQ", "--report", report), "--storage-options-file", opts], env=clean_env())
    tasks = json.loads(report.read_text())["tasks"]
    assert tasks == 3
    asked = [p for m, p, _ in proxy.log if m in ("GET", "HEAD") and "/tasks/" in p and ".done" in p]
    assert not asked, asked
    assert len(proxy.requests("PUT", "/tasks/")) == 2 * tasks  # each spill and record
    assert not [k for k in s3.keys(key + "/") if "/_lancer/" in k], "staging left behind"

    del proxy.log[:]
    r = run([*build_args(uri, "IVF_SQ", "--name", "again"), "--storage-options-file", opts],
            env=dict(clean_env(), LANCER_FAULT_KILL_AT="merge"), check=False)
    assert r.returncode != 0
    staged = [k for k in s3.keys(key + "/_lancer/build-again/")]
    assert sum(k.endswith(".run") for k in staged) == tasks, staged
    run([*build_args(uri, "IVF_SQ", "--name", "again", "--report", report), "--storage-options-file", opts],
        env=clean_env())
    assert json.loads(report.read_text())["reused_tasks"] == tasks
    run(build_args(local, "IVF_SQ"), env=clean_env())
    ours = [i for i in lance.dataset(uri).list_indices() if i["name"] == "again"][0]["uuid"]
    assert s3_index_files(s3, key, ours) == local_index_files(local, only_index(lance.dataset(local))["uuid"])
    assert not [k for k in s3.keys(key + "/") if "/_lancer/" in k], "staging left behind"


# ---------------------------------------------------------------------------------------------
# distributed with nothing shared but the object store

def mpi_env(tmp_path, **extra):
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
               OMPI_MCA_btl_vader_single_copy_mechanism="none", OMPI_MCA_rmaps_base_oversubscribe="1")
    env.update(extra)
    return env


@pytest.mark.skipif(MPIRUN is None, reason="mpirun not installed (openmpi-bin)")
def test_mpi_ranks_with_private_folders_build_the_one_process_bytes(s3, tmp_path):
    """Three ranks, each in its own empty folder with its own TMPDIR; dataset and staging on S3
    (the staging under the dataset and, second, a --work-dir elsewhere in the bucket). A rank
    killed in training is resumed by a rerun."""
    key = "mpi/ds.lance"
    uri, local, _ = write_pair(s3, tmp_path, key, rows=6000, fragments=6)
    run(build_args(local, "IVF_PQ", "--threads", "1"))
    want = local_index_files(local, only_index(lance.dataset(local))["uuid"])
    ranks = []
    for r in range(3):
        d = tmp_path / f"rank{r}"
        d.mkdir()
        ranks.append(d)

    def argv(dataset, *extra):
        # One app context per rank: each its own working directory and TMPDIR.
        out = [MPIRUN, "--oversubscribe"]
        for i, d in enumerate(ranks):
            out += ([":"] if i else []) + ["-np", "1", "-wdir", str(d), "-x", f"TMPDIR={d}", L.lancer_bin(),
                                           *build_args(dataset, "IVF_PQ", "--threads", "1", *extra)]
        return out

    env = mpi_env(tmp_path, LANCER_FAULT_KILL_AT="train", LANCER_FAULT_RANK="1")
    killed = subprocess.run(argv(uri), capture_output=True, text=True, timeout=300, env=env)
    assert killed.returncode != 0
    assert lance.dataset(uri).list_indices() == []
    done = subprocess.run(argv(uri), capture_output=True, text=True, timeout=300, env=mpi_env(tmp_path))
    assert done.returncode == 0, done.stderr
    assert "resumed" in done.stdout, done.stdout
    assert s3_index_files(s3, key, only_index(lance.dataset(uri))["uuid"]) == want
    assert all(not os.listdir(d) for d in ranks), "a rank wrote to its local folder"
    assert not [k for k in s3.keys(key + "/") if "/_lancer/" in k]

    key2 = "mpi-workdir/ds.lance"
    uri2, _, _ = write_pair(s3, tmp_path / "second", key2, rows=6000, fragments=6)
    work = uri_of("elsewhere/staging-mpi")
    done = subprocess.run(argv(uri2, "--work-dir", work), capture_output=True, text=True, timeout=300,
                          env=mpi_env(tmp_path))
    assert done.returncode == 0, done.stderr
    assert s3_index_files(s3, key2, only_index(lance.dataset(uri2))["uuid"]) == want
    assert s3.keys("elsewhere/") == {}


# ---------------------------------------------------------------------------------------------
# az:// against Azurite (npm), where setup installed it

@pytest.mark.skipif(not S.Azurite.available(), reason="Azurite not installed (scripts/setup.sh installs it with npm)")
def test_az_build_with_a_pylance_append_between_plan_and_commit(tmp_path, monkeypatch):
    """The whole path on Azure Blob (Azurite): pylance writes, lancer plans and builds, pylance
    appends, lancer's commit meets Azure's conditional-PUT refusal, rebases, and pylance searches
    the index; the bytes equal a local build's."""
    az = S.Azurite.start(str(tmp_path / "azurite"))
    try:
        for k, v in az.env().items():
            monkeypatch.setenv(k, v)
        az.create_container("lancer")
        so = az.storage_options()
        uri = "az://lancer/ds.lance"
        local = str(tmp_path / "local.lance")
        values = D.write_clustered(local, 3, 1000, 32, clusters=12, seed=5)
        lance.write_dataset(lance.dataset(local).to_table(), uri, max_rows_per_file=1000, storage_options=so)
        opts = str(tmp_path / "az.json")
        with open(os.open(opts, os.O_WRONLY | os.O_CREAT, 0o600), "w") as f:
            json.dump(so, f)
        common = ["--column", "vector", "--index-type", "IVF_PQ", "--num-partitions", "8", "--num-sub-vectors", "8",
                  "--storage-options-file", opts]
        tasks = json.loads(run(["plan", uri, *common, "--json"]).stdout)["tasks"]
        run(["train", uri, *common])
        for t in range(tasks):
            run(["build-task", uri, *common, "--task", t])
        lance.write_dataset(pa.table({"id": np.arange(5, dtype=np.int64) + 10**6,
                                      "vector": D.fsl_array(values[:5], "f32")}), uri, mode="append",
                            storage_options=so)
        r = run(["finalize", uri, *common])
        assert S.AZURITE_KEY not in r.stdout + r.stderr
        run(build_args(local, "IVF_PQ"))
        ds = lance.dataset(uri, storage_options=so)
        assert ds.version == 3
        idx = only_index(ds)
        plan = ds.scanner(nearest={"column": "vector", "q": values[9], "k": 5, "nprobes": 8}).explain_plan(True)
        assert idx["uuid"] in plan
        got = ds.to_table(nearest={"column": "vector", "q": values[9], "k": 5, "nprobes": 8}, columns=["id"])
        assert 9 in got["id"].to_pylist()
        q = tmp_path / "q.npy"
        np.save(q, values[9])
        hits = json.loads(run(["search", uri, "--index", "vector_idx", "--vector-file", q, "-k", "5", "--nprobes", "8",
                               "--json", "--storage-options-file", opts]).stdout)[0]
        assert [h["_rowid"] for h in hits] == ds.to_table(
            nearest={"column": "vector", "q": values[9], "k": 5, "nprobes": 8}, with_row_id=True)["_rowid"].to_pylist()
        want = local_index_files(local, only_index(lance.dataset(local))["uuid"])
        assert {n: _azure_get(az, f"ds.lance/_indices/{idx['uuid']}/{n}") for n in want} == want
    finally:
        az.stop()


def _azure_get(az, key: str) -> bytes:
    import base64
    import hashlib
    import hmac
    import urllib.request
    from email.utils import formatdate

    date, version = formatdate(usegmt=True), "2021-08-06"
    to_sign = ("GET\n" + "\n" * 11 + f"x-ms-date:{date}\nx-ms-version:{version}\n"
               f"/{S.AZURITE_ACCOUNT}/{S.AZURITE_ACCOUNT}/lancer/{key}")
    sig = base64.b64encode(hmac.new(base64.b64decode(S.AZURITE_KEY), to_sign.encode(), hashlib.sha256).digest())
    req = urllib.request.Request(f"{az.url}/{S.AZURITE_ACCOUNT}/lancer/{key}",
                                 headers={"x-ms-date": date, "x-ms-version": version,
                                          "Authorization": f"SharedKey {S.AZURITE_ACCOUNT}:{sig.decode()}"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return r.read()
