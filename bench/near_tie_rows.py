"""How many rows a propose-then-check assignment would have to recompute
(docs/decisions/same-bytes-any-hardware.md): rows whose best and second-best
scores |c|^2 - 2 x.c are closer than twice (2E) or four times (4E) the proven
bound E on a float32 score's rounding error, E = (g_d + u)(|c|max^2 + 2|x||c|max),
g_d = d u / (1 - d u), u = 2^-24.

  near_tie_rows.py                       Gaussian rows, centroids = half-scaled rows
  near_tie_rows.py DATASET [INDEX_NAME]  a Lance dataset's `vector` column and its IVF centroids
"""
import sys

import numpy as np


def report(name, X, C):
    d = X.shape[1]
    u = 2.0 ** -24
    g = d * u / (1 - d * u)
    cn = (C ** 2).sum(1)
    xn = np.sqrt((X ** 2).sum(1))
    cm = np.sqrt(cn).max()
    S = cn[None, :] - 2.0 * (X @ C.T)
    part = np.partition(S, 1, axis=1)
    gap = part[:, 1] - part[:, 0]
    E = (g + u) * (cm ** 2 + 2 * xn * cm)
    print(f"{name} {X.shape[0]}x{d} k={len(C)}: rows within 2E {100 * np.mean(gap < 2 * E):.3f}%, "
          f"within 4E {100 * np.mean(gap < 4 * E):.3f}%; median 2E {np.median(2 * E):.3g}, median gap {np.median(gap):.3g}")


if len(sys.argv) > 1:
    import lance

    ds = lance.dataset(sys.argv[1])
    stats = ds.stats.index_stats(sys.argv[2] if len(sys.argv) > 2 else "vector_idx")
    C = np.array(stats["indices"][0]["centroids"], dtype=np.float32).astype(np.float64)
    X = np.stack(ds.to_table(columns=["vector"])["vector"].to_numpy(zero_copy_only=False)).astype(np.float64)
    report(sys.argv[1], X, C)
else:
    rng = np.random.default_rng(0)
    for n, d, k in [(50000, 128, 447), (20000, 1024, 245)]:
        X = rng.standard_normal((n, d)).astype(np.float32).astype(np.float64)
        C = X[rng.choice(n, k, replace=False)] * 0.5  # k-means centroids sit nearer the mean than rows
        report("gaussian", X, C)
