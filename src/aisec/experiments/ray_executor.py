"""Shards on a Ray cluster: one actor per worker holds the task, shards go to idle actors.

The task (model and data) is put in Ray's object store once per run; every actor fetches it
once and moves it to its device (a GPU when Ray gave it one). With ``keep_workers`` the
actors stay up between runs of one executor, so a worker process's start-up (importing
torch) is paid once. The driver hands shards to idle actors and stores each result as it
arrives, so an interrupted run loses only the shards in flight. A shard whose actor died is
run again on a fresh actor; a shard whose task raised is run again, up to ``max_retries``
times, then the error is raised (a ``ValueError`` or ``TypeError``, which would fail again,
is raised at once).

Reference:
    P. Moritz et al., "Ray: A distributed framework for emerging AI applications", OSDI 2018.
"""

from __future__ import annotations

import os
import uuid
from collections import deque
from collections.abc import Sequence
from typing import Any

from aisec.experiments.executors import Executor, ExecutorReport, ShardDone
from aisec.experiments.shards import Shard, ShardOutput, ShardTask

__all__ = ["RayExecutor", "ShardWorker"]


def _import_ray() -> Any:
    try:
        import ray
    except ImportError as error:
        raise ImportError(
            "--executor ray needs Ray: pip install 'aisec[ray]' (or pip install 'ray>=2.40')"
        ) from error
    return ray


class ShardWorker:
    """A Ray actor: a warm process that runs shards of the task it was last given.

    The task arrives as an object reference (inside a list, so Ray does not resolve it on
    every call); the actor fetches it from the object store once per run and moves it to its
    device (a GPU when Ray gave it one), then keeps it for that run's later shards.
    """

    def __init__(self) -> None:
        import ray
        import torch

        self.device = "cuda" if ray.get_gpu_ids() and torch.cuda.is_available() else "cpu"
        self.key: str | None = None
        self.task: ShardTask | None = None

    def run_shard(self, key: str, task_ref: list[Any], start: int, stop: int) -> ShardOutput:
        """Examples ``start … stop−1`` of the task ``key`` (fetched on its first shard)."""
        if key != self.key or self.task is None:
            import ray

            self.task = ray.get(task_ref[0]).to(self.device)
            self.key = key
        return self.task.run_shard(start, stop)

    def pid(self) -> int:
        """The worker's process id."""
        return os.getpid()


class RayExecutor(Executor):
    """Shards on Ray actors (``ray.init(address=...)``, or a local cluster).

    Args:
        address: the cluster to join; ``None``: the running cluster if this process already
            called ``ray.init``, else a local one sized to this machine.
        workers: actors (default: as many as the cluster's CPUs, or GPUs when
            ``gpus_per_worker`` > 0, allow).
        gpus_per_worker: GPUs per actor (``1``: one worker per GPU).
        max_retries: times a failed shard is run again before the error is raised.
        keep_workers: keep the actors (and the CPUs or GPUs they hold) between runs, so that
            repeated runs skip the workers' start-up; :meth:`close` releases them.
        start_timeout_s: seconds to wait for the workers to start; those not up by then (no
            free CPU or GPU for them) are given up, and with none up the run fails.
    """

    name = "ray"

    def __init__(
        self,
        *,
        address: str | None = None,
        workers: int | None = None,
        gpus_per_worker: float = 0.0,
        max_retries: int = 3,
        keep_workers: bool = False,
        start_timeout_s: float = 120.0,
    ) -> None:
        if address is not None and not isinstance(address, str):
            raise TypeError(f"address must be a string, got {address!r}")
        if workers is not None and (
            isinstance(workers, bool) or not isinstance(workers, int) or workers < 1
        ):
            raise ValueError(f"workers must be None or an int >= 1, got {workers!r}")
        if isinstance(gpus_per_worker, bool) or not isinstance(gpus_per_worker, (int, float)):
            raise TypeError(f"gpus_per_worker must be a number, got {gpus_per_worker!r}")
        if gpus_per_worker < 0:
            raise ValueError(f"gpus_per_worker must be >= 0, got {gpus_per_worker}")
        if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
            raise ValueError(f"max_retries must be an int >= 0, got {max_retries!r}")
        self.address = address
        self.workers = workers
        self.gpus_per_worker = float(gpus_per_worker)
        self.max_retries = max_retries
        self.keep_workers = bool(keep_workers)
        self.start_timeout_s = float(start_timeout_s)
        self._actors: list[Any] = []
        self._session: str | None = None

    def __repr__(self) -> str:
        return (
            f"RayExecutor(address={self.address!r}, workers={self.workers!r}, "
            f"gpus_per_worker={self.gpus_per_worker!r}, max_retries={self.max_retries!r})"
        )

    def _actor_count(self, ray: Any, shards: int) -> int:
        if self.workers is not None:
            return min(self.workers, shards)
        resources = ray.cluster_resources()
        if self.gpus_per_worker > 0:
            slots = int(resources.get("GPU", 0) // self.gpus_per_worker)
        else:
            slots = int(resources.get("CPU", 1))
        return max(1, min(slots, shards))

    def run(self, task: ShardTask, shards: Sequence[Shard], done: ShardDone) -> ExecutorReport:
        """Run the shards on Ray actors; call ``done`` on the driver as each arrives.

        With ``keep_workers`` the actors stay up for this executor's next run (the start-up
        of a worker process, which imports torch, is paid once); :meth:`close` stops them.
        """
        ray = _import_ray()
        started_here = not ray.is_initialized()
        if started_here:
            ray.init(
                address=self.address,
                include_dashboard=False,
                logging_level="ERROR",
                configure_logging=False,
            )
        try:
            return self._run(ray, task, shards, done)
        finally:
            if not self.keep_workers:
                self.close()
            if started_here:
                self._actors = []
                ray.shutdown()

    def close(self) -> None:
        """Stop this executor's actors (they also stop with the cluster)."""
        ray = _import_ray()
        if ray.is_initialized() and self._session == _session(ray):
            for actor in self._actors:
                ray.kill(actor)
        self._actors = []

    def _remote_worker(self, ray: Any) -> Any:
        """The actor class: one CPU, and this executor's share of a GPU."""
        return ray.remote(num_cpus=1, num_gpus=self.gpus_per_worker)(ShardWorker)

    def _workers(self, ray: Any, count: int) -> list[Any]:
        """Up to ``count`` started actors: the warm ones of an earlier run, then new ones.

        Raises:
            RuntimeError: when no worker starts within ``start_timeout_s``.
        """
        if self._session != _session(ray):  # another cluster: the old handles are gone
            self._actors, self._session = [], _session(ray)
        remote = self._remote_worker(ray)
        new = [remote.remote() for _ in range(count - len(self._actors))]
        if new:
            probes = {actor.pid.remote(): actor for actor in new}
            ready, _ = ray.wait(list(probes), num_returns=len(probes), timeout=self.start_timeout_s)
            started = [probes[ref] for ref in ready]
            for actor in new:
                if actor not in started:
                    ray.kill(actor)  # never scheduled: the cluster has no room for it
            self._actors += started
        if not self._actors:
            raise RuntimeError(
                f"no Ray worker started within {self.start_timeout_s:g} s: the cluster has no "
                f"free CPU (or {self.gpus_per_worker:g} GPU) for one; another executor's "
                "workers may hold them (RayExecutor.close releases them)"
            )
        return self._actors[:count]

    def _run(
        self, ray: Any, task: ShardTask, shards: Sequence[Shard], done: ShardDone
    ) -> ExecutorReport:
        from ray.exceptions import RayActorError, RayTaskError

        key = uuid.uuid4().hex  # this run's task: a warm worker fetches it once
        task_ref = [ray.put(task)]  # once in the object store; each actor fetches it once
        actors = self._workers(ray, self._actor_count(ray, len(shards)))
        remote = self._remote_worker(ray)
        queue: deque[tuple[Shard, int]] = deque((shard, 0) for shard in shards)
        pending: dict[Any, tuple[int, Shard, int]] = {}
        retried = 0

        def submit(slot: int) -> None:
            if queue:
                shard, attempt = queue.popleft()
                ref = actors[slot].run_shard.remote(key, task_ref, shard.start, shard.stop)
                pending[ref] = (slot, shard, attempt)

        for slot in range(len(actors)):
            submit(slot)
        try:
            while pending:
                (ref,), _ = ray.wait(list(pending), num_returns=1)
                slot, shard, attempt = pending.pop(ref)
                try:
                    output = ray.get(ref)
                except (RayActorError, RayTaskError) as error:
                    cause = getattr(error, "cause", None)
                    if isinstance(cause, (ValueError, TypeError)):
                        raise cause from error  # a wrong input fails the same way every time
                    if attempt >= self.max_retries:
                        raise RuntimeError(
                            f"shard {shard.index} (examples {shard.start}–{shard.stop - 1}) "
                            f"failed {attempt + 1} times: {error}"
                        ) from error
                    retried += 1
                    queue.appendleft((shard, attempt + 1))
                    if isinstance(error, RayActorError):  # the worker died: a fresh one
                        actors[slot] = remote.remote()
                        self._actors[slot] = actors[slot]
                else:
                    done(shard, output)
                submit(slot)
        except BaseException:
            self.close()  # shards in flight are abandoned with their workers
            raise
        return ExecutorReport(workers=len(actors), retried=retried)


def _session(ray: Any) -> str:
    """The running cluster's session (actor handles belong to one)."""
    return str(ray.get_runtime_context().get_job_id())
