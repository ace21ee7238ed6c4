"""The CLI's own output and exit codes: `plan --json` is JSON whatever the paths hold, and every
command line CLI11 cannot parse exits with the documented usage code 2 (README: 2 invalid
argument), never CLI11's own 105-and-up."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from datasets import write_clustered


def run_lancer(lancer, *args):
    return subprocess.run([lancer.lancer_bin(), *map(str, args)], capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    uri = str(tmp_path_factory.mktemp("cli") / "ds.lance")
    write_clustered(uri, fragments=2, rows_per_fragment=300, dim=8, clusters=4, seed=5)
    return uri


def test_plan_json_escapes_the_staging_path(lancer, dataset, tmp_path):
    work_dir = str(tmp_path / 'we"ird\\dir')
    r = run_lancer(lancer, "plan", dataset, "--column", "vector", "--index-type", "IVF_FLAT", "--num-partitions", 2,
                   "--work-dir", work_dir, "--json")
    assert r.returncode == 0, r.stderr
    plan = json.loads(r.stdout)
    assert plan["staging"] == work_dir
    assert plan["tasks"] >= 1 and plan["resumed"] is False and isinstance(plan["dataset_version"], int)
    assert os.path.isdir(work_dir)


@pytest.mark.parametrize("args,says", [
    (["--index-type", "IVF_PQ", "--num-bits", "12"], "num-bits"),     # out of range (was 105)
    (["--index-type", "IVF_PQ", "--num-bits", "eight"], "num-bits"),  # not a number
    (["--index-type", "IVF_FOO"], "index-type"),                      # not a choice
    (["--index-type", "IVF_PQ", "--no-such-flag"], "no-such-flag"),   # unknown flag
    (["--index-type", "IVF_PQ", "--ivf-centroids", "/nonexistent/c.npy"], "ivf-centroids"),
])
def test_every_usage_error_exits_2(lancer, dataset, args, says):
    before = sorted(os.listdir(dataset))
    r = run_lancer(lancer, "create-index", dataset, "--column", "vector", *args)
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert says in r.stderr, r.stderr
    assert sorted(os.listdir(dataset)) == before


def test_a_missing_subcommand_or_option_exits_2(lancer, dataset):
    assert run_lancer(lancer).returncode == 2
    r = run_lancer(lancer, "create-index", dataset)  # --column is required
    assert r.returncode == 2 and "column" in r.stderr, r.stderr


def test_help_and_version_still_exit_0(lancer):
    assert run_lancer(lancer, "--help").returncode == 0
    assert run_lancer(lancer, "create-index", "--help").returncode == 0
    r = run_lancer(lancer, "--version")
    assert r.returncode == 0 and r.stdout.startswith("lancer "), r.stdout
