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

__version__ = "0.1.0"
__all__ = [
    "create_index", "plan", "train", "build_task", "finalize", "cleanup", "inspect", "last_report",
    "CorruptionError", "NotFoundError", "CommitConflictError",
]
