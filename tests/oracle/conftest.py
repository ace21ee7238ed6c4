"""Shared fixtures for the lancer oracle tests (pylance 14.0.2 is the oracle).

Environment:
  LANCER_BIN            lancer binary (default <repo>/build/lancer)
  LANCER_ALLOW_MISSING  =1: skip (instead of fail) tests needing lancer when it
                        is not built
  LANCE10_PYTHON        interpreter of the second oracle
                        (default <repo>/.venv-lance10/bin/python)
"""

from __future__ import annotations

import os
import sys
import threading

import numpy as np
import pyarrow as pa
import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

import lance  # noqa: E402

import datasets as D  # noqa: E402
import lancer_cli as L  # noqa: E402

REPO = L.REPO
LANCE10_PYTHON = os.environ.get("LANCE10_PYTHON",
                                os.path.join(REPO, ".venv-lance10", "bin", "python"))


def pytest_report_header(config):
    why = L.lancer_available()
    return [
        f"oracle: pylance {lance.__version__}, pyarrow {pa.__version__}, numpy {np.__version__}",
        f"lancer: {L.lancer_bin()} ({'ok' if why is None else why})",
        f"second oracle: {LANCE10_PYTHON} "
        f"({'present' if os.path.exists(LANCE10_PYTHON) else 'MISSING: lance10 tests will skip'})",
    ]


@pytest.fixture(scope="session")
def lancer():
    why = L.lancer_available()
    if why is not None:
        if os.environ.get("LANCER_ALLOW_MISSING") == "1":
            pytest.skip(why)
        pytest.fail(why + "  (set LANCER_ALLOW_MISSING=1 to skip instead)", pytrace=False)
    return L


class DatasetStore:
    """Lazily built, session-cached datasets under pytest's tmp dirs."""

    def __init__(self, tmp_path_factory):
        self._factory = tmp_path_factory
        self._root = str(tmp_path_factory.mktemp("datasets"))
        self._cache = {}
        self._lock = threading.Lock()

    def path(self, name: str) -> str:
        return os.path.join(self._root, name)

    def get(self, key: str, builder):
        """builder(root_dir) -> anything; called once per key."""
        with self._lock:
            if key not in self._cache:
                d = os.path.join(self._root, key)
                os.makedirs(d, exist_ok=True)
                self._cache[key] = builder(d)
            return self._cache[key]

    def matrix(self, spec: D.MatrixSpec) -> D.Expected:
        return self.get("matrix-" + spec.id, lambda d: build_matrix_expected(spec, d))


def build_matrix_expected(spec: D.MatrixSpec, root: str) -> D.Expected:
    uri = os.path.join(root, "ds.lance")
    ds, values, mask = D.write_matrix_dataset(lance, spec, uri)
    live = D.live_rows(ds)
    # the oracle's addresses agree with the layout model ...
    m_ids, m_addrs = D.model_live_rows(spec)
    assert np.array_equal(live["ids"], m_ids), f"{spec.id}: live ids differ from the model"
    assert np.array_equal(live["addrs"], m_addrs), f"{spec.id}: row addresses differ from the model"
    # ... and pylance reads back exactly what was written
    ids, vecs = D.vectors_via_lance(ds, "vector", spec.dtype, spec.dim)
    addrs, exp_vecs = D.expected_from(values, mask, live["ids"], live["addrs"])
    assert vecs.tobytes() == exp_vecs.tobytes(), f"{spec.id}: pylance read-back differs"
    if spec.version is not None:
        assert ds.data_storage_version == spec.version
    return D.Expected(uri, "vector", D.DTYPES[spec.dtype], spec.dim, addrs, exp_vecs,
                      label=spec.id, extra={"spec": spec})


@pytest.fixture(scope="session")
def store(tmp_path_factory):
    return DatasetStore(tmp_path_factory)


@pytest.fixture
def outdir(tmp_path):
    return str(tmp_path)
