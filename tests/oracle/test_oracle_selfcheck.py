"""Checks of the fixture generators themselves (no lancer needed)."""

import numpy as np
import pytest

import datasets as D
import lanceraw as R


def test_matrix_ids_unique():
    ids = [s.id for s in D.matrix_specs()]
    assert len(ids) == len(set(ids)) == 3 * 5 * 4 * 2 * 2 * 2


@pytest.mark.parametrize("spec", [
    D.MatrixSpec("f32", 8, "2.1", True, True, True),
    D.MatrixSpec("f16", 128, "2.0", True, False, True),
    D.MatrixSpec("u8", 2048, None, False, True, False),
], ids=lambda s: s.id)
def test_matrix_fixture_builds(spec, store):
    exp = store.matrix(spec)  # asserts model == lance == written values inside
    assert exp.vectors.dtype == D.DTYPES[spec.dtype]
    assert exp.vectors.shape[1] == spec.dim
    if spec.nulls or spec.deletions:
        assert exp.n < spec.rows
    m = R.parse_manifest(R.manifest_path(exp.uri))
    assert len(m.fragments) == (3 if spec.multi_frag else 1)
    assert m.data_format[1] == (spec.version or "2.2")
