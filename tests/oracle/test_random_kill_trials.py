"""Smoke test of bench/random_kill_trials.py (issue 18's random kills): two one-process trials,
so that the bench script keeps working; the 20-trial runs per kind are in docs/build-staging.md."""

from __future__ import annotations

import os
import subprocess
import sys

from lancer_cli import REPO, lancer_bin


def test_two_local_random_kill_trials_resume_to_the_same_bytes(tmp_path):
    script = os.path.join(REPO, "bench", "random_kill_trials.py")
    r = subprocess.run([sys.executable, script, "--kinds", "local", "--trials", "2", "--seed", "3",
                        "--rows", "20000", "--dim", "32", "--fragments", "4",
                        "--build", os.path.dirname(lancer_bin()), "--work", str(tmp_path)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "local: trials 2, failures 0" in r.stdout
    assert r.stdout.count("local trial ") == 2
