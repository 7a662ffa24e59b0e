"""A seeded, resumable training loop for image classifiers.

Every epoch ends with a checkpoint (model and optimizer tensors and the resume state, in one
sealed file, see :mod:`aisec.models.checkpoint`) that atomically replaces the previous epoch's,
so a process killed at any point loses at most the epoch it was in. A run that is interrupted —
Ctrl-C, a crash, a killed job — and started again with the same configuration resumes after the
last finished epoch and ends with exactly the weights of an uninterrupted run: the shuffling
order of an epoch and the learning rate of a step are pure functions of ``(seed, epoch, step)``,
so no random-number-generator state has to be saved.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from aisec.models.checkpoint import (
    CorruptCheckpointError,
    checkpoint_exists,
    load_checkpoint,
    load_model_weights,
    save_checkpoint,
)

__all__ = [
    "BatchTransform",
    "StepLoss",
    "TrainConfig",
    "TrainResult",
    "accuracy",
    "describe_objective",
    "step_generator",
    "train_classifier",
]

BatchTransform = Callable[[nn.Module, Tensor, Tensor], Tensor]
"""``(model, x, y) -> x'``: replaces a batch before the loss, e.g. with adversarial examples."""


class StepLoss(Protocol):
    """The training objective of one step, replacing the cross-entropy of the batch.

    Called as ``loss, logits = objective(model, x, y, generator)`` with the model in train mode,
    a batch ``x`` ``(B, C, H, W)``, labels ``y`` ``(B,)`` and a ``torch.Generator`` seeded from
    ``(seed, epoch, step)`` (see :func:`step_generator`), which is the objective's only source
    of randomness, so that a resumed run repeats an uninterrupted one exactly. It returns the
    scalar loss to minimise and the ``(B, K)`` logits whose accuracy is reported as
    ``train_accuracy``, and leaves every sub-module in the mode it found it.
    Adversarial, TRADES and noise training (:mod:`aisec.defenses.training`) are step losses.
    """

    def __call__(
        self, model: nn.Module, x: Tensor, y: Tensor, generator: torch.Generator
    ) -> tuple[Tensor, Tensor]: ...


def step_generator(seed: int, epoch: int, step: int, device: torch.device) -> torch.Generator:
    """A ``torch.Generator`` on ``device`` seeded by a hash of ``(seed, epoch, step)``."""
    digest = hashlib.sha256(f"aisec-step:{seed}:{epoch}:{step}".encode()).digest()
    return torch.Generator(device=device).manual_seed(int.from_bytes(digest[:8], "little") >> 1)


def describe_objective(objective: object) -> str:
    """A stable description of a step loss for checkpoint matching (a dataclass's repr)."""
    if dataclasses.is_dataclass(objective) and not isinstance(objective, type):
        return repr(objective)
    return f"{type(objective).__module__}.{type(objective).__qualname__}"


@dataclass(frozen=True)
class TrainConfig:
    """Hyperparameters of :func:`train_classifier` (AdamW with a one-cycle schedule).

    Attributes:
        epochs: passes over the training data.
        batch_size: examples per step.
        lr: peak learning rate, reached after ``warmup`` of the steps, then cosine decay to 0.
        weight_decay: AdamW's decoupled weight decay.
        warmup: fraction of all steps spent warming up linearly.
        seed: seeds weight initialisation (when the caller builds the model under
            ``torch.manual_seed``) and every epoch's shuffling order.
    """

    epochs: int = 8
    batch_size: int = 128
    lr: float = 3e-3
    weight_decay: float = 5e-4
    warmup: float = 0.15
    seed: int = 0

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1:
            raise ValueError(
                f"epochs and batch_size must be >= 1, got {self.epochs}, {self.batch_size}"
            )
        if not (self.lr > 0 and self.weight_decay >= 0 and 0 <= self.warmup < 1):
            raise ValueError(
                "need lr > 0, weight_decay >= 0 and 0 <= warmup < 1; got "
                f"lr={self.lr}, weight_decay={self.weight_decay}, warmup={self.warmup}"
            )


@dataclass
class TrainResult:
    """What a training run did: per-epoch history and the final evaluation."""

    config: TrainConfig
    epochs_run: int
    resumed_from_epoch: int
    seconds: float
    history: list[dict[str, float]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "config": dataclasses.asdict(self.config),
            "epochs_run": self.epochs_run,
            "resumed_from_epoch": self.resumed_from_epoch,
            "seconds": self.seconds,
            "history": self.history,
        }


def _learning_rate(config: TrainConfig, step: int, total_steps: int) -> float:
    warmup_steps = max(1, int(config.warmup * total_steps))
    if step < warmup_steps:
        return config.lr * (step + 1) / warmup_steps
    progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
    return config.lr * 0.5 * (1.0 + math.cos(math.pi * progress))


@torch.no_grad()
def accuracy(model: nn.Module, images: Tensor, labels: Tensor, batch_size: int = 512) -> float:
    """Top-1 accuracy of ``model`` on ``images`` ``(N, C, H, W)``, evaluated in eval mode.

    Raises:
        ValueError: the model returned NaN or infinite logits (``argmax`` of NaN is class 0, so
            an accuracy counted from them would mean nothing).
    """
    was_training = model.training
    model.eval()
    correct = 0
    try:
        for start in range(0, images.shape[0], batch_size):
            logits = model(images[start : start + batch_size])
            if not bool(torch.isfinite(logits).all()):
                raise ValueError(
                    "the model returned NaN or infinite logits; its accuracy would mean nothing "
                    "(argmax of NaN is class 0): check the training for divergence"
                )
            correct += int((logits.argmax(1) == labels[start : start + batch_size]).sum())
    finally:
        model.train(was_training)
    return correct / max(1, images.shape[0])


def _optimizer_tensors(optimizer: torch.optim.Optimizer) -> tuple[dict[str, Tensor], Any]:
    state = optimizer.state_dict()
    tensors = {
        f"optim.{index}.{key}": value
        for index, slots in state["state"].items()
        for key, value in slots.items()
    }
    return tensors, state["param_groups"]


def _restore_optimizer(
    optimizer: torch.optim.Optimizer, tensors: dict[str, Tensor], param_groups: Any
) -> None:
    slots: dict[int, dict[str, Tensor]] = {}
    for name, value in tensors.items():
        if name.startswith("optim."):
            _, index, key = name.split(".", 2)
            slots.setdefault(int(index), {})[key] = value
    optimizer.load_state_dict({"state": slots, "param_groups": param_groups})


def train_classifier(
    model: nn.Module,
    images: Tensor,
    labels: Tensor,
    config: TrainConfig | None = None,
    *,
    checkpoint_dir: str | Path | None = None,
    eval_data: tuple[Tensor, Tensor] | None = None,
    batch_transform: BatchTransform | None = None,
    step_loss: StepLoss | None = None,
    on_epoch_end: Callable[[int, dict[str, float]], None] | None = None,
    progress: bool = True,
    description: str = "training",
) -> TrainResult:
    """Train ``model`` with cross-entropy, checkpointing after every epoch.

    Args:
        model: maps ``(N, C, H, W)`` images in [0, 1] to ``(N, K)`` logits; trained in place.
        images: training images ``(N, C, H, W)``.
        labels: int64 labels ``(N,)``.
        config: hyperparameters (default :class:`TrainConfig`).
        checkpoint_dir: where the per-epoch checkpoint ``last`` lives. If it holds a checkpoint
            of the same configuration, training resumes after its epoch; a corrupted one is
            reported with a warning and training restarts from scratch.
        eval_data: optional ``(images, labels)`` evaluated after each epoch.
        batch_transform: optional ``(model, x, y) -> x'`` applied to each batch before the
            loss (adversarial training plugs in here).
        step_loss: optional objective replacing the cross-entropy of each (transformed)
            batch, given a generator seeded from ``(seed, epoch, step)`` (see
            :class:`StepLoss`); a checkpoint resumes only the same objective.
        on_epoch_end: called with ``(epoch, metrics)`` after the epoch's checkpoint is saved.
        progress: show a rich progress bar.
        description: label of the progress bar.

    Returns:
        A :class:`TrainResult`; the model is left in eval mode.
    """
    config = config or TrainConfig()
    if images.ndim != 4 or labels.shape != (images.shape[0],):
        raise ValueError(
            "images must be (N, C, H, W) and labels (N,); got "
            f"{tuple(images.shape)} and {tuple(labels.shape)}"
        )
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=config.lr, weight_decay=config.weight_decay
    )
    n = images.shape[0]
    steps_per_epoch = math.ceil(n / config.batch_size)
    total_steps = steps_per_epoch * config.epochs
    # A checkpoint resumes only the same configuration on the same data.
    sample = images[:: max(1, n // 256)].detach().cpu().contiguous()
    fingerprint = hashlib.sha256(sample.numpy().tobytes() + labels.cpu().numpy().tobytes())
    config_record = dataclasses.asdict(config) | {"n": n, "data": fingerprint.hexdigest()[:16]}
    if step_loss is not None:
        config_record["objective"] = describe_objective(step_loss)
    checkpoint = Path(checkpoint_dir) / "last" if checkpoint_dir is not None else None
    history: list[dict[str, float]] = []
    start_epoch = 0
    if checkpoint is not None and checkpoint_exists(checkpoint):
        try:
            tensors, meta = load_checkpoint(checkpoint)
            if meta.get("config") == config_record:
                load_model_weights(model, tensors, prefix="model.")
                _restore_optimizer(optimizer, tensors, meta["param_groups"])
                start_epoch = int(meta["epoch"]) + 1
                history = list(meta["history"])
        except CorruptCheckpointError as error:
            warnings.warn(f"{error}; training from scratch", stacklevel=2)
    began = time.perf_counter()
    with _progress_bar(progress, description, total_steps, start_epoch * steps_per_epoch) as bar:
        for epoch in range(start_epoch, config.epochs):
            model.train()
            order = torch.randperm(
                n, generator=torch.Generator().manual_seed(config.seed * 7919 + epoch)
            )
            loss_sum, correct = 0.0, 0
            for step_in_epoch in range(steps_per_epoch):
                index = order[
                    step_in_epoch * config.batch_size : (step_in_epoch + 1) * config.batch_size
                ]
                x, y = images[index], labels[index]
                if batch_transform is not None:
                    x = batch_transform(model, x, y)
                    model.train()
                for group in optimizer.param_groups:
                    group["lr"] = _learning_rate(
                        config, epoch * steps_per_epoch + step_in_epoch, total_steps
                    )
                if step_loss is None:
                    logits = model(x)
                    loss = F.cross_entropy(logits, y)
                else:
                    generator = step_generator(config.seed, epoch, step_in_epoch, x.device)
                    loss, logits = step_loss(model, x, y, generator)
                    model.train()
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                loss_sum += float(loss.detach()) * y.shape[0]
                correct += int((logits.argmax(1) == y).sum())
                bar(1)
            metrics = {"epoch": float(epoch), "loss": loss_sum / n, "train_accuracy": correct / n}
            if eval_data is not None:
                metrics["eval_accuracy"] = accuracy(model, *eval_data)
            history.append(metrics)
            if checkpoint is not None:
                model_tensors = {f"model.{k}": v for k, v in model.state_dict().items()}
                optim_tensors, param_groups = _optimizer_tensors(optimizer)
                save_checkpoint(
                    checkpoint,
                    model_tensors | optim_tensors,
                    {
                        "epoch": epoch,
                        "config": config_record,
                        "param_groups": param_groups,
                        "history": history,
                    },
                )
            if on_epoch_end is not None:
                on_epoch_end(epoch, metrics)
    model.eval()
    return TrainResult(
        config=config,
        epochs_run=config.epochs - start_epoch,
        resumed_from_epoch=start_epoch,
        seconds=time.perf_counter() - began,
        history=history,
    )


@contextmanager
def _progress_bar(
    enabled: bool, description: str, total: int, completed: int
) -> Iterator[Callable[[int], None]]:
    """Yield ``advance(steps)``: a rich progress bar when enabled, a no-op otherwise."""
    if not enabled:
        yield lambda _steps: None
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
    with Progress(*columns, TimeRemainingColumn(), transient=True) as bar:
        task = bar.add_task(description, total=total, completed=completed)
        yield lambda steps: bar.advance(task, steps)
