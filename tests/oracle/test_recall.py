"""Recall of lancer's indexes against Lance's own, on the same data with the same
parameters, both searched by the same engine (pylance 14.0.2's `to_table(nearest=...)`).

Clustered synthetic data (20,000 x 64 in 16 fragments), held-out queries from the same
distribution, recall@10 against exact brute force (numpy, float64) at nprobes 1, 10 and
20, for IVF_FLAT, IVF_SQ and IVF_PQ (l2). Each index lives in its own copy of the
dataset, where it is the only index. `pytest -s` prints the table.

Why 1,000 queries, not 50: recall at nprobes 1 depends on where k-means puts the
partition boundaries, which changes from build to build (seed). Over 50 queries two of
Lance's own builds of the same index differed by up to 0.09 at nprobes 1 (and lancer's
builds with different --seed likewise); over 1,000 queries the build-to-build spread is
about 0.01 for either builder, so a 0.02 tolerance measures the builders, not the seed.
Lance's build is unseeded and now and then lands ~0.02 below its usual nprobes-1 figure;
see the test for how that is handled (two more Lance builds, the median of three)."""

from __future__ import annotations

import json
import shutil
import subprocess

import lance
import numpy as np
import pyarrow as pa
import pytest

ROWS, DIM, FRAGMENTS = 20_000, 64, 16
CENTRES, NOISE = 1000, 0.5
NLIST, M, SAMPLE_RATE, MAX_ITERS = 64, 16, 256, 50
NQ, K = 1000, 10
NPROBES = (1, 10, 20)
TYPES = ["IVF_FLAT", "IVF_SQ", "IVF_PQ"]
TOLERANCE = 0.02

_results: dict = {}


def clustered(n: int, rng: np.random.Generator, centres: np.ndarray) -> np.ndarray:
    picks = centres[rng.integers(0, len(centres), n)]
    return (picks + NOISE * rng.standard_normal((n, DIM))).astype(np.float32)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    rng = np.random.default_rng(2024)
    centres = rng.standard_normal((CENTRES, DIM)).astype(np.float32)
    values = clustered(ROWS, rng, centres)
    qs = clustered(NQ, rng, centres)  # held out: not in the dataset
    uri = str(tmp_path_factory.mktemp("recall") / "base.lance")
    table = pa.table({"id": pa.array(np.arange(ROWS)),
                      "vector": pa.FixedSizeListArray.from_arrays(pa.array(values.ravel()), DIM)})
    ds = lance.write_dataset(table, uri, max_rows_per_file=ROWS // FRAGMENTS)
    assert len(ds.get_fragments()) == FRAGMENTS
    t = ds.to_table(columns=["vector"], with_row_id=True)
    rowids = t["_rowid"].to_numpy()
    vecs = t["vector"].combine_chunks().flatten().to_numpy().reshape(-1, DIM).astype(np.float64)
    q64 = qs.astype(np.float64)
    d = (q64 ** 2).sum(1)[:, None] - 2 * q64 @ vecs.T + (vecs ** 2).sum(1)[None, :]
    truth = [set(rowids[np.argsort(row, kind="stable")[:K]].tolist()) for row in d]
    yield uri, qs, truth
    if _results:
        print_table()


def print_table():
    print(f"\nrecall@{K}: {ROWS} x {DIM} clustered, {FRAGMENTS} fragments, {NLIST} partitions, "
          f"PQ m={M}, {NQ} held-out queries, both searched by pylance {lance.__version__}")
    print(f"{'type':9} {'nprobes':>7} {'lancer':>7} {'lance':>7} {'diff':>7}  lance builds")
    order = lambda kv: (TYPES.index(kv[0][0]), kv[0][1])  # noqa: E731
    for (itype, nprobes), (ours, theirs, builds) in sorted(_results.items(), key=order):
        print(f"{itype:9} {nprobes:7d} {ours:7.3f} {theirs:7.3f} {ours - theirs:+7.3f}  "
              + ("1" if builds == 1 else f"median of {builds}"))


def recall(ds, qs, truth, nprobes, full: bool = True) -> float:
    """full: every query must return K rows. Lance's unseeded build now and then leaves a
    partition with fewer than K rows (a clean-clone CI run got 8 at nprobes 1 from Lance's
    IVF_SQ), so its runs pass full=False and a short answer just scores fewer hits."""
    hits = 0
    for q, exact in zip(qs, truth):
        got = ds.to_table(nearest={"column": "vector", "q": q, "k": K, "nprobes": nprobes},
                          with_row_id=True, columns=["_distance"])["_rowid"].to_pylist()
        assert len(got) == K or (not full and len(got) < K), (len(got), K)
        hits += len(set(got) & exact)
    return hits / (K * len(qs))


def lance_build(base: str, dest: str, index_type: str):
    shutil.copytree(base, dest)
    extra = {"num_sub_vectors": M} if index_type == "IVF_PQ" else {}
    lance.dataset(dest).create_index("vector", index_type, metric="l2", num_partitions=NLIST,
                                     sample_rate=SAMPLE_RATE, max_iters=MAX_ITERS, **extra)
    ds = lance.dataset(dest)
    (desc,) = ds.describe_indices()
    assert desc.index_type == index_type
    return ds


@pytest.mark.slow
@pytest.mark.parametrize("index_type", TYPES)
def test_recall_matches_lance(lancer, data, tmp_path, index_type):
    base, qs, truth = data
    ours = str(tmp_path / "lancer.lance")
    shutil.copytree(base, ours)
    report = str(tmp_path / "report.json")
    args = [lancer.lancer_bin(), "create-index", ours, "--column", "vector", "--index-type", index_type,
            "--metric", "l2", "--num-partitions", str(NLIST), "--sample-rate", str(SAMPLE_RATE),
            "--max-iters", str(MAX_ITERS), "--report", report]
    if index_type == "IVF_PQ":
        args += ["--num-sub-vectors", str(M)]
    r = subprocess.run(args, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, f"{' '.join(args)} failed ({r.returncode}):\n{r.stderr}"
    uuid = json.load(open(report))["uuid"]
    a = lance.dataset(ours)
    (desc,) = a.describe_indices()
    assert desc.index_type == index_type
    plan = a.scanner(nearest={"column": "vector", "q": qs[0], "k": K, "nprobes": 1},
                     with_row_id=True).explain_plan()
    assert f"uuid={uuid}" in plan, plan  # Lance searches lancer's index, not a flat scan
    r_ours = {n: recall(a, qs, truth, n) for n in NPROBES}

    # lancer's build is seeded (deterministic); Lance's is not, and at nprobes 1 one
    # Lance build differs from the next by up to ~0.03 even over 4,000 queries (IVF_FLAT
    # here: 0.818 to 0.847). So when a gap exceeds the tolerance, Lance builds twice
    # more and lancer is judged against the median of its three builds.
    runs = [{n: recall(b, qs, truth, n, full=False) for n in NPROBES}
            for b in [lance_build(base, str(tmp_path / "lance0.lance"), index_type)]]
    median = lambda n: float(np.median([run[n] for run in runs]))  # noqa: E731
    if any(median(n) - r_ours[n] > TOLERANCE for n in NPROBES):
        print(f"{index_type}: gap over {TOLERANCE} against Lance's first build {runs[0]}: building twice more")
        for i in (1, 2):
            b = lance_build(base, str(tmp_path / f"lance{i}.lance"), index_type)
            runs.append({n: recall(b, qs, truth, n, full=False) for n in NPROBES})

    gaps = []
    for n in NPROBES:
        theirs = median(n)
        _results[(index_type, n)] = (r_ours[n], theirs, len(runs))
        print(f"{index_type} nprobes={n}: lancer {r_ours[n]:.3f}  lance {theirs:.3f}"
              + (f" (median of {[round(run[n], 3) for run in runs]})" if len(runs) > 1 else ""))
        # Below Lance's by more than the tolerance fails; above it is not a defect (a clean-clone
        # CI run saw lancer 0.836 against a median of Lance's three unseeded builds of 0.815 at nprobes 1).
        if theirs - r_ours[n] > TOLERANCE:
            gaps.append(f"nprobes={n}: lancer {r_ours[n]:.3f} vs lance {theirs:.3f}")
    assert not gaps, f"{index_type}: recall@{K} is below Lance's by more than {TOLERANCE}: " + "; ".join(gaps)
