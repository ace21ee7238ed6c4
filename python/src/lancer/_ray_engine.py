"""engine="ray": the build's phases as Ray work.

The engine loops over the phases the core reports (``_core.phases``: name,
kind, tasks) and schedules each by its kind, never by its name:

- collective (training): one Ray task per rank, gang-scheduled by a placement
  group; the ranks exchange their parts through files in the staging folder
  (core FileCollective: no actor to start, no copy through the object store).
  The core combines the parts in rank order, so the model is bit-identical to
  a one-process build. Rank 0 stores the model once, in the staging folder.
- independent (phase 2, the per-fragment tasks): one Ray task per task not
  done yet, at most num_workers in flight, ray_remote_args passed through.
  Tasks are idempotent, so Ray's retries (max_retries) cover a dead worker or node.
- single (merge + commit): on the driver, exactly as on one machine.
The staging folder (and the dataset) must be on storage every node sees: a shared
filesystem or an object store (s3://, gs://, az://), which needs nothing shared at all.
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
def _collective_rank(options: dict, phase: str, rank: int, size: int, exchange_dir: str) -> None:
    # Tests only: LANCER_FAULT_KILL_RANK_ONCE=<file> kills rank 1 once (the file
    # records that it happened), as a node lost in the middle of training would.
    once = os.environ.get("LANCER_FAULT_KILL_RANK_ONCE")
    if once and rank == 1 and not os.path.exists(once):
        open(once, "w").close()
        os.kill(os.getpid(), signal.SIGKILL)
    _core.run_phase(options, phase, 0, None, rank, size, exchange_dir)


@ray.remote
def _phase_task(options: dict, phase: str, task: int) -> dict:
    result = _core.run_phase(options, phase, task)
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


def _run_collective(options: dict, phase: str, staging: str, ranks: int, remote_args: dict) -> int:
    """Runs a collective phase (training) with up to `ranks` ranks; returns how many ran."""
    cpus = _cpus(remote_args)
    options = dict(options, threads=cpus)
    # The caller's runtime environment applies to training too; resources come from the bundles.
    env = {"runtime_env": remote_args["runtime_env"]} if "runtime_env" in remote_args else {}
    bundle = {"CPU": cpus}
    if "memory" in remote_args:
        bundle["memory"] = remote_args["memory"]
    pg, ranks = _gang(bundle, ranks)
    if ranks == 1:
        refs = [_collective_rank.options(num_cpus=cpus, **env).remote(options, phase, 0, 1, "")]
        exchange_dir = None
    else:
        exchange_dir = f"{staging.rstrip('/')}/exchange-{uuid.uuid4().hex}"  # new for every attempt
        refs = [
            _collective_rank.options(
                num_cpus=cpus,
                scheduling_strategy=PlacementGroupSchedulingStrategy(pg, placement_group_bundle_index=r),
                **env,
            ).remote(options, phase, r, ranks, exchange_dir)
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
            if "://" in exchange_dir:
                _core.delete_tree(exchange_dir, options.get("storage_options") or {})
            else:
                shutil.rmtree(exchange_dir, ignore_errors=True)
    return ranks


def _run_independent(options: dict, phase: dict, tasks: list, num_workers: int, remote_args: dict,
                     progress: Optional[Callable]) -> list:
    """Runs `tasks` of an independent phase, at most num_workers at a time; returns their outcomes."""
    remote_args = dict(remote_args)
    remote_args.setdefault("num_cpus", 1)
    options = dict(options, threads=_cpus(remote_args))
    queue = list(tasks)
    pending: dict = {}
    results = []
    total = len(tasks)
    label = phase["progress"]
    if progress and label:
        progress(label, 0, total, total == 0)
    while queue or pending:
        while queue and len(pending) < num_workers:
            task = queue.pop(0)
            pending[_phase_task.options(**remote_args).remote(options, phase["name"], task)] = task
        done, _ = ray.wait(list(pending), num_returns=1)
        for ref in done:
            del pending[ref]
            results.append(_get_or_cancel(ref, pending))
            if progress and label:
                progress(label, len(results), total, len(results) == total)
    return results


def _run_collective_with_retries(options: dict, phase: str, staging: str, ranks: int,
                                 remote_args: dict) -> tuple:
    """A collective phase, restarted on the CPUs left when a rank is lost; returns (ranks, retries)."""
    retries = 0
    for attempt in range(1, TRAIN_ATTEMPTS + 1):
        try:
            return _run_collective(options, phase, staging, ranks, remote_args), retries
        except RayError:  # a rank was lost, not a core error (those surface as themselves)
            if attempt == TRAIN_ATTEMPTS:
                raise
            cluster_cpus = int(ray.cluster_resources().get("CPU", 1))
            ranks = max(1, min(ranks, cluster_cpus // _cpus(remote_args)))
            retries += 1
    raise AssertionError("unreachable")


def create_index_ray(options: dict, num_workers: int, remote_args: dict, progress: Optional[Callable]) -> dict:
    """Plan on the driver, then every phase the core reports: collective and
    independent ones on the cluster, single ones (merge and commit) on the driver."""
    started = time.perf_counter()
    if not ray.is_initialized():
        ray.init(log_to_driver=False)  # RAY_ADDRESS, a running local cluster, or a new one
    planned = _core.plan(options)
    results: list = []
    phase_seconds: dict = {}
    reused_tasks = 0
    train_ranks = 0
    train_retries = 0
    report = None
    try:
        # Collective ranks run together: never more than the cluster has CPUs for.
        cluster_cpus = int(ray.cluster_resources().get("CPU", 1))
        ranks = max(1, min(num_workers, planned["tasks"], cluster_cpus // _cpus(remote_args)))
        for phase in _core.phases(options):
            name, kind = phase["name"], phase["kind"]
            t_phase = time.perf_counter()
            missing = _core.missing(options, name)
            if kind == "collective":
                if missing:
                    ranks, retries = _run_collective_with_retries(options, name, planned["staging"], ranks,
                                                                  remote_args)
                    train_ranks = ranks
                    train_retries += retries
            elif kind == "independent":
                done = _run_independent(options, phase, missing, num_workers, remote_args, progress)
                results.extend(done)
                reused_tasks += phase["tasks"] - len(missing) + sum(1 for r in done if r["reused"])
                phase_seconds[phase["progress"] or name] = time.perf_counter() - t_phase
            else:
                for task in missing:
                    outcome = _core.run_phase(options, name, task, progress)
                    if "report" in outcome:
                        report = json.loads(outcome["report"])
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
    report["reused_tasks"] = reused_tasks
    report["resumed"] = bool(planned["resumed"])
    report["phases_s"].update(phase_seconds)
    report["phases_s"]["total"] = time.perf_counter() - started
    report["engine"] = "ray"
    report["num_workers"] = num_workers
    report["train_ranks"] = train_ranks
    report["train_retries"] = train_retries
    return report
