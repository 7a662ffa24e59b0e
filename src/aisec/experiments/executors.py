"""Who runs an experiment's shards: this process (``serial``) or a Ray cluster (``ray``).

An :class:`Executor` gets a :class:`~aisec.experiments.shards.ShardTask` (the model and the
data, sent once), the shards still to run, and a callback that the driver calls with each
finished shard (which stores it). :func:`make_executor` turns the CLI's ``--executor`` and
``--address`` into one.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from aisec.experiments.shards import Shard, ShardOutput, ShardTask

__all__ = [
    "Executor",
    "ExecutorReport",
    "SerialExecutor",
]

ShardDone = Callable[[Shard, ShardOutput], None]
"""``done(shard, output)``: called on the driver as each shard finishes."""


@dataclass(frozen=True)
class ExecutorReport:
    """How an executor ran: processes used and failed attempts run again."""

    workers: int
    retried: int = 0


class Executor(abc.ABC):
    """Runs shards of a task and reports each finished one to the driver."""

    name: str = ""

    @abc.abstractmethod
    def run(self, task: ShardTask, shards: Sequence[Shard], done: ShardDone) -> ExecutorReport:
        """Run ``task`` on every shard; call ``done(shard, output)`` as each finishes.

        Raises:
            Exception: the task's error, once its retries are spent.
        """


class SerialExecutor(Executor):
    """Every shard in this process, in order (the default)."""

    name = "serial"

    def run(self, task: ShardTask, shards: Sequence[Shard], done: ShardDone) -> ExecutorReport:
        """Run the shards one after the other; an error stops the run (finished shards stay
        stored)."""
        for shard in shards:
            done(shard, task.run_shard(shard.start, shard.stop))
        return ExecutorReport(workers=1)

    def __repr__(self) -> str:
        return "SerialExecutor()"
