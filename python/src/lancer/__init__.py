"""lancer: fast IVF_FLAT / IVF_SQ / IVF_PQ index builds for Lance datasets.

``lancer.create_index`` takes lance_ray.create_index's arguments; the C++ core
does the work, in this process (``engine="local"``) or spread over a Ray
cluster (``engine="ray"``). The per-phase functions ``plan``, ``train``,
``build_task`` and ``finalize`` let other engines drive the same build.
"""

from lancer._core import CommitConflictError, CorruptionError, NotFoundError  # noqa: E402
from lancer._api import (  # noqa: E402
    build_task,
    cleanup,
    create_index,
    finalize,
    inspect,
    last_report,
    plan,
    train,
)

from lancer._version import build_version  # noqa: E402

# "0.1.0", with .git_revision, .simd_in_use, .blas, .blas_kernel, ... and .details (lancer --version).
__version__ = build_version()
__all__ = [
    "create_index", "plan", "train", "build_task", "finalize", "cleanup", "inspect", "last_report",
    "CorruptionError", "NotFoundError", "CommitConflictError",
]
