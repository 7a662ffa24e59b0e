"""Code that the fault-injection tests run in child processes (importable by the children).

The children are forked from a ``forkserver`` that has imported torch and aisec once, so each
costs a fork, not an interpreter start; the server never ran a parallel torch operation, so a
fork is safe.
"""

from __future__ import annotations

import dataclasses
import hashlib
import multiprocessing
import os
import signal
import time
from collections.abc import Callable
from multiprocessing.context import BaseContext
from typing import Any

import torch

PRELOAD = [
    "torch",
    "torch._dynamo",  # imported by the first optimizer step: seconds
    "sklearn.datasets",  # the digits
    "aisec.data",
    "aisec.models.training",
    "aisec.zoo.catalog",
    "fault_workers",
]


def context() -> BaseContext:
    """A multiprocessing context whose children start fast and safely."""
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(PRELOAD)
    return ctx


# --- concurrent writers and readers of one checkpoint --------------------------------------


def writer_content(writer: int) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """What writer ``writer`` saves: large enough that a save takes a while."""
    generator = torch.Generator().manual_seed(writer)
    tensors = {
        "weight": torch.randn(256, 256, generator=generator),
        "bias": torch.full((1000,), float(writer)),
    }
    metadata = {"writer": writer, "vocabulary": {f"w{k}": k * (writer + 1) for k in range(300)}}
    return tensors, metadata


def write_repeatedly(path: str, writer: int, rounds: int) -> int:
    """Save writer ``writer``'s content ``rounds`` times; returns the number of saves."""
    from aisec.models.checkpoint import save_checkpoint

    tensors, metadata = writer_content(writer)
    for _ in range(rounds):
        save_checkpoint(path, tensors, metadata)
    return rounds


def read_repeatedly(path: str, writers: int, seconds: float) -> int:
    """Load the checkpoint for ``seconds``; every load must be one writer's whole content.

    Returns:
        The number of loads that found a checkpoint (each checked).

    Raises:
        AssertionError: a load mixed two writers' contents.
    """
    from aisec.models.checkpoint import load_checkpoint

    expected = [writer_content(writer) for writer in range(writers)]
    loads = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            tensors, metadata = load_checkpoint(path)
        except FileNotFoundError:
            continue
        want_tensors, want_metadata = expected[metadata["writer"]]
        assert metadata == want_metadata, "metadata of one writer mixed with another's"
        assert tensors.keys() == want_tensors.keys()
        for name, value in want_tensors.items():
            assert torch.equal(tensors[name], value), f"{name} of another writer"
        loads += 1
    return loads


# --- concurrent trainers of one zoo entry ---------------------------------------------------


def use_quick_digits_spec() -> None:
    """Make the zoo's ``digits-cnn`` a 2-epoch recipe on 300 digits without a floor (fast)."""
    from aisec.models.training import TrainConfig
    from aisec.zoo import catalog

    catalog._ZOO["digits-cnn"] = dataclasses.replace(
        catalog._ZOO["digits-cnn"],
        train_config=TrainConfig(epochs=2, batch_size=64, seed=0),
        train_n=300,
        min_accuracy=0.0,
    )


def state_digest(model: torch.nn.Module) -> str:
    digest = hashlib.sha256()
    for name, value in model.state_dict().items():
        digest.update(name.encode())
        digest.update(value.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def load_zoo_model_logging_training(cache: str, log: str) -> str:
    """``aisec.zoo.load("digits-cnn")`` in ``cache``; each training appends a line to ``log``."""
    os.environ["AISEC_CACHE"] = cache
    torch.set_num_threads(1)
    from aisec.zoo import catalog

    use_quick_digits_spec()
    real_train = catalog.train_classifier

    def logged_train(*args: Any, **kwargs: Any) -> Any:
        with open(log, "a") as handle:
            handle.write(f"{os.getpid()}\n")
        time.sleep(1.0)  # long enough for the other process to want the model meanwhile
        return real_train(*args, **kwargs)

    catalog.train_classifier = logged_train  # type: ignore[assignment]
    return state_digest(catalog.load("digits-cnn", progress=False))


# --- a process killed while it saves a training checkpoint -----------------------------------

KILL_POINTS = ("before-temp-write", "after-temp-write", "before-rename", "after-rename")


def _tiny_training(checkpoint_dir: str | None) -> Any:
    from aisec.data import load as load_data
    from aisec.models import SmallCNN, TrainConfig, train_classifier

    torch.set_num_threads(1)
    data = load_data("digits", "train", n=256, seed=0)
    torch.manual_seed(0)
    model = SmallCNN(1, 10, widths=(8, 16), hidden=16)
    result = train_classifier(
        model,
        data.images,
        data.labels,
        TrainConfig(epochs=4, batch_size=64, lr=3e-3, seed=1),
        checkpoint_dir=checkpoint_dir,
        progress=False,
    )
    return model, result


def train_to_the_end(checkpoint_dir: str | None) -> tuple[int, str]:
    """Train the tiny model (resuming from ``checkpoint_dir``); ``(resumed_from, weights)``."""
    model, result = _tiny_training(checkpoint_dir)
    return result.resumed_from_epoch, state_digest(model)


def _killer(real: Callable[..., Any], armed: list[bool], *, after: bool) -> Callable[..., Any]:
    def call(*args: Any, **kwargs: Any) -> Any:
        if armed[0] and not after:
            os.kill(os.getpid(), signal.SIGKILL)
        value = real(*args, **kwargs)
        if armed[0] and after:
            os.kill(os.getpid(), signal.SIGKILL)
        return value

    return call


def train_and_die(checkpoint_dir: str, kill_point: str, kill_on_save: int) -> None:
    """Train the tiny model and SIGKILL this process at ``kill_point`` of save ``kill_on_save``.

    The kill points are steps of the real :func:`aisec.files.atomic_write_bytes`: creating the
    temporary file, after the data is written and synced, before and after the rename.
    """
    import tempfile

    from aisec.models import training

    armed = [False]
    saves = [0]
    real_save = training.save_checkpoint

    def counting_save(*args: Any, **kwargs: Any) -> None:
        saves[0] += 1
        armed[0] = saves[0] == kill_on_save
        real_save(*args, **kwargs)

    training.save_checkpoint = counting_save  # type: ignore[assignment]
    if kill_point == "before-temp-write":
        tempfile.mkstemp = _killer(tempfile.mkstemp, armed, after=False)  # type: ignore[assignment]
    elif kill_point == "after-temp-write":
        os.fsync = _killer(os.fsync, armed, after=True)
    else:
        os.replace = _killer(os.replace, armed, after=kill_point == "after-rename")
    _tiny_training(checkpoint_dir)
