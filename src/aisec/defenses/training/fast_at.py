"""Fast adversarial training, FGSM with a random start (Wong, Rice & Kolter 2020)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from aisec.defenses.training._common import (
    AttackMode,
    CrossEntropyAscentLoss,
    check_eps,
    check_mode,
    check_positive,
)

__all__ = ["FastAdversarialTraining"]


@dataclass(frozen=True)
class FastAdversarialTraining(CrossEntropyAscentLoss):
    """The step loss of "fast" adversarial training: one FGSM step from a random start.

    ``δ ~ U(−ε, ε)`` (clipped so that ``x + δ`` stays in the box), one step
    ``δ ← δ + α·sign(∇_δ CE(f(x + δ), y))`` with ``α = 1.25·ε``, then ``δ`` is clipped back to
    the ε-ball and the box, and the model is trained with the cross-entropy at ``x + δ``. It
    costs two forward-backward passes per batch instead of PGD-k's ``k + 1``.

    Fast AT can *catastrophically overfit*: within an epoch the model becomes robust to FGSM
    but not to PGD. Watch PGD accuracy on held-out data after each epoch
    (:func:`aisec.zoo.pgd_accuracy`); :func:`~aisec.zoo.train_variant` warns when it collapses.

    The step is the PGD loop of the attacks
    (:func:`aisec.attacks.evasion.projected_gradient_ascent`), one step from PGD's random start.

    Args:
        eps: the L∞ radius ε (a number or a string such as ``"8/255"``).
        step_size: ``α``; default ``1.25·ε`` as in the paper.
        attack_mode: ``"train"`` (as in the paper's code) or ``"eval"``; modes are restored.
        bounds: the valid pixel range.

    Reference:
        E. Wong, L. Rice, J. Z. Kolter, "Fast is better than free: Revisiting adversarial
        training", ICLR 2020.
    """

    eps: float = 8 / 255
    step_size: float | None = None
    attack_mode: AttackMode = "train"
    bounds: tuple[float, float] = (0.0, 1.0)
    method: ClassVar[str] = "fast"

    def __post_init__(self) -> None:
        eps, bounds = check_eps(self.eps, self.bounds)
        step_size = 1.25 * eps if self.step_size is None else self.step_size
        object.__setattr__(self, "eps", eps)
        object.__setattr__(self, "bounds", bounds)
        object.__setattr__(self, "step_size", check_positive("step_size", step_size))
        check_mode(self.attack_mode)

    @property
    def ascent_steps(self) -> int:
        return 1
