"""The main matrix: dtype x dim x file version x nulls x fragments x deletions,
written by pylance 14.0.2, exported by lancer, compared byte for byte."""

import pytest

import datasets as D

SPECS = D.matrix_specs()


@pytest.mark.matrix
@pytest.mark.parametrize("spec", SPECS, ids=[s.id for s in SPECS])
def test_export_matches_lance(spec, store, lancer, outdir):
    exp = store.matrix(spec)
    lancer.check_export(exp, outdir)
