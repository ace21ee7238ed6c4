"""Bad input to `lancer create-index` (issue 18; the cases are in bad_inputs.py, shared with the Python
package's tests): each is refused with the README's exit code and a message naming what and where, and the
dataset's files are byte for byte what they were; or, where the build legitimately succeeds, pylance opens
and searches the index. Also: a folder the user cannot write, a full disk under the spill, a version that
does not exist, and a dataset deleted or rewritten while a build runs."""

from __future__ import annotations

import os
import shutil
import subprocess
import time

import lance
import numpy as np
import pyarrow as pa
import pytest

import bad_inputs as B


def judge_refusal(r, kind, says, uri, before):
    assert r.crash_reason() is None, r.describe()
    assert r.rc == B.EXIT[kind], f"expected exit {B.EXIT[kind]} ({kind})\n{r.describe()}"
    for word in says:
        assert word in r.stderr, f"the message does not say {word!r}\n{r.describe()}"
    if before is not None:
        after = B.tree_digest(uri)
        assert after == before, "the dataset changed: " + B.digest_diff(before, after)


@pytest.mark.parametrize("case", B.CASES, ids=B.CASE_IDS)
def test_bad_input(lancer, tmp_path, case):
    uri = str(tmp_path / "ds.lance")
    case.dataset(uri)
    rows = lance.dataset(uri).count_rows()
    before = B.tree_digest(uri)
    kind, says = case.expected(python=False, uri=uri)
    r = lancer.run(B.cli_args(case, uri, str(tmp_path)), timeout=120)
    if kind is None:
        assert r.rc == 0, r.describe()
        B.check_built(uri, case.args["index_type"], rows)
    else:
        judge_refusal(r, kind, says, uri, before)


def test_lance_builds_uint8_only_with_hamming(tmp_path):
    """What the uint8 cases rest on: pylance 14 refuses uint8 vectors for every metric lancer has."""
    uri = B._u8(str(tmp_path / "u8.lance"))
    ds = lance.dataset(uri)
    for index_type in ("IVF_FLAT", "IVF_PQ", "IVF_HNSW_FLAT"):
        extra = {"num_sub_vectors": 4} if index_type.endswith("PQ") else {}
        with pytest.raises(Exception, match="UInt8"):
            ds.create_index("vector", index_type, metric="l2", num_partitions=2, **extra)
    ds.create_index("vector", "IVF_FLAT", metric="hamming", num_partitions=2)  # the one it builds


@pytest.mark.parametrize("command", ["inspect", "export"])
def test_a_version_that_does_not_exist(lancer, tmp_path, command):
    uri = B._ok(str(tmp_path / "ds.lance"))
    before = B.tree_digest(uri)
    args = [command, uri, "--version", "99"]
    if command == "export":
        args += ["--column", "vector", "--output", str(tmp_path / "out.npy")]
    judge_refusal(lancer.run(args), "not_found", ("99",), uri, before)
    assert not os.path.exists(tmp_path / "out.npy")
    # create-index always builds on the latest version: it takes no --version (a usage error)
    r = lancer.run(["create-index", uri, "--column", "vector", "--index-type", "IVF_FLAT", "--version", "1"])
    judge_refusal(r, "invalid", ("--version",), uri, before)


def test_a_folder_the_user_cannot_write(lancer, tmp_path):
    why = B.as_nobody_possible()
    if why:
        pytest.skip(why)
    with B.world_readable_folder() as folder:  # pytest's tmp_path is root's alone
        uri = B._ok(os.path.join(folder, "ds.lance"))
        before = B.tree_digest(uri)
        r = subprocess.run([*B.NOBODY, lancer.lancer_bin(), "create-index", uri, "--column", "vector",
                            "--index-type", "IVF_FLAT", "--num-partitions", "2"], capture_output=True, text=True,
                           timeout=120)
        assert r.returncode == B.EXIT["io"], r.stderr
        assert os.path.join(uri, "_lancer") in r.stderr and "Permission denied" in r.stderr, r.stderr
        assert B.tree_digest(uri) == before


@pytest.fixture
def small_tmpfs(tmp_path):
    fs = B.SmallTmpfs(str(tmp_path / "small"))
    if fs.reason:
        pytest.skip(fs.reason)
    yield fs.path
    fs.unmount()


def test_disk_full_during_the_spill(lancer, tmp_path, small_tmpfs):
    # 40,000 x 16 float32 rows spill 2.5 MiB of IVF_FLAT codes into a 2 MiB staging folder.
    uri = B.write(str(tmp_path / "ds.lance"), B.gaussian(40000))
    before = B.tree_digest(uri)
    r = lancer.run(["create-index", uri, "--column", "vector", "--index-type", "IVF_FLAT", "--num-partitions", "2",
                    "--work-dir", os.path.join(small_tmpfs, "work")])
    judge_refusal(r, "io", ("No space left on device", small_tmpfs), uri, before)
    assert os.listdir(small_tmpfs) == []  # the staging folder is removed
    r = lancer.run(["create-index", uri, "--column", "vector", "--index-type", "IVF_FLAT", "--num-partitions", "2"])
    assert r.rc == 0, r.describe()  # with room, the same build goes through
    B.check_built(uri, "IVF_FLAT", 40000)


def test_disk_full_writing_the_index(lancer, tmp_path):
    # The dataset (1.3 MiB) on a 3 MiB tmpfs: the staging folder and the index do not both fit.
    fs = B.SmallTmpfs(str(tmp_path / "small"), size="3m")
    if fs.reason:
        pytest.skip(fs.reason)
    try:
        uri = B.write(os.path.join(fs.path, "ds.lance"), B.gaussian(20000))
        before = B.tree_digest(uri)
        r = lancer.run(["create-index", uri, "--column", "vector", "--index-type", "IVF_FLAT", "--num-partitions", "2"])
        judge_refusal(r, "io", ("No space left on device", uri), uri, before)
        B.every_version_opens(uri)
    finally:
        fs.unmount()


def start_paused_build(lancer, uri):
    return B.start_paused([lancer.lancer_bin(), "create-index", uri, "--column", "vector", "--index-type", "IVF_FLAT",
                           "--num-partitions", "4"], uri)


def test_dataset_deleted_during_the_build(lancer, tmp_path):
    uri = B.write(str(tmp_path / "ds.lance"), B.gaussian(3000), rows_per_file=1000)
    p = start_paused_build(lancer, uri)
    shutil.rmtree(uri)
    B.within_pause(p)
    _, err = p.communicate(timeout=120)
    assert p.returncode == B.EXIT["not_found"], err
    assert uri in err, err
    assert not os.path.exists(uri), os.listdir(uri)  # nothing half-made in its place


@pytest.mark.parametrize("writer", list(B.WRITERS))
def test_dataset_changed_during_the_build(lancer, tmp_path, writer):
    """pylance commits while the build is paused after training: lancer rebases its commit by Lance's rules
    (appends, deletions) or refuses with exit 6 naming what the other writer did (an overwrite, a compaction
    of the fragments it indexed), its own files removed. Every version opens and answers queries."""
    uri = B.write(str(tmp_path / "ds.lance"), B.gaussian(3000), rows_per_file=500)
    p = start_paused_build(lancer, uri)
    expect = B.WRITERS[writer](uri)
    B.within_pause(p)
    before = B.tree_digest(uri)
    _, err = p.communicate(timeout=120)
    ds = B.every_version_opens(uri)
    if expect.refused:
        assert p.returncode == B.EXIT["conflict"], err
        assert expect.refused in err and uri in err, err
        after = B.tree_digest(uri)
        # the staging folder (there before the other commit) goes; nothing else changes
        assert {k: v for k, v in before.items() if not k.startswith("_lancer")} == after, B.digest_diff(before, after)
        assert ds.describe_indices() == []
    else:
        assert p.returncode == 0, err
        assert ds.version == 3
        (idx,) = ds.describe_indices()
        assert idx.num_rows_indexed == expect.indexed
        B.check_built(uri, "IVF_FLAT", expect.indexed)
        got = ds.to_table(nearest={"column": "vector", "q": expect.query, "k": 1, "nprobes": 4}, columns=["id"])
        assert got["id"].to_pylist() == [expect.query_id]  # unindexed rows are searched too
