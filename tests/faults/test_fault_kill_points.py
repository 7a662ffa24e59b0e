"""A training process killed at any step of a checkpoint save loses at most one epoch."""

from __future__ import annotations

import signal
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import fault_workers as workers
import pytest

from aisec.models.checkpoint import load_checkpoint

KILL_ON_SAVE = 2  # the save of epoch 1 (0-based): epoch 0 is committed, epoch 1 is being saved


@pytest.fixture(scope="module")
def reference() -> str:
    """The weights of an uninterrupted run, without checkpoints."""
    with ProcessPoolExecutor(max_workers=1, mp_context=workers.context()) as pool:
        resumed_from, digest = pool.submit(workers.train_to_the_end, None).result(timeout=120)
    assert resumed_from == 0
    return digest


@pytest.mark.parametrize("kill_point", workers.KILL_POINTS)
def test_a_killed_save_resumes_with_at_most_one_epoch_lost(
    tmp_path: Path, kill_point: str, reference: str
) -> None:
    ctx = workers.context()
    child = ctx.Process(  # type: ignore[attr-defined]
        target=workers.train_and_die, args=(str(tmp_path), kill_point, KILL_ON_SAVE)
    )
    child.start()
    child.join(timeout=120)
    assert child.exitcode == -signal.SIGKILL  # killed at that point, not finished
    _, metadata = load_checkpoint(tmp_path / "last")  # what survived verifies
    committed = KILL_ON_SAVE - 1 if kill_point == "after-rename" else KILL_ON_SAVE - 2
    assert metadata["epoch"] == committed
    with ProcessPoolExecutor(max_workers=1, mp_context=ctx) as pool:
        resumed_from, digest = pool.submit(workers.train_to_the_end, str(tmp_path)).result(120)
    assert resumed_from == committed + 1 >= KILL_ON_SAVE - 1  # at most the killed epoch lost
    assert digest == reference  # and the resumed run ends bit-identical
