"""The options of commands that run per-example work in shards: ``--executor``, ``--address``,
``--shard-size``, ``--workers`` and ``--gpus-per-worker`` (see
:mod:`aisec.experiments.sharded`), added by :func:`with_execution_options`. With ``--out``,
finished shards are stored under ``OUT/shards/`` and a rerun of the same command resumes."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from aisec.cli._common import console
from aisec.cli._options import grouped_options

if TYPE_CHECKING:  # experiments (and torch) load when a command runs, not at start-up
    from aisec.experiments.executors import Executor
    from aisec.experiments.sharded import Execution
    from aisec.experiments.shards import ShardProgress

_Command = TypeVar("_Command", bound=Callable[..., None])

__all__ = [
    "AddressOption",
    "ExecutionOptions",
    "ExecutorOption",
    "GpusPerWorkerOption",
    "ShardSizeOption",
    "WorkersOption",
    "execution_options",
    "with_execution_options",
]

_PANEL = "Execution (results do not depend on it)"

ExecutorOption = Annotated[
    str,
    typer.Option(
        help="serial (this process) or ray (a Ray cluster; needs aisec[ray])",
        rich_help_panel=_PANEL,
    ),
]
AddressOption = Annotated[
    str | None,
    typer.Option(
        help="the Ray cluster to join (e.g. auto, ray://HEAD:10001); default: a local one",
        rich_help_panel=_PANEL,
    ),
]
ShardSizeOption = Annotated[
    int | None,
    typer.Option(
        help="examples per shard, rounded up to whole batches (default: one batch)",
        rich_help_panel=_PANEL,
    ),
]
WorkersOption = Annotated[
    int | None,
    typer.Option(help="Ray workers (default: one per CPU or GPU share)", rich_help_panel=_PANEL),
]
GpusPerWorkerOption = Annotated[
    float,
    typer.Option(help="GPUs per Ray worker (1: one worker per GPU)", rich_help_panel=_PANEL),
]


def _show(progress: ShardProgress) -> None:
    console.print(
        f"shard {progress.shards_done}/{progress.shards_total}: "
        f"{progress.examples_done} of {progress.examples_total} examples, "
        f"{progress.examples_per_second:.2f} examples/s"
    )


@dataclass(frozen=True)
class ExecutionOptions:
    """The executor and shard options of a command, checked (see :func:`with_execution_options`).

    Attributes:
        executor: the executor the options name.
        shard_size: ``--shard-size``.
    """

    executor: Executor
    shard_size: int | None

    def execution(self, out: Path | None) -> Execution:
        """The :class:`~aisec.experiments.sharded.Execution` for a run writing to ``out``
        (finished shards under ``out/shards``; none without ``out``); progress on the console."""
        from aisec.experiments.sharded import Execution

        return Execution(
            executor=self.executor,
            shard_size=self.shard_size,
            checkpoint_dir=None if out is None else out / "shards",
            on_progress=_show,
        )


def execution_options(
    *,
    executor: str,
    address: str | None,
    shard_size: int | None,
    workers: int | None,
    gpus_per_worker: float,
) -> ExecutionOptions:
    """Check the options (before any work) into :class:`ExecutionOptions`.

    Raises:
        ValueError: an unknown executor, a bad size, Ray options without Ray's executor, or
            ``--executor ray`` without Ray installed.
    """
    from aisec.experiments.sharded import Execution, make_executor

    if executor == "ray" and importlib.util.find_spec("ray") is None:
        raise ValueError("--executor ray needs Ray: pip install 'aisec[ray]'")
    Execution(shard_size=shard_size)  # the size's check
    made = make_executor(
        executor, address=address, workers=workers, gpus_per_worker=gpus_per_worker
    )
    return ExecutionOptions(made, shard_size)


_EXECUTION_PARAMETERS: tuple[tuple[str, Any, object], ...] = (
    ("executor", ExecutorOption, "serial"),
    ("address", AddressOption, None),
    ("shard_size", ShardSizeOption, None),
    ("workers", WorkersOption, None),
    ("gpus_per_worker", GpusPerWorkerOption, 0.0),
)


def with_execution_options() -> Callable[[_Command], _Command]:
    """Give a command ``--executor``, ``--address``, ``--shard-size``, ``--workers`` and
    ``--gpus-per-worker``, as one keyword ``execution_options: ExecutionOptions``; a bad value
    is one line of error (exit code 2)."""
    return grouped_options(_EXECUTION_PARAMETERS, "execution_options", execution_options)
