"""The public functions of the lancer package."""

from __future__ import annotations

import contextlib
import inspect as _inspect_module
import json
import os
import warnings
from typing import Any, Callable, Optional, Union

from lancer import _core
from lancer._options import (HeldInputs, build_options, dataset_path, location, positive_int, remove_inputs,
                             storage_options_dict)
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


# Lance build-tuning keywords lance_ray forwards to Lance's builder; they do not
# change what lancer builds, so they are accepted and ignored with a warning.
_IGNORED_LANCE_KWARGS = frozenset({
    "accelerator", "index_cache_size", "shuffle_partition_batches", "shuffle_partition_concurrency",
    "filter_nan", "target_partition_size", "streaming_sample_rate", "streaming_coreset_rate",
    "streaming_refine_passes", "skip_transpose", "one_pass_ivfpq",
})


def _resolve_uri(uri, storage_options, namespace_impl, namespace_properties, table_id):
    """(dataset path, storage options): from uri, a LanceDataset, or a Lance namespace table."""
    has_namespace = namespace_impl is not None and table_id is not None
    if uri is not None and has_namespace:
        raise ValueError("Cannot provide both 'uri' and namespace parameters. "
                         "Use either 'uri' OR ('namespace_impl' + 'table_id').")
    if uri is None and not has_namespace:
        raise ValueError("Must provide either 'uri' OR ('namespace_impl' + 'table_id').")
    options = dict(storage_options or {})
    if uri is None:
        import lance_namespace

        namespace = lance_namespace.connect(namespace_impl, dict(namespace_properties or {}))
        table = namespace.describe_table(lance_namespace.DescribeTableRequest(id=list(table_id)))
        if table.location is None:
            raise ValueError(f"namespace {namespace_impl} did not return a location for table {table_id}")
        options.update(table.storage_options or {})
        uri = table.location
    elif storage_options is None and getattr(uri, "_storage_options", None):
        options = dict(uri._storage_options)  # a LanceDataset's own
    return dataset_path(uri), options or None


def create_index(
    uri: Any = None,
    column: str = "",
    index_type: Any = "",
    name: Optional[str] = None,
    *,
    replace: bool = True,
    num_workers: int = 4,
    num_segments: Optional[int] = None,
    storage_options: Optional[dict] = None,
    block_size: Optional[int] = None,
    namespace_impl: Optional[str] = None,
    namespace_properties: Optional[dict] = None,
    table_id: Optional[list] = None,
    ray_remote_args: Optional[dict] = None,
    metric: str = "l2",
    num_partitions: Optional[int] = None,
    num_sub_vectors: Optional[int] = None,
    sample_rate: int = 256,
    max_iters: int = 50,
    num_bits: Optional[int] = None,
    ivf_centroids: Any = None,
    pq_codebook: Any = None,
    rabitq_model: Any = None,
    m: int = 20,
    ef_construction: int = 150,
    max_level: int = 7,
    engine: str = "ray",
    seed: Optional[int] = None,
    work_dir: Optional[str] = None,
    threads: Optional[int] = None,
    progress: Progress = None,
    **kwargs: Any,
):
    """Build an IVF_FLAT, IVF_SQ, IVF_PQ, IVF_RQ or IVF_HNSW_FLAT/SQ/PQ index on ``column`` and commit it.

    Takes lance_ray.create_index's arguments (lance-ray 0.5: a path, a
    ``LanceDataset``, or a namespace table via ``namespace_impl`` /
    ``namespace_properties`` / ``table_id``), with ``ivf_centroids`` /
    ``pq_codebook`` (numpy arrays or pyarrow FixedSizeList arrays) honoured:
    training is skipped for what they give.

    m, ef_construction, max_level: IVF_HNSW_*'s graph parameters, Lance's names
        and defaults (20, 150, 7).
    num_bits: PQ 8 (default) or 4; IVF_RQ 1..9, default 5 as pylance 14 builds
        it (lance-ray 0.5's docs say 1, from Lance before 14): the report's
        ``num_bits`` says what was built. ``rabitq_model``: Lance's RaBitQ
        model JSON (``lance.lance.indices.build_rq_model``), its rotation used.
    num_segments: commit the index as this many segments over disjoint
        fragments (as lance-ray does); default one merged index, which Lance
        searches fastest, whatever ``num_workers`` is.
    engine: ``"ray"`` spreads training and the per-fragment tasks over Ray
        (``num_workers`` at a time, ``ray_remote_args`` passed to each task;
        connects to a running cluster or starts a local one); ``"local"``
        builds in this process on all cores (``threads`` to limit).
    seed: seeds sampling and training (default 42): the same seed and data
        give the same index bytes for any engine and worker count.
    storage_options: Lance's options for a dataset on an object store (s3://,
        gs://, az://): keys such as ``aws_region``, ``aws_endpoint``,
        ``allow_http``; a ``LanceDataset``'s own are used when none are given;
        ``AWS_*`` (etc.) environment variables fill in the rest. With engine
        ``"ray"`` they travel to the workers in each task, as in lance-ray.
    work_dir: staging folder for intermediate files (default
        ``<dataset>/_lancer/build-<name>``, on the object store for a dataset
        there); it must be visible to every worker: a shared folder or an
        object-store URI (same storage_options).
    progress: ``None`` shows a bar per phase when tqdm is installed, ``False``
        none; a callable gets ``(phase, done, total, finished)``.

    Returns the dataset opened at the new version (a ``lance.LanceDataset``)
    when pylance is installed, else the new version number. The phase report
    is available from ``lancer.last_report()``. On error the dataset is left
    as it was; a build killed midway resumes when called again.
    """
    global _last_report
    unknown = set(kwargs) - _IGNORED_LANCE_KWARGS
    if unknown:
        raise TypeError(f"create_index() got unexpected keyword arguments: {', '.join(sorted(unknown))}")
    if kwargs:
        warnings.warn(f"lancer ignores Lance build-tuning arguments: {', '.join(sorted(kwargs))}", stacklevel=2)
    if not column:
        raise ValueError("Column name cannot be empty")
    if engine not in ("ray", "local"):
        raise ValueError(f"engine must be 'ray' or 'local', not {engine!r}")
    num_workers = positive_int(num_workers, "num_workers")
    if block_size is not None:
        positive_int(block_size, "block_size")  # object-store reads only: nothing to tune here
    if ray_remote_args is not None and not isinstance(ray_remote_args, dict):
        raise TypeError("ray_remote_args must be a dict")
    path, storage_options = _resolve_uri(uri, storage_options, namespace_impl, namespace_properties, table_id)
    held = HeldInputs()
    try:
        options = build_options(
            path, column, index_type, name, replace=replace, metric=metric, num_partitions=num_partitions,
            num_sub_vectors=num_sub_vectors, sample_rate=sample_rate, max_iters=max_iters, num_bits=num_bits,
            ivf_centroids=ivf_centroids, pq_codebook=pq_codebook, num_segments=num_segments, seed=seed,
            m=m, ef_construction=ef_construction, max_level=max_level, rabitq_model=rabitq_model,
            threads=threads, work_dir=work_dir, held=held, storage_options=storage_options)
        sink = _progress_sink(progress)
        try:
            if engine == "local":
                report = json.loads(_core.create_index(options, sink))
                report["engine"] = "local"
            else:
                try:
                    from lancer._ray_engine import create_index_ray
                except ImportError as error:
                    raise ImportError(f"engine='ray' needs Ray (pip install 'ray[default]'), or use "
                                      f"engine='local': {error}") from error
                report = create_index_ray(options, num_workers, ray_remote_args or {}, sink)
        finally:
            if hasattr(sink, "close"):
                sink.close()
    finally:
        held.release()
        remove_inputs(path, held.paths, held.storage_options)
    _last_report = report
    return _open_result(path, report["version"], storage_options)


# create_index's arguments that the per-phase functions take too (same defaults).
_BUILD_ARGS = ("replace", "metric", "num_partitions", "num_sub_vectors", "sample_rate", "max_iters", "num_bits",
               "ivf_centroids", "pq_codebook", "rabitq_model", "num_segments", "m", "ef_construction", "max_level", "seed", "threads",
               "work_dir", "storage_options")


def _own_options(uri: Any, storage_options: Optional[dict]) -> Optional[dict]:
    """The given storage options, else a LanceDataset's own."""
    if storage_options is None and not isinstance(uri, (str, os.PathLike)):
        own = getattr(uri, "_storage_options", None)
        if own:
            return dict(own)
    return storage_options


@contextlib.contextmanager
def _phase_options(uri, column, index_type, name, kw):
    """The core's options for one phase call; supplied inputs are held during the call
    and stay on disk for the next phase (finalize and cleanup remove them)."""
    unknown = set(kw) - set(_BUILD_ARGS)
    if unknown:
        raise TypeError(f"unexpected keyword arguments: {', '.join(sorted(unknown))}")
    defaults = _inspect_module.signature(create_index).parameters
    args = {k: kw.get(k, defaults[k].default) for k in _BUILD_ARGS}
    args["storage_options"] = _own_options(uri, args["storage_options"])
    held = HeldInputs()
    try:
        yield build_options(uri, column, index_type, name, held=held, **args), held
    finally:
        held.release()


def plan(uri: Any, column: str, index_type: str, name: Optional[str] = None, **options: Any) -> dict:
    """Phase 1a: plan the build (or find the one already planned) in the staging folder.

    Takes create_index's build arguments. Returns ``staging``, ``uuid``,
    ``dataset_version``, ``tasks`` (the number of phase-2 tasks), ``resumed``,
    ``trained`` and ``missing_tasks``. Every later phase must get the same arguments.
    """
    with _phase_options(uri, column, index_type, name, options) as (opts, _):
        return _core.plan(opts)


def train(uri: Any, column: str, index_type: str, name: Optional[str] = None, *, progress: Progress = False,
          **options: Any) -> None:
    """Phase 1b: sample and train the model of a planned build (no-op when trained)."""
    with _phase_options(uri, column, index_type, name, options) as (opts, _):
        _core.train(opts, _progress_sink(progress))


def build_task(uri: Any, column: str, index_type: str, name: Optional[str] = None, *, task: int,
               **options: Any) -> dict:
    """Phase 2: build task ``task`` (0 <= task < plan()['tasks']); idempotent.

    Returns ``task``, ``rows``, ``busy_s``, ``worker`` and ``reused`` (found done).
    """
    if isinstance(task, bool) or not isinstance(task, int) or task < 0:
        raise ValueError(f"task must be a non-negative integer, got {task!r}")
    with _phase_options(uri, column, index_type, name, options) as (opts, _):
        return _core.build_task(opts, task)


def finalize(uri: Any, column: str, index_type: str, name: Optional[str] = None, *, progress: Progress = False,
             storage_options: Optional[dict] = None, **options: Any):
    """Phase 3: merge every task's output, commit the index, remove the staging folder.

    Refuses (ValueError naming them) while tasks are missing. Returns what
    create_index returns.
    """
    global _last_report
    storage_options = _own_options(uri, storage_options)
    with _phase_options(uri, column, index_type, name, dict(options, storage_options=storage_options)) as (opts, held):
        report = json.loads(_core.finalize(opts, _progress_sink(progress)))
    remove_inputs(opts["uri"], held.paths, held.storage_options)
    _last_report = report
    return _open_result(opts["uri"], report["version"], storage_options)


def cleanup(uri: Any, work_dir: Optional[str] = None, storage_options: Optional[dict] = None) -> list:
    """Removes staging folders that failed builds left (never one a running build holds;
    on an object store, which has no locks, every one: run it when no build runs)."""
    path = dataset_path(uri)
    options = storage_options_dict(_own_options(uri, storage_options)) or {}
    removed = _core.cleanup(path, location(work_dir, "work_dir") if work_dir else "", options)
    remove_inputs(path)
    return removed


def inspect(uri: Any, version: Optional[int] = None, storage_options: Optional[dict] = None) -> dict:
    """A dataset version as a dict: versions, schema, fragments and files, indexes (`lancer inspect --json`)."""
    options = storage_options_dict(_own_options(uri, storage_options)) or {}
    return json.loads(_core.inspect(dataset_path(uri), version, options))


