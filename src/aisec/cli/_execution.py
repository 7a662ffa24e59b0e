"""The options of commands that run per-example work in shards: ``--executor``, ``--address``,
``--shard-size``, ``--workers`` and ``--gpus-per-worker`` (see
:mod:`aisec.experiments.sharded`). With ``--out``, finished shards are stored under
``OUT/shards/`` and a rerun of the same command resumes."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from aisec.cli._common import console

if TYPE_CHECKING:  # experiments (and torch) load when a command runs, not at start-up
    from aisec.experiments.sharded import Execution
    from aisec.experiments.shards import ShardProgress

__all__ = [
    "AddressOption",
    "ExecutorOption",
    "GpusPerWorkerOption",
    "ShardSizeOption",
    "WorkersOption",
    "execution_of",
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


def execution_of(
    executor: str,
    address: str | None,
    shard_size: int | None,
    out: Path | None,
    *,
    workers: int | None = None,
    gpus_per_worker: float = 0.0,
) -> Execution:
    """The :class:`~aisec.experiments.sharded.Execution` of a command's options, checked
    before any work (checkpoints under ``out/shards`` when ``out`` is given).

    Raises:
        ValueError: for an unknown executor, a bad size, Ray options without Ray's executor,
            or ``--executor ray`` without Ray installed.
    """
    from aisec.experiments.sharded import Execution, make_executor

    if executor == "ray" and importlib.util.find_spec("ray") is None:
        raise ValueError("--executor ray needs Ray: pip install 'aisec[ray]'")
    return Execution(
        executor=make_executor(
            executor, address=address, workers=workers, gpus_per_worker=gpus_per_worker
        ),
        shard_size=shard_size,
        checkpoint_dir=None if out is None else out / "shards",
        on_progress=_show,
    )
