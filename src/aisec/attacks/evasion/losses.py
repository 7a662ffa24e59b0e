"""Per-example losses and success tests for evasion attacks.

All functions take logits ``(N, K)`` and integer labels ``(N,)`` and return ``(N,)`` tensors, so
that the gradient of their sum is the per-example gradient. Attacks *maximise* the losses named
``*_loss`` below.

References:
    F. Croce, M. Hein, "Reliable evaluation of adversarial robustness with an ensemble of
    diverse parameter-free attacks", ICML 2020 (the DLR losses).
    N. Carlini, D. Wagner, "Towards Evaluating the Robustness of Neural Networks", IEEE S&P 2017
    (the margin loss).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = [
    "ce_loss",
    "dlr_loss",
    "is_adversarial",
    "margin",
    "max_other",
    "targeted_ce_loss",
    "targeted_dlr_loss",
    "targeted_margin",
]

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
