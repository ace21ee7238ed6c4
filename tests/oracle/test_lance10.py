"""Second oracle: datasets written by pylance 10.0.0 (in .venv-lance10, run as
a subprocess through lance10_writer.py) must be read identically by lancer.

Create the environment with
    python3 -m venv .venv-lance10
    .venv-lance10/bin/pip install -r requirements-lance10.txt
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import datasets as D
from conftest import LANCE10_PYTHON

pytestmark = pytest.mark.lance10

HERE = os.path.dirname(os.path.abspath(__file__))
# the 2.0/2.1 part of the matrix, plus Lance 10's default (= 2.1)
SPECS = D.matrix_specs(versions=("2.0", "2.1", None))


@pytest.fixture(scope="session")
def lance10_dir(tmp_path_factory):
    if not os.path.exists(LANCE10_PYTHON):
        pytest.skip(f"second oracle not installed: {LANCE10_PYTHON} is missing "
                    f"(python3 -m venv .venv-lance10 && "
                    f".venv-lance10/bin/pip install -r requirements-lance10.txt)")
    out = tmp_path_factory.mktemp("lance10")
    specs_path = out / "specs.json"
    specs_path.write_text(json.dumps([s.to_json() for s in SPECS]))
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    p = subprocess.run([LANCE10_PYTHON, os.path.join(HERE, "lance10_writer.py"),
                        str(out), str(specs_path)],
                       capture_output=True, text=True, timeout=900, env=env)
    done_path = out / "_done.json"
    if p.returncode != 0 or not done_path.exists():
        pytest.fail(f"lance10_writer.py failed (rc={p.returncode}):\n{p.stdout[-3000:]}\n"
                    f"{p.stderr[-5000:]}", pytrace=False)
    done = json.loads(done_path.read_text())
    assert done["lance_version"].startswith("10."), done["lance_version"]
    return str(out), done


@pytest.mark.parametrize("spec", SPECS, ids=[s.id for s in SPECS])
def test_lance10_export(spec, lance10_dir, lancer, outdir):
    root, done = lance10_dir
    if spec.id in done["failed"]:
        pytest.fail(f"pylance 10 could not write {spec.id}:\n{done['failed'][spec.id]}",
                    pytrace=False)
    w = D.load_written(root, spec.id)
    assert w["meta"]["data_storage_version"] == (spec.version or "2.1")
    # the exact values written are the matrix values (same seed) ...
    values, mask = D.matrix_data(spec)
    assert w["values"].tobytes() == values.tobytes() and np.array_equal(w["mask"], mask)
    # ... and Lance 10's row addresses agree with the layout model
    m_ids, m_addrs = D.model_live_rows(spec)
    assert np.array_equal(w["live_ids"], m_ids) and np.array_equal(w["live_addrs"], m_addrs)
    addrs, vecs = D.expected_from(w["values"], w["mask"], w["live_ids"], w["live_addrs"])
    exp = D.Expected(w["uri"], "vector", D.DTYPES[spec.dtype], spec.dim, addrs, vecs,
                     label=f"lance10:{spec.id}")
    lancer.check_export(exp, outdir)


@pytest.mark.parametrize("spec", [s for s in SPECS if s.dim == 16 and s.dtype == "f32"
                                  and s.nulls and s.deletions],
                         ids=lambda s: s.id)
def test_lance10_inspect(spec, lance10_dir, lancer):
    root, done = lance10_dir
    if spec.id in done["failed"]:
        pytest.fail(done["failed"][spec.id], pytrace=False)
    uri = os.path.join(root, f"{spec.id}.lance")
    j = lancer.inspect_json(uri)
    assert j["data_storage_version"] == (spec.version or "2.1")
    assert j["manifest_naming"] == "v2"
    assert j["version"] == (2 if spec.deletions else 1)
    assert len(j["fragments"]) == (3 if spec.multi_frag else 1)
    for f in j["fragments"]:
        for x in f["files"]:
            assert x["file_version"] == (spec.version or "2.1")
