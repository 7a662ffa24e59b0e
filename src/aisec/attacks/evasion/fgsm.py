"""The Fast Gradient Sign Method (one gradient step to the edge of the ball)."""

from __future__ import annotations

import torch
from torch import Tensor

from aisec.attacks.base import EvasionAttack, Model
from aisec.attacks.evasion._steps import BallProjector, ascent_direction
from aisec.attacks.evasion.losses import ce_loss, targeted_ce_loss
from aisec.threat import ThreatModel

__all__ = ["FGSM"]


class FGSM(EvasionAttack):
    """Fast Gradient Sign Method: ``x_adv = x + ε·sign(∇ₓ L(x, y))``.

    One forward and one backward pass. Untargeted it ascends the cross-entropy of the label;
    targeted it descends the cross-entropy of the target. Under an L2 threat model the step is
    ``ε·∇/‖∇‖₂`` (the "fast gradient method"). It is a weak attack, useful as a baseline and for
    fast adversarial training; use :class:`~aisec.attacks.PGD` or :class:`~aisec.attacks.APGD` to
    measure robustness.

    Args:
        threat: an ``"linf"`` (FGSM) or ``"l2"`` (FGM) threat model.

    Reference:
        I. Goodfellow, J. Shlens, C. Szegedy, "Explaining and Harnessing Adversarial Examples",
        ICLR 2015.
    """

    name = "FGSM"
    supported_norms = ("linf", "l2")

    def __init__(self, threat: ThreatModel) -> None:
        super().__init__(threat)

    def _run(
        self,
        model: Model,
        x: Tensor,
        y: Tensor,
        targets: Tensor | None,
        logits: Tensor,
        info: dict[str, Tensor],
    ) -> Tensor:
        with torch.enable_grad():
            x_in = x.clone().requires_grad_(True)
            out = model(x_in)
            if targets is None:
                loss = ce_loss(out, y).sum()
            else:
                loss = targeted_ce_loss(out, targets).sum()
            (grad,) = torch.autograd.grad(loss, x_in)
        step = ascent_direction(grad, self.threat.norm) * self.threat.eps
        return BallProjector(x, self.threat)(x + step)
