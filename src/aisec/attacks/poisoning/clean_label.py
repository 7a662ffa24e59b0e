"""Clean-label backdoor (Turner et al.): poison only target-class images, never change a label.

A BadNets-style poison is easy to spot: a stop sign labelled "speed limit". Turner et al. keep
every label correct. They poison images that already belong to the target class — but a model
learns those from their natural features and ignores a trigger that adds nothing. So they first
make the images *hard to learn*: an adversarial perturbation within a small L∞ ball (computed
against a surrogate model) erases the evidence of the true class, and only then is the trigger
stamped on. To fit its correct label, the network has to rely on the trigger, which becomes a
backdoor: at test time the trigger alone pushes any image towards the target.

The perturbation maximises the surrogate's cross-entropy of the true (target) label,
``x̃ = argmax_{‖x' − x‖∞ ≤ ε} L(f(x'), y)``, with projected gradient ascent run for all its
steps: the *final* iterate is used (the most loss, not the first misclassified point, which is
what an evasion attack returns), as the paper requires.

Reference:
    A. Turner, D. Tsipras, A. Madry, "Label-Consistent Backdoor Attacks", arXiv:1912.02771,
    2019 (first version: "Clean-Label Backdoor Attacks", 2018).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import ClassVar

import torch
from torch import Tensor

from aisec.attacks.evasion import (
    BallProjector,
    LossContext,
    as_input_loss,
    projected_gradient_ascent,
)
from aisec.attacks.poisoning.badnets import Trigger
from aisec.attacks.poisoning.base import PoisoningAttack, check_class
from aisec.models.plumbing import eval_mode
from aisec.threat import ThreatModel

__all__ = ["CleanLabel", "max_loss_perturbation"]


def max_loss_perturbation(
    model: Callable[[Tensor], Tensor],
    x: Tensor,
    y: Tensor,
    threat: ThreatModel,
    *,
    steps: int = 10,
    step_size: float | None = None,
    batch_size: int = 256,
) -> Tensor:
    """L∞ projected gradient *ascent* on the cross-entropy, returning the last iterate.

    Unlike an evasion attack, this does not stop at the first misclassified point: it keeps
    increasing the loss for all ``steps`` (Turner et al.'s "hard to learn" perturbation).
    Starts from ``x`` (no random start), so the result is deterministic. It runs the project's
    PGD loop, :func:`~aisec.attacks.evasion.projected_gradient_ascent`, on the ``"ce"`` loss
    with no early stopping, the model in eval mode (its modes are restored afterwards).

    Args:
        model: maps ``(N, C, H, W)`` images in the threat model's bounds to logits.
        x: ``(N, C, H, W)`` images.
        y: ``(N,)`` labels whose loss is increased.
        threat: an ``"linf"`` threat model (``eps`` and ``bounds``).
        steps: gradient steps.
        step_size: per-step size; default ``2.5 · eps / steps`` (Madry et al.'s rule).
        batch_size: images per forward pass.

    Returns:
        ``(N, C, H, W)`` perturbed images with ``‖x̃ − x‖∞ ≤ eps`` inside the bounds.
    """
    if threat.norm != "linf":
        raise ValueError(f"the clean-label perturbation is L∞; got a {threat.norm!r} threat")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be an int >= 1, got {steps!r}")
    alpha = 2.5 * threat.eps / steps if step_size is None else float(step_size)
    if not alpha > 0:
        raise ValueError(f"step_size must be > 0, got {step_size!r}")
    lo, hi = threat.bounds
    if x.numel() and (x.min() < lo or x.max() > hi):
        raise ValueError(f"x must lie inside the bounds {threat.bounds} to be projected around")
    objective = partial(as_input_loss("ce"), model)
    out = []
    with eval_mode(model):
        for start in range(0, x.shape[0], batch_size):
            xb = x[start : start + batch_size].detach()
            yb = y[start : start + batch_size]
            # The shared PGD loop without an observer: every row takes every step and the
            # final iterate is returned. Its L∞ projection is the exact one (a clamp).
            x_adv = projected_gradient_ascent(
                objective,
                xb,
                LossContext(yb),
                BallProjector(xb, threat),
                norm="linf",
                step_size=alpha,
                steps=steps,
            )
            out.append(x_adv)
    return torch.cat(out)


class CleanLabel(PoisoningAttack):
    """Turner et al.'s clean-label backdoor: perturb target-class images, add the trigger.

    Args:
        surrogate: the model the perturbation is computed against (e.g. a model trained on
            clean data; the paper also uses adversarially trained ones). Not modified.
        trigger: the :class:`~aisec.attacks.poisoning.Trigger` (default: a 4×4 checkerboard in
            the bottom-right corner, like the paper's corner pattern).
        target: the target class: the only class that is poisoned, and the label the backdoor
            produces.
        num_classes: number of classes ``K``.
        rate: fraction of the *whole* training set to poison, in ``(0, 1)``; it cannot exceed
            the target class's share.
        eps: L∞ budget of the perturbation (the paper uses 8/255 and 16/255).
        steps: gradient-ascent steps.
        seed: seeds the choice of poisoned samples.

    Reference:
        A. Turner, D. Tsipras, A. Madry, "Label-Consistent Backdoor Attacks", arXiv:1912.02771.
    """

    name: ClassVar[str] = "clean-label"
    changes_labels: ClassVar[bool] = False

    def __init__(
        self,
        surrogate: Callable[[Tensor], Tensor],
        trigger: Trigger | None = None,
        *,
        target: int,
        num_classes: int,
        rate: float,
        eps: float = 16 / 255,
        steps: int = 10,
        seed: int = 0,
    ) -> None:
        super().__init__(rate=rate, num_classes=num_classes, seed=seed)
        if not callable(surrogate):
            raise TypeError(f"surrogate must be a model (callable), got {type(surrogate).__name__}")
        self.surrogate = surrogate
        if trigger is not None and not isinstance(trigger, Trigger):
            raise TypeError(f"trigger must be a Trigger, got {type(trigger).__name__}")
        self.trigger = trigger if trigger is not None else Trigger.checkerboard(4)
        self.target = check_class("target", target, num_classes)
        self.threat = ThreatModel("linf", eps)
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
            raise ValueError(f"steps must be an int >= 1, got {steps!r}")
        self.steps = steps

    def apply_trigger(self, x: Tensor) -> Tensor:
        """Stamp the trigger on ``x`` ``(N, C, H, W)`` (test-time triggering); a new tensor."""
        return self.trigger.apply(x)

    def check_images(self, x: Tensor) -> None:
        self.trigger.check_fits(x)

    def candidates(self, y: Tensor) -> Tensor:
        return (y == self.target).nonzero().squeeze(1)

    def backdoor_targets(self, y: Tensor) -> Tensor:
        return torch.full_like(y, self.target)

    def _poison_samples(self, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        hard = max_loss_perturbation(self.surrogate, x, y, self.threat, steps=self.steps)
        return self.apply_trigger(hard), y

    def _trigger_images(self, x: Tensor, y: Tensor, seed: int) -> tuple[Tensor, Tensor]:
        return self.apply_trigger(x), x

    def describe(self) -> dict[str, object]:
        h, w = self.trigger.size
        return super().describe() | {
            "target": self.target,
            "eps": self.threat.eps,
            "steps": self.steps,
            "trigger_size": [h, w],
        }

    def _eligibility(self) -> str:
        return f"samples of the target class {self.target} (labels are never changed)"
