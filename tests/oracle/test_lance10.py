"""Second oracle: the 2.0 / 2.1 part of the matrix written by pylance 10.0.0
(in .venv-lance10, as a subprocess), read by lancer byte for byte."""

import json
import os
import subprocess

import numpy as np
import pytest

import datasets as D
from conftest import LANCE10_PYTHON, HERE

SPECS = D.matrix_specs(versions=("2.0", "2.1"))

pytestmark = pytest.mark.skipif(not os.path.exists(LANCE10_PYTHON),
                                reason="second oracle .venv-lance10 missing (scripts/test.sh creates it)")


@pytest.fixture(scope="session")
def lance10_datasets(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("lance10"))
    specs_path = os.path.join(out, "specs.json")
    with open(specs_path, "w") as fh:
        json.dump([s.to_json() for s in SPECS], fh)
    r = subprocess.run([LANCE10_PYTHON, os.path.join(HERE, "lance10_writer.py"), out, specs_path],
                       capture_output=True, text=True, timeout=1200)
    assert r.returncode == 0, r.stderr[-3000:]
    with open(os.path.join(out, "_done.json")) as fh:
        done = json.load(fh)
    assert done["lance_version"].startswith("10."), done["lance_version"]
    return out, done


@pytest.mark.parametrize("spec", SPECS, ids=[s.id for s in SPECS])
def test_export_matches_lance10(spec, lance10_datasets, lancer, outdir):
    out, done = lance10_datasets
    assert spec.id not in done["failed"], done["failed"].get(spec.id)
    w = D.load_written(out, spec.id)
    addrs, vecs = D.expected_from(w["values"], w["mask"], w["live_ids"], w["live_addrs"])
    exp = D.Expected(w["uri"], "vector", D.DTYPES[spec.dtype], spec.dim, addrs, vecs, label="lance10-" + spec.id)
    lancer.check_export(exp, outdir)
