"""Running an experiment's examples in shards: by whom, checkpointed where, resumed how.

An experiment that works per example (a robustness evaluation, a text-attack campaign,
certification, watermark detection) builds a :class:`~aisec.experiments.shards.ShardTask` —
a picklable object holding the model and the data, whose ``run_shard(start, stop)``
evaluates examples ``start … stop−1`` — and hands it to :func:`run_sharded`, which

- splits the examples into shards of whole batches
  (:func:`~aisec.experiments.shards.plan_shards`),
- skips the shards its checkpoint folder already holds (a rerun resumes),
- has an :class:`~aisec.experiments.executors.Executor` run the others (this process, or Ray
  workers that receive the task once) and stores each finished shard atomically,
- returns the shards' outputs in order, with an :class:`ExecutionRecord`.

Results never depend on the split: every example's randomness is keyed by (seed, its index)
(:mod:`aisec.seeding`) and a shard holds whole batches of the serial run, so the same
floating-point operations run on the same rows.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from aisec.experiments.executors import Executor, SerialExecutor
from aisec.experiments.shards import (
    Shard,
    ShardOutput,
    ShardProgress,
    ShardStore,
    ShardTask,
    plan_shards,
)

__all__ = [
    "EXECUTOR_NAMES",
    "Execution",
    "ExecutionRecord",
    "make_executor",
    "run_sharded",
]

EXECUTOR_NAMES = ("serial", "ray")


@dataclass(frozen=True)
class Execution:
    """How an experiment's examples are run: by whom, in which shards, checkpointed where.

    None of it changes the result (see this module's docstring).

    Attributes:
        executor: who runs the shards; ``None``: this process
            (:class:`~aisec.experiments.executors.SerialExecutor`).
        shard_size: examples per shard, rounded up to whole batches; ``None``: the
            experiment's default (one batch, or a few examples for per-example work).
        checkpoint_dir: where finished shards are stored (a rerun with the same folder skips
            them); ``None``: nothing is stored.
        on_progress: called after every shard with a :class:`ShardProgress`.
    """

    executor: Executor | None = None
    shard_size: int | None = None
    checkpoint_dir: Path | None = None
    on_progress: Callable[[ShardProgress], None] | None = None

    def __post_init__(self) -> None:
        if self.shard_size is not None and (
            isinstance(self.shard_size, bool)
            or not isinstance(self.shard_size, int)
            or self.shard_size < 1
        ):
            raise ValueError(f"shard_size must be None or an int >= 1, got {self.shard_size!r}")
        if self.checkpoint_dir is not None and not isinstance(self.checkpoint_dir, (str, Path)):
            raise TypeError(f"checkpoint_dir must be a path, got {self.checkpoint_dir!r}")


@dataclass(frozen=True)
class ExecutionRecord:
    """What a sharded run did (the ``execution`` entry of an experiment's JSON).

    Attributes:
        executor: the executor's name (``"serial"``, ``"ray"``).
        workers: processes that ran shards.
        shard_size: examples per shard (the last may be smaller).
        shards: shards in all.
        computed: shards computed by this run.
        resumed: shards read back from the checkpoint folder.
        retried: shard attempts that failed and were run again (a dead worker, an error).
        time_s: seconds of the run (start-up included).
    """

    executor: str
    workers: int
    shard_size: int
    shards: int
    computed: int
    resumed: int
    retried: int
    time_s: float

    def to_dict(self) -> dict[str, Any]:
        """The fields as a dict."""
        return asdict(self)


@dataclass
class _Tally:
    """Progress bookkeeping of :func:`run_sharded`."""

    total_shards: int
    total_examples: int
    began: float
    on_progress: Callable[[ShardProgress], None] | None
    shards_done: int = 0
    examples_done: int = 0

    def finished(self, shard: Shard) -> None:
        self.shards_done += 1
        self.examples_done += shard.size
        if self.on_progress is not None:
            self.on_progress(
                ShardProgress(
                    self.shards_done,
                    self.total_shards,
                    self.examples_done,
                    self.total_examples,
                    time.perf_counter() - self.began,
                )
            )


def run_sharded(
    task: ShardTask,
    n: int,
    *,
    kind: str,
    execution: Execution | None = None,
    batch_size: int = 1,
    default_shard_size: int | None = None,
) -> tuple[list[ShardOutput], ExecutionRecord]:
    """Run ``task`` over ``n`` examples in shards; resume from and write to the checkpoints.

    Args:
        task: the experiment's per-example work.
        n: examples.
        kind: the experiment's name (the checkpoint folder's prefix).
        execution: executor, shard size, checkpoint folder and progress callback.
        batch_size: the experiment's batch size; shards hold whole batches.
        default_shard_size: the shard size when ``execution`` gives none (default: one batch).

    Returns:
        The outputs of all shards in order, and the :class:`ExecutionRecord`.
    """
    began = time.perf_counter()
    execution = execution or Execution()
    executor = execution.executor or SerialExecutor()
    size = execution.shard_size or default_shard_size or batch_size
    shards = plan_shards(n, size, batch_size)
    store = (
        ShardStore(Path(execution.checkpoint_dir), kind, task.fingerprint())
        if execution.checkpoint_dir is not None
        else None
    )
    outputs: dict[int, ShardOutput] = {}
    if store is not None:
        for shard in shards:
            stored = store.load(shard)
            if stored is not None:
                outputs[shard.index] = stored
    resumed = len(outputs)
    todo = [shard for shard in shards if shard.index not in outputs]
    tally = _Tally(len(todo), sum(s.size for s in todo), time.perf_counter(), execution.on_progress)

    def done(shard: Shard, output: ShardOutput) -> None:
        if store is not None:
            store.save(shard, output)
        outputs[shard.index] = output
        tally.finished(shard)

    report = executor.run(task, todo, done) if todo else None
    record = ExecutionRecord(
        executor=executor.name,
        workers=report.workers if report is not None else 0,
        shard_size=shards[0].size if shards else size,
        shards=len(shards),
        computed=len(todo),
        resumed=resumed,
        retried=report.retried if report is not None else 0,
        time_s=time.perf_counter() - began,
    )
    return [outputs[shard.index] for shard in shards], record


def make_executor(
    name: str,
    *,
    address: str | None = None,
    workers: int | None = None,
    gpus_per_worker: float = 0.0,
) -> Executor:
    """The executor called ``name`` (``"serial"`` or ``"ray"``).

    Args:
        name: ``"serial"`` (this process) or ``"ray"``.
        address: Ray only: the cluster to join (``ray.init(address=...)``, e.g. ``"auto"`` or
            ``"ray://head:10001"``); ``None``: a local cluster sized to this machine.
        workers: Ray only: worker processes (default: one per CPU, or per GPU share).
        gpus_per_worker: Ray only: GPUs each worker holds (``1``: one worker per GPU).

    Raises:
        ValueError: for an unknown name, or Ray options given to the serial executor.
    """
    if name not in EXECUTOR_NAMES:
        raise ValueError(f"unknown executor {name!r}; expected one of {', '.join(EXECUTOR_NAMES)}")
    if name == "serial":
        if address is not None or workers is not None or gpus_per_worker:
            raise ValueError(
                "an address, workers and GPUs per worker apply to the ray executor only"
            )
        return SerialExecutor()
    from aisec.experiments.ray_executor import RayExecutor

    return RayExecutor(address=address, workers=workers, gpus_per_worker=gpus_per_worker)
