"""Per-example losses and success tests for evasion attacks, and the loss types PGD accepts.

All functions take logits ``(N, K)`` and integer labels ``(N,)`` and return ``(N,)`` tensors, so
that the gradient of their sum is the per-example gradient. Attacks *maximise* the losses named
``*_loss`` below.

An attack's loss is either a :class:`LogitLoss`, a function ``(logits, y, targets) -> (N,)``
that switches between the untargeted and the targeted form itself (:func:`cross_entropy` and
:func:`dlr` are the named ones, ``"ce"`` and ``"dlr"``), or an :class:`InputLoss`, which runs the
model itself because the objective needs more than the logits at the point (a detector's score
on squeezed inputs, the KL divergence to the clean prediction of TRADES, :class:`KLToClean`).
:func:`as_input_loss` turns any of them into an :class:`InputLoss`.

References:
    F. Croce, M. Hein, "Reliable evaluation of adversarial robustness with an ensemble of
    diverse parameter-free attacks", ICML 2020 (the DLR losses).
    N. Carlini, D. Wagner, "Towards Evaluating the Robustness of Neural Networks", IEEE S&P 2017
    (the margin loss).
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import Literal, Protocol

import torch
import torch.nn.functional as F
from torch import Tensor

from aisec.models.plumbing import Model

__all__ = [
    "FromLogits",
    "InputLoss",
    "KLToClean",
    "LogitLoss",
    "LossContext",
    "LossName",
    "as_input_loss",
    "ce_loss",
    "cross_entropy",
    "dlr",
    "dlr_loss",
    "is_adversarial",
    "margin",
    "max_other",
    "named_loss",
    "targeted_ce_loss",
    "targeted_dlr_loss",
    "targeted_margin",
]

LossName = Literal["ce", "dlr"]
"""The losses an attack accepts by name: cross-entropy and Croce & Hein's DLR."""

_DLR_EPS = 1e-12


def max_other(logits: Tensor, labels: Tensor) -> Tensor:
    """``max_{i ≠ label} z_i`` per example, ``(N,)``."""
    masked = logits.scatter(1, labels[:, None], float("-inf"))
    return masked.amax(dim=1)


def margin(logits: Tensor, labels: Tensor) -> Tensor:
    """``z_y − max_{i≠y} z_i``: positive while the label still wins, ``(N,)``."""
    return logits.gather(1, labels[:, None]).squeeze(1) - max_other(logits, labels)


def targeted_margin(logits: Tensor, targets: Tensor) -> Tensor:
    """``max_{i≠t} z_i − z_t``: positive until the target wins, ``(N,)``."""
    return -margin(logits, targets)


def ce_loss(logits: Tensor, labels: Tensor) -> Tensor:
    """Cross-entropy of the true label (maximised by untargeted attacks), ``(N,)``."""
    return F.cross_entropy(logits, labels, reduction="none")


def targeted_ce_loss(logits: Tensor, targets: Tensor) -> Tensor:
    """Negative cross-entropy of the target (maximised by targeted attacks), ``(N,)``."""
    return -F.cross_entropy(logits, targets, reduction="none")


def dlr_loss(logits: Tensor, labels: Tensor) -> Tensor:
    """Difference of Logits Ratio: ``−(z_y − max_{i≠y} z_i) / (z_π1 − z_π3)``, ``(N,)``.

    ``π`` orders the logits decreasingly. The loss is invariant to shifting and scaling the
    logits, which makes it robust to the rescaling tricks that break cross-entropy.

    Raises:
        ValueError: with fewer than 3 classes.
    """
    if logits.shape[1] < 3:
        raise ValueError(f"the DLR loss needs at least 3 classes, the model has {logits.shape[1]}")
    top = logits.topk(3, dim=1).values
    return -margin(logits, labels) / (top[:, 0] - top[:, 2] + _DLR_EPS)


def targeted_dlr_loss(logits: Tensor, labels: Tensor, targets: Tensor) -> Tensor:
    """Targeted DLR: ``−(z_y − z_t) / (z_π1 − (z_π3 + z_π4)/2)``, ``(N,)``.

    Raises:
        ValueError: with fewer than 4 classes.
    """
    if logits.shape[1] < 4:
        raise ValueError(
            f"the targeted DLR loss needs at least 4 classes, the model has {logits.shape[1]}"
        )
    top = logits.topk(4, dim=1).values
    z_y = logits.gather(1, labels[:, None]).squeeze(1)
    z_t = logits.gather(1, targets[:, None]).squeeze(1)
    return -(z_y - z_t) / (top[:, 0] - 0.5 * (top[:, 2] + top[:, 3]) + _DLR_EPS)


def is_adversarial(logits: Tensor, labels: Tensor, targets: Tensor | None) -> Tensor:
    """``(N,)`` bool: the prediction differs from the label, or equals the target if given."""
    with torch.no_grad():
        pred = logits.argmax(dim=1)
        return pred == targets if targets is not None else pred != labels


def cross_entropy(logits: Tensor, y: Tensor, targets: Tensor | None) -> Tensor:
    """The cross-entropy loss ``"ce"``: :func:`ce_loss`, or :func:`targeted_ce_loss` towards
    ``targets`` if given, ``(N,)``."""
    return ce_loss(logits, y) if targets is None else targeted_ce_loss(logits, targets)


def dlr(logits: Tensor, y: Tensor, targets: Tensor | None) -> Tensor:
    """The DLR loss ``"dlr"``: :func:`dlr_loss`, or :func:`targeted_dlr_loss` towards
    ``targets`` if given, ``(N,)``."""
    return dlr_loss(logits, y) if targets is None else targeted_dlr_loss(logits, y, targets)


class LogitLoss(Protocol):
    """A per-example loss of the logits that an attack ascends.

    Called as ``loss(logits, y, targets)`` with logits ``(n, K)``, labels ``(n,)`` and targets
    ``(n,)`` (``None`` for an untargeted attack); returns ``(n,)``. :func:`cross_entropy` and
    :func:`dlr` are logit losses.
    """

    def __call__(self, logits: Tensor, y: Tensor, targets: Tensor | None, /) -> Tensor:
        """The ``(n,)`` losses to maximise."""
        ...


@dataclass(frozen=True)
class LossContext:
    """What a loss may know about the points under attack besides the point itself.

    Rows align with the attacked points; an attack that stops optimising some points passes
    the :meth:`select`-ed context on.

    Attributes:
        y: ``(n,)`` labels, or ``None`` where the loss needs none (TRADES' inner maximisation).
        targets: ``(n,)`` target classes, or ``None`` for an untargeted attack.
        clean_logits: ``(n, K)`` the model's logits at the clean points, or ``None``.
    """

    y: Tensor | None = None
    targets: Tensor | None = None
    clean_logits: Tensor | None = None

    def labels(self) -> Tensor:
        """``y``; ``ValueError`` if the context has no labels."""
        if self.y is None:
            raise ValueError("this loss needs the labels y, and the attack gave none")
        return self.y

    def clean(self) -> Tensor:
        """``clean_logits``; ``ValueError`` if the context has none."""
        if self.clean_logits is None:
            raise ValueError("this loss needs the clean logits, and the attack gave none")
        return self.clean_logits

    def select(self, keep: Tensor) -> LossContext:
        """The context of the rows ``keep`` (an index or bool mask)."""
        return LossContext(
            None if self.y is None else self.y[keep],
            None if self.targets is None else self.targets[keep],
            None if self.clean_logits is None else self.clean_logits[keep],
        )


class InputLoss(abc.ABC):
    """A per-example loss that runs the model itself, for objectives that need more than the
    logits at the point (other inputs derived from it, the clean logits, a detector's score).

    Subclass it and implement :meth:`__call__`; an attack tells it apart from a
    :class:`LogitLoss` by this base class.
    """

    @abc.abstractmethod
    def __call__(self, model: Model, x_adv: Tensor, context: LossContext) -> tuple[Tensor, Tensor]:
        """The loss at ``x_adv`` and the model's logits there.

        Args:
            model: the classifier under attack.
            x_adv: ``(n, ...)`` the current points (differentiate through them).
            context: the labels, targets and clean logits of those points.

        Returns:
            ``(loss, logits)``: ``(n,)`` losses to maximise (with their graph) and the ``(n, K)``
            logits of ``model`` at ``x_adv``, which decide whether a point is adversarial.
        """


class FromLogits(InputLoss):
    """A :class:`LogitLoss` as an :class:`InputLoss`: the loss of ``model(x_adv)``.

    Args:
        loss: the logit loss.
    """

    def __init__(self, loss: LogitLoss) -> None:
        self.loss = loss

    def __repr__(self) -> str:
        return f"FromLogits({getattr(self.loss, '__name__', self.loss)!s})"

    def __call__(self, model: Model, x_adv: Tensor, context: LossContext) -> tuple[Tensor, Tensor]:
        """``(loss(model(x_adv), y, targets), model(x_adv))``, ``(n,)`` and ``(n, K)``."""
        logits = model(x_adv)
        return self.loss(logits, context.labels(), context.targets), logits


class KLToClean(InputLoss):
    """``KL(softmax(z_clean) ‖ softmax(f(x')))`` per example: how far the prediction moved.

    The robustness term of TRADES, maximised in its inner loop. It needs no labels, only the
    clean logits (``context.clean_logits``); its gradient vanishes at ``x' = x``, so start from
    a perturbed point.

    Reference:
        H. Zhang, Y. Yu, J. Jiao, E. P. Xing, L. El Ghaoui, M. I. Jordan, "Theoretically
        Principled Trade-off between Robustness and Accuracy", ICML 2019.
    """

    def __repr__(self) -> str:
        return "KLToClean()"

    def __call__(self, model: Model, x_adv: Tensor, context: LossContext) -> tuple[Tensor, Tensor]:
        """The ``(n,)`` divergences and the ``(n, K)`` logits at ``x_adv``."""
        logits = model(x_adv)
        clean = F.softmax(context.clean(), dim=1)
        kl = F.kl_div(F.log_softmax(logits, dim=1), clean, reduction="none").sum(dim=1)
        return kl, logits


def named_loss(name: str) -> LogitLoss:
    """The logit loss called ``name``: ``"ce"`` (:func:`cross_entropy`) or ``"dlr"`` (:func:`dlr`).

    Raises:
        ValueError: for another name.
    """
    if name == "ce":
        return cross_entropy
    if name == "dlr":
        return dlr
    raise ValueError(f"loss must be 'ce' or 'dlr' (or a loss function), got {name!r}")


def as_input_loss(loss: str | LogitLoss | InputLoss) -> InputLoss:
    """Any accepted loss as an :class:`InputLoss`.

    Args:
        loss: a name (``"ce"``, ``"dlr"``), a :class:`LogitLoss` function or an
            :class:`InputLoss`.

    Raises:
        ValueError: for an unknown name.
        TypeError: for something that is not a loss.
    """
    if isinstance(loss, InputLoss):
        return loss
    if isinstance(loss, str):
        return FromLogits(named_loss(loss))
    if not callable(loss):
        raise TypeError(
            f"loss must be 'ce', 'dlr', a function (logits, y, targets) -> (N,) losses or an "
            f"InputLoss, got {type(loss).__name__}"
        )
    return FromLogits(loss)
