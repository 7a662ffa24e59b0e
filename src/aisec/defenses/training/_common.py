"""Shared pieces of the training defenses: mode switching, argument checks, the L∞ inner loop.

The inner maximisation of adversarial training is the PGD loop of the attacks,
:func:`aisec.attacks.evasion.projected_gradient_ascent`, without early stopping: every example
takes every step, in the mode the objective asks for.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from aisec.attacks.evasion import (
    BallProjector,
    InputLoss,
    LossContext,
    as_input_loss,
    projected_gradient_ascent,
    random_start,
)
from aisec.threat import ThreatModel, parse_eps

__all__ = [
    "AttackMode",
    "CrossEntropyAscentLoss",
    "check_eps",
    "check_mode",
    "check_positive",
    "check_steps",
    "cross_entropy_ascent",
    "linf_ascent",
    "module_mode",
]

AttackMode = Literal["train", "eval"]
"""The mode the model is in while a training-time attack runs (it matters for BatchNorm)."""


@contextmanager
def module_mode(model: nn.Module, training: bool) -> Iterator[None]:
    """Put ``model`` and its sub-modules in train (``True``) or eval mode, restoring each after."""
    modes = [(module, module.training) for module in model.modules()]
    model.train(training)
    try:
        yield
    finally:
        for module, was_training in modes:
            module.training = was_training


def check_eps(eps: float | str, bounds: tuple[float, float]) -> tuple[float, tuple[float, float]]:
    """Parse ``eps`` (``8/255`` or a number) and ``bounds``; eps must be positive."""
    threat = ThreatModel("linf", parse_eps(eps), bounds)
    if threat.eps <= 0:
        raise ValueError(f"eps must be > 0 for adversarial training, got {eps!r}")
    return threat.eps, threat.bounds


def check_positive(name: str, value: object) -> float:
    """``value`` as a finite float ``> 0``; ``ValueError``/``TypeError`` otherwise."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}")
    number = parse_eps(value) if isinstance(value, str) else float(value)
    if not math.isfinite(number) or number <= 0:
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return number


def check_steps(steps: object) -> int:
    """``steps`` as an int ``>= 1``."""
    if isinstance(steps, bool) or not isinstance(steps, int):
        raise TypeError(f"steps must be an int, got {type(steps).__name__}")
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    return steps


def check_mode(mode: object) -> AttackMode:
    """``mode`` if it is ``"train"`` or ``"eval"``."""
    if mode not in ("train", "eval"):
        raise ValueError(f"attack_mode must be 'train' or 'eval', got {mode!r}")
    return mode


def linf_ascent(
    model: nn.Module,
    x: Tensor,
    start: Tensor,
    loss: InputLoss,
    context: LossContext,
    *,
    eps: float,
    step_size: float,
    steps: int,
    bounds: tuple[float, float],
) -> Tensor:
    """PGD's ascent of ``loss`` inside the L∞ ball around ``x``, every point for every step.

    The start is projected onto the ball ∩ box, then
    :func:`~aisec.attacks.evasion.projected_gradient_ascent` takes ``steps`` steps
    ``x' ← clip(x' + step_size · sign(∇ loss))``. Gradients are taken with respect to the input
    only (the parameters' ``.grad`` are untouched); the model runs in whatever mode it is.

    Args:
        model: maps ``(B, C, H, W)`` to ``(B, K)`` logits.
        x: clean batch ``(B, C, H, W)`` inside ``bounds``.
        start: ``(B, C, H, W)`` first iterate (e.g. ``x`` plus uniform noise).
        loss: the per-example loss to maximise.
        context: what ``loss`` knows about the batch (labels, clean logits).
        eps: L∞ radius.
        step_size: step length.
        steps: number of steps (0 returns the projected start).
        bounds: the valid pixel range.

    Returns:
        ``(B, C, H, W)`` detached points with ``‖x' − x‖∞ ≤ eps`` inside ``bounds``.
    """
    project = BallProjector(x.detach(), ThreatModel("linf", eps, bounds))
    return projected_gradient_ascent(
        partial(loss, model),
        project(start.detach().clone()),
        context,
        project,
        norm="linf",
        step_size=step_size,
        steps=steps,
    )


def cross_entropy_ascent(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    generator: torch.Generator,
    *,
    eps: float,
    step_size: float,
    steps: int,
    bounds: tuple[float, float],
    attack_mode: AttackMode,
) -> Tensor:
    """PGD on the cross-entropy from a uniform random start (PGD-AT with ``steps``, fast AT with
    one step), the model in ``attack_mode`` meanwhile.

    The start and the loss are those of the :class:`~aisec.attacks.PGD` attack (its random
    start and ``"ce"``); unlike the attack, every example takes every step.

    Returns:
        ``(B, C, H, W)`` detached points inside the ε-ball around ``x`` and ``bounds``.
    """
    threat = ThreatModel("linf", eps, bounds)
    with module_mode(model, attack_mode == "train"):
        return linf_ascent(
            model,
            x,
            random_start(x.detach(), threat, generator),
            as_input_loss("ce"),
            LossContext(y),
            eps=eps,
            step_size=step_size,
            steps=steps,
            bounds=bounds,
        )


class CrossEntropyAscentLoss:
    """The step loss shared by PGD and fast adversarial training: the cross-entropy at
    :func:`cross_entropy_ascent` examples.

    Subclasses are frozen dataclasses with ``eps``, ``step_size`` (resolved in their
    ``__post_init__``), ``bounds`` and ``attack_mode``, and say how many ascent steps they take.
    """

    eps: float
    step_size: float | None
    bounds: tuple[float, float]
    attack_mode: AttackMode

    @property
    def ascent_steps(self) -> int:
        """Signed-gradient steps per batch."""
        raise NotImplementedError

    def perturb(self, model: nn.Module, x: Tensor, y: Tensor, generator: torch.Generator) -> Tensor:
        """Adversarial examples ``(B, C, H, W)`` for ``x``, ``y`` (inside the ε-ball and box)."""
        assert self.step_size is not None  # resolved in the subclass's __post_init__
        return cross_entropy_ascent(
            model,
            x,
            y,
            generator,
            eps=self.eps,
            step_size=self.step_size,
            steps=self.ascent_steps,
            bounds=self.bounds,
            attack_mode=self.attack_mode,
        )

    def __call__(
        self, model: nn.Module, x: Tensor, y: Tensor, generator: torch.Generator
    ) -> tuple[Tensor, Tensor]:
        """The cross-entropy on the adversarial batch and its logits (model in its current mode)."""
        logits = model(self.perturb(model, x, y, generator))
        return F.cross_entropy(logits, y), logits
