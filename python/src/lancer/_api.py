"""The public functions of the lancer package."""

from __future__ import annotations

import json
import os
from typing import Any, Callable, Optional, Union

from lancer import _core
from lancer._options import build_options, dataset_path, positive_int, remove_inputs
from lancer._progress import make_progress

_last_report: Optional[dict] = None

Progress = Optional[Union[bool, Callable[[str, int, int, bool], None]]]


def last_report() -> Optional[dict]:
    """The phase report of the last create_index or finalize in this process (the CLI's --report JSON)."""
    return None if _last_report is None else dict(_last_report)


def _progress_sink(progress: Progress):
    if callable(progress):
        return progress
    return make_progress(progress)


def _open_result(path: str, version: int, storage_options: Optional[dict]):
    try:
        import lance
    except ImportError:
        return version
    return lance.dataset(path, version=version, storage_options=storage_options)


def create_index(
    uri: Any,
    column: str,
    index_type: str,
    name: Optional[str] = None,
    *,
    replace: bool = True,
    num_workers: int = 4,
    storage_options: Optional[dict] = None,
    ray_remote_args: Optional[dict] = None,
    metric: str = "l2",
    num_partitions: Optional[int] = None,
    num_sub_vectors: Optional[int] = None,
    sample_rate: int = 256,
    max_iters: int = 50,
    num_bits: int = 8,
    ivf_centroids: Any = None,
    pq_codebook: Any = None,
    num_segments: Optional[int] = None,
    engine: str = "ray",
    seed: Optional[int] = None,
    work_dir: Optional[str] = None,
    threads: Optional[int] = None,
    progress: Progress = None,
    **kwargs: Any,
):
    """Build an IVF_FLAT, IVF_SQ or IVF_PQ index on ``column`` and commit it.

    Arguments and defaults are lance_ray.create_index's (lance-ray 0.5), with
    ``ivf_centroids`` / ``pq_codebook`` (numpy arrays or pyarrow
    FixedSizeList arrays) honoured: training is skipped for what they give.

    engine: ``"ray"`` spreads training and the per-fragment tasks over Ray
        (``num_workers`` at a time, ``ray_remote_args`` passed to each task;
        connects to a running cluster or starts a local one); ``"local"``
        builds in this process on all cores (``threads`` to limit).
    seed: seeds sampling and training (default 42): the same seed and data
        give the same index bytes for any engine and worker count.
    work_dir: staging folder for intermediate files (default
        ``<dataset>/_lancer/build-<name>``); it must be visible to every worker.
    progress: ``None`` shows a bar per phase when tqdm is installed, ``False``
        none; a callable gets ``(phase, done, total, finished)``.

    Returns the dataset opened at the new version (a ``lance.LanceDataset``)
    when pylance is installed, else the new version number. The phase report
    is available from ``lancer.last_report()``. On error the dataset is left
    as it was; a build killed midway resumes when called again.
    """
    global _last_report
    if kwargs:
        raise TypeError(f"create_index() got unexpected keyword arguments: {', '.join(sorted(kwargs))}")
    if engine not in ("ray", "local"):
        raise ValueError(f"engine must be 'ray' or 'local', not {engine!r}")
    num_workers = positive_int(num_workers, "num_workers")
    if ray_remote_args is not None and not isinstance(ray_remote_args, dict):
        raise TypeError("ray_remote_args must be a dict")
    path = dataset_path(uri)
    try:
        options = build_options(
            path, column, index_type, name, replace=replace, metric=metric, num_partitions=num_partitions,
            num_sub_vectors=num_sub_vectors, sample_rate=sample_rate, max_iters=max_iters, num_bits=num_bits,
            ivf_centroids=ivf_centroids, pq_codebook=pq_codebook, num_segments=num_segments, seed=seed,
            threads=threads, work_dir=work_dir)
        sink = _progress_sink(progress)
        try:
            if engine == "local":
                report = json.loads(_core.create_index(options, sink))
                report["engine"] = "local"
            else:
                from lancer._ray_engine import create_index_ray
                report = create_index_ray(options, num_workers, ray_remote_args or {}, sink)
        finally:
            if hasattr(sink, "close"):
                sink.close()
    finally:
        remove_inputs(path)
    _last_report = report
    return _open_result(path, report["version"], storage_options)


def _phase_options(uri, column, index_type, name, kw) -> dict:
    args = dict(replace=True, metric="l2", num_partitions=None, num_sub_vectors=None, sample_rate=256,
                max_iters=50, num_bits=8, ivf_centroids=None, pq_codebook=None, num_segments=None, seed=None,
                threads=None, work_dir=None)
    unknown = set(kw) - set(args)
    if unknown:
        raise TypeError(f"unexpected keyword arguments: {', '.join(sorted(unknown))}")
    args.update(kw)
    return build_options(uri, column, index_type, name, **args)


def plan(uri: Any, column: str, index_type: str, name: Optional[str] = None, **options: Any) -> dict:
    """Phase 1a: plan the build (or find the one already planned) in the staging folder.

    Takes create_index's build arguments. Returns ``staging``, ``uuid``,
    ``dataset_version``, ``tasks`` (the number of phase-2 tasks), ``resumed``,
    ``trained`` and ``missing_tasks``. Every later phase must get the same arguments.
    """
    return _core.plan(_phase_options(uri, column, index_type, name, options))


def train(uri: Any, column: str, index_type: str, name: Optional[str] = None, *, progress: Progress = False,
          **options: Any) -> None:
    """Phase 1b: sample and train the model of a planned build (no-op when trained)."""
    _core.train(_phase_options(uri, column, index_type, name, options), _progress_sink(progress))


def build_task(uri: Any, column: str, index_type: str, name: Optional[str] = None, *, task: int,
               **options: Any) -> dict:
    """Phase 2: build task ``task`` (0 <= task < plan()['tasks']); idempotent.

    Returns ``task``, ``rows``, ``busy_s``, ``worker`` and ``reused`` (found done).
    """
    if isinstance(task, bool) or not isinstance(task, int) or task < 0:
        raise ValueError(f"task must be a non-negative integer, got {task!r}")
    return _core.build_task(_phase_options(uri, column, index_type, name, options), task)


def finalize(uri: Any, column: str, index_type: str, name: Optional[str] = None, *, progress: Progress = False,
             storage_options: Optional[dict] = None, **options: Any):
    """Phase 3: merge every task's output, commit the index, remove the staging folder.

    Refuses (ValueError naming them) while tasks are missing. Returns what
    create_index returns.
    """
    global _last_report
    opts = _phase_options(uri, column, index_type, name, options)
    report = json.loads(_core.finalize(opts, _progress_sink(progress)))
    remove_inputs(opts["uri"])
    _last_report = report
    return _open_result(opts["uri"], report["version"], storage_options)


def cleanup(uri: Any, work_dir: Optional[str] = None) -> list:
    """Removes staging folders that failed builds left (never one a running build holds)."""
    path = dataset_path(uri)
    removed = _core.cleanup(path, os.path.abspath(work_dir) if work_dir else "")
    remove_inputs(path)
    return removed


def inspect(uri: Any, version: Optional[int] = None) -> dict:
    """A dataset version as a dict: versions, schema, fragments and files, indexes (`lancer inspect --json`)."""
    return json.loads(_core.inspect(dataset_path(uri), version))


