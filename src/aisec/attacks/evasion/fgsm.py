"""The Fast Gradient Sign Method (one gradient step to the edge of the ball)."""

from __future__ import annotations

from torch import Tensor

from aisec.attacks.base import AttackContext, EvasionAttack
from aisec.attacks.evasion._steps import BallProjector, ascent_direction
from aisec.attacks.evasion.losses import ce_loss, targeted_ce_loss
from aisec.threat import ThreatModel

__all__ = ["FGSM"]


class FGSM(EvasionAttack):
    """Fast Gradient Sign Method: ``x_adv = x + ε·sign(∇ₓ L(x, y))``.

    One forward and one backward pass (the gradient comes from the base class's clean forward
    pass). Untargeted it ascends the cross-entropy of the label; targeted it descends the
    cross-entropy of the target. Under an L2 threat model the step is ``ε·∇/‖∇‖₂`` (the "fast
    gradient method"). It is a weak attack, useful as a baseline and for fast adversarial
    training; use :class:`~aisec.attacks.PGD` or :class:`~aisec.attacks.APGD` to measure
    robustness.

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

    def _wants_clean_graph(self) -> bool:
        return True

    def _run(self, ctx: AttackContext) -> Tensor:
        if ctx.clean_graph is None:
            raise RuntimeError("FGSM needs the clean graph from the base class")
        y, targets = ctx.y, ctx.targets
        if targets is None:
            grad = ctx.clean_graph.gradient(lambda logits: ce_loss(logits, y))
        else:
            grad = ctx.clean_graph.gradient(lambda logits: targeted_ce_loss(logits, targets))
        step = ascent_direction(grad, self.threat.norm) * self.threat.eps
        return BallProjector(ctx.x, self.threat)(ctx.x + step)
