"""engine="ray": the build's phases as Ray work.

- Training: one Ray task per rank, gang-scheduled by a placement group; the
  ranks run the core's distributed training, exchanging their parts through
  files in the staging folder (core::FileCollective: no actor to start, no
  copy through the object store). The core combines the parts in rank order,
  so the model is bit-identical to a one-process build. Rank 0 stores the
  model once, in the staging folder; tasks read it from there.
- Phase 2: one Ray task per task of the plan, at most num_workers in flight,
  ray_remote_args passed through. Tasks are idempotent, so Ray's retries
  (max_retries) cover a dead worker or node.
- Merge + commit on the driver, exactly as on one machine.
The staging folder (and the dataset) must be on storage every node sees.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import uuid
import time
from typing import Callable, Optional

import ray
from ray.exceptions import RayError, RayTaskError
from ray.util.placement_group import placement_group, remove_placement_group
from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

from lancer import _core

# Seconds to wait for every training rank's CPUs before trying with a quarter
# fewer ranks (the model is the same for any number of ranks: fewer only costs time).
GANG_WAIT_S = 20


# Attempts at training when a rank is lost (a worker or node died): the ranks
# must run together, so the whole training restarts, on the CPUs left.
TRAIN_ATTEMPTS = 3


@ray.remote(max_retries=0)
def _train_rank(options: dict, rank: int, size: int, exchange_dir: str) -> None:
    # Tests only: LANCER_FAULT_KILL_RANK_ONCE=<file> kills rank 1 once (the file
    # records that it happened), as a node lost in the middle of training would.
    once = os.environ.get("LANCER_FAULT_KILL_RANK_ONCE")
    if once and rank == 1 and not os.path.exists(once):
        open(once, "w").close()
        os.kill(os.getpid(), signal.SIGKILL)
    _core.train(options, None, rank, size, exchange_dir)


@ray.remote
def _build_task(options: dict, task: int) -> dict:
    result = _core.build_task(options, task)
    result["node"] = ray.get_runtime_context().get_node_id()
    return result


def _get_or_cancel(ref, others):
    """ray.get(ref); if it failed, cancel `others` (they may wait for it) and raise
    its error, a core error as itself (ValueError, OSError...), not as a RayTaskError."""
    try:
        return ray.get(ref)
    except Exception as error:
        for other in others:
            ray.cancel(other, force=True)
        if isinstance(error, RayTaskError) and error.cause is not None:
            raise error.cause from None
        raise


def _cpus(remote_args: dict) -> int:
    return max(1, int(remote_args.get("num_cpus", 1)))


def _gang(bundle: dict, ranks: int):
    """A placement group of `ranks` bundles once the cluster has room for it; with
    less room (a busy cluster, or a view of its CPUs that still counts a lost node),
    fewer, down to 2. Returns (group or None, ranks)."""
    while ranks > 1:
        pg = placement_group([bundle] * ranks, strategy="SPREAD")
        ready, _ = ray.wait([pg.ready()], timeout=GANG_WAIT_S)
        if ready:
            return pg, ranks
        remove_placement_group(pg)
        ranks -= max(1, ranks // 4)
    return None, 1


def _train(options: dict, staging: str, ranks: int, remote_args: dict) -> int:
    """Trains with up to `ranks` ranks; returns how many ran."""
    cpus = _cpus(remote_args)
    options = dict(options, threads=cpus)
    # The caller's runtime environment applies to training too; resources come from the bundles.
    env = {"runtime_env": remote_args["runtime_env"]} if "runtime_env" in remote_args else {}
    bundle = {"CPU": cpus}
    if "memory" in remote_args:
        bundle["memory"] = remote_args["memory"]
    pg, ranks = _gang(bundle, ranks)
    if ranks == 1:
        refs = [_train_rank.options(num_cpus=cpus, **env).remote(options, 0, 1, "")]
        exchange_dir = None
    else:
        exchange_dir = os.path.join(staging, f"exchange-{uuid.uuid4().hex}")  # new for every attempt
        refs = [
            _train_rank.options(
                num_cpus=cpus,
                scheduling_strategy=PlacementGroupSchedulingStrategy(pg, placement_group_bundle_index=r),
                **env,
            ).remote(options, r, ranks, exchange_dir)
            for r in range(ranks)
        ]
    try:
        pending = list(refs)
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            _get_or_cancel(done[0], pending)
    finally:
        if pg is not None:
            remove_placement_group(pg)
        if exchange_dir is not None:
            shutil.rmtree(exchange_dir, ignore_errors=True)
    return ranks


def _build(options: dict, tasks: list, num_workers: int, remote_args: dict,
           progress: Optional[Callable]) -> list:
    remote_args = dict(remote_args)
    remote_args.setdefault("num_cpus", 1)
    options = dict(options, threads=_cpus(remote_args))
    queue = list(tasks)
    pending: dict = {}
    results = []
    total = len(tasks)
    if progress:
        progress("build", 0, total, total == 0)
    while queue or pending:
        while queue and len(pending) < num_workers:
            task = queue.pop(0)
            pending[_build_task.options(**remote_args).remote(options, task)] = task
        done, _ = ray.wait(list(pending), num_returns=1)
        for ref in done:
            del pending[ref]
            results.append(_get_or_cancel(ref, pending))
            if progress:
                progress("build", len(results), total, len(results) == total)
    return results


def create_index_ray(options: dict, num_workers: int, remote_args: dict, progress: Optional[Callable]) -> dict:
    """Plan on the driver, train and build on the cluster, merge and commit on the driver."""
    started = time.perf_counter()
    if not ray.is_initialized():
        ray.init(log_to_driver=False)  # RAY_ADDRESS, a running local cluster, or a new one
    planned = _core.plan(options)
    try:
        # Training ranks run together: never more than the cluster has CPUs for.
        cluster_cpus = int(ray.cluster_resources().get("CPU", 1))
        ranks = max(1, min(num_workers, planned["tasks"], cluster_cpus // _cpus(remote_args)))
        train_retries = 0
        if not planned["trained"]:
            for attempt in range(1, TRAIN_ATTEMPTS + 1):
                try:
                    ranks = _train(options, planned["staging"], ranks, remote_args)
                    break
                except RayError:  # a rank was lost, not a core error (those surface as themselves)
                    if attempt == TRAIN_ATTEMPTS:
                        raise
                    cluster_cpus = int(ray.cluster_resources().get("CPU", 1))
                    ranks = max(1, min(ranks, cluster_cpus // _cpus(remote_args)))
                    train_retries += 1
        t_build = time.perf_counter()
        missing = _core.missing_tasks(options)
        results = _build(options, missing, num_workers, remote_args, progress)
        build_s = time.perf_counter() - t_build
        report = json.loads(_core.finalize(options, progress))
    except BaseException as error:
        # A core error (bad data) is final: leave nothing behind. A lost
        # cluster or an interrupt keeps the staging, so a rerun resumes.
        if isinstance(error, (ValueError, NotImplementedError, _core.CorruptionError)):
            try:
                _core.discard(options)
            except Exception:
                pass
        raise
    workers: dict = {}
    for r in results:
        w = workers.setdefault(r["worker"], {"worker": r["worker"], "tasks": 0, "busy_s": 0.0})
        w["tasks"] += 1
        w["busy_s"] += r["busy_s"]
    report["workers"] = sorted(workers.values(), key=lambda w: w["worker"])
    report["tasks"] = planned["tasks"]
    report["reused_tasks"] = planned["tasks"] - len(missing) + sum(1 for r in results if r["reused"])
    report["resumed"] = bool(planned["resumed"])
    report["phases_s"]["build"] = build_s
    report["phases_s"]["total"] = time.perf_counter() - started
    report["engine"] = "ray"
    report["num_workers"] = num_workers
    report["train_ranks"] = ranks if not planned["trained"] else 0
    report["train_retries"] = train_retries
    return report
