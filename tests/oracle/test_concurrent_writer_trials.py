"""A smoke run of bench/concurrent_writer_trials.py (issue 18): one trial of each pylance writer
operation against a one-process build on a small dataset. The full run (20 trials per operation,
some under mpirun) is a bench script: docs/build-staging.md."""

from __future__ import annotations

import os
import subprocess
import sys

from lancer_cli import lancer_bin

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(REPO, "bench", "concurrent_writer_trials.py")
OPS = ("append", "delete", "update", "compact", "optimize", "scalar", "overwrite")


def test_one_trial_of_each_writer(tmp_path):
    r = subprocess.run([sys.executable, SCRIPT, "--lancer", lancer_bin(), "--trials", "1", "--mpi-every", "0",
                        "--rows", "6000", "--rows-per-file", "1000", "--dim", "16", "--index-types", "IVF_FLAT",
                        "--seed", "3", "--work", str(tmp_path / "trials")],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    for op in OPS:
        assert f"{op}: trials 1, failures 0" in r.stdout, r.stdout
