"""Bad input to lancer.create_index(engine="local") (issue 18; the cases are tests/oracle/bad_inputs.py,
shared with the CLI's tests/oracle/test_bad_input.py): each raises the documented exception (docs/python.md)
with a message naming what and where, and the dataset's files are byte for byte what they were; or the
build succeeds and pylance opens and searches it. Builds that must run as another user, or be paused while
the dataset changes, run in a child interpreter (LANCER_FAULT_TASK_DELAY_MS is read once per process)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import lance
import numpy as np
import pyarrow as pa
import pytest

import oracle_helpers  # noqa: F401  (puts tests/oracle on sys.path)
import bad_inputs as B
import lancer


@pytest.mark.parametrize("case", B.CASES, ids=B.CASE_IDS)
def test_bad_input(tmp_path, case):
    uri = str(tmp_path / "ds.lance")
    case.dataset(uri)
    rows = lance.dataset(uri).count_rows()
    before = B.tree_digest(uri)
    kind, says = case.expected(python=True, uri=uri)
    if kind is None:
        lancer.create_index(uri, **B.py_kwargs(case))
        B.check_built(uri, case.args["index_type"], rows)
        return
    with pytest.raises(B.python_error(kind)) as raised:
        lancer.create_index(uri, **B.py_kwargs(case))
    for word in says:
        assert word in str(raised.value), f"the message does not say {word!r}: {raised.value}"
    after = B.tree_digest(uri)
    assert after == before, "the dataset changed: " + B.digest_diff(before, after)


def test_a_version_that_does_not_exist(tmp_path):
    uri = B._ok(str(tmp_path / "ds.lance"))
    before = B.tree_digest(uri)
    with pytest.raises(lancer.NotFoundError, match="99"):
        lancer.inspect(uri, version=99)
    assert B.tree_digest(uri) == before


def child_argv(code: str):
    """A child interpreter running `code`; it prints `ok`, or the exception's type, its OSError-ness and text."""
    script = ("import sys, lancer\ntry:\n" + "".join("    " + line + "\n" for line in code.splitlines()) +
              "    print('ok')\nexcept Exception as e:\n"
              "    print(type(e).__name__, isinstance(e, OSError), '|', e)\n")
    return [sys.executable, "-c", script]


def build_code(uri, **extra):
    return (f"lancer.create_index({uri!r}, 'vector', 'IVF_FLAT', engine='local', progress=False, "
            f"num_partitions=4, **{extra!r})")


def test_a_folder_the_user_cannot_write():
    why = B.as_nobody_possible()
    if why:
        pytest.skip(why)
    with B.world_readable_folder() as folder:
        uri = B._ok(os.path.join(folder, "ds.lance"))
        before = B.tree_digest(uri)
        r = subprocess.run([*B.NOBODY, *child_argv(build_code(uri))], capture_output=True, text=True, timeout=120)
        out, err = r.stdout, r.stderr
        assert out.startswith("OSError True |"), (out, err)
        assert os.path.join(uri, "_lancer") in out and "Permission denied" in out, out
        assert B.tree_digest(uri) == before


def test_disk_full_during_the_spill(tmp_path):
    fs = B.SmallTmpfs(str(tmp_path / "small"))
    if fs.reason:
        pytest.skip(fs.reason)
    try:
        uri = B.write(str(tmp_path / "ds.lance"), B.gaussian(40000))
        before = B.tree_digest(uri)
        with pytest.raises(OSError, match="No space left on device") as raised:
            lancer.create_index(uri, "vector", "IVF_FLAT", engine="local", progress=False, num_partitions=2,
                                work_dir=os.path.join(fs.path, "work"))
        assert fs.path in str(raised.value)
        assert B.tree_digest(uri) == before
        assert os.listdir(fs.path) == []
    finally:
        fs.unmount()


def paused_build(uri):
    return B.start_paused(child_argv(build_code(uri)), uri)


def test_dataset_deleted_during_the_build(tmp_path):
    uri = B.write(str(tmp_path / "ds.lance"), B.gaussian(3000), rows_per_file=1000)
    p = paused_build(uri)
    shutil.rmtree(uri)
    B.within_pause(p)
    out, err = p.communicate(timeout=120)
    assert out.startswith("NotFoundError True |") and uri in out, (out, err)
    assert not os.path.exists(uri)


@pytest.mark.parametrize("writer", list(B.WRITERS))
def test_dataset_changed_during_the_build(tmp_path, writer):
    """pylance commits while the build is paused after training: create_index commits rebased by Lance's
    rules, or raises CommitConflictError naming what the other writer did and leaves no files of its own."""
    uri = B.write(str(tmp_path / "ds.lance"), B.gaussian(3000), rows_per_file=500)
    p = paused_build(uri)
    expect = B.WRITERS[writer](uri)
    B.within_pause(p)
    out, err = p.communicate(timeout=120)
    ds = B.every_version_opens(uri)
    if expect.refused:
        assert out.startswith("CommitConflictError False |") and expect.refused in out, (out, err)
        assert ds.describe_indices() == []
        assert not os.path.exists(os.path.join(uri, "_lancer")) and not os.path.exists(os.path.join(uri, "_indices"))
    else:
        assert out.strip() == "ok", (out, err)
        assert ds.version == 3
        B.check_built(uri, "IVF_FLAT", expect.indexed)
        got = ds.to_table(nearest={"column": "vector", "q": expect.query, "k": 1, "nprobes": 4}, columns=["id"])
        assert got["id"].to_pylist() == [expect.query_id]
