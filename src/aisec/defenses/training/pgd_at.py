"""PGD adversarial training (Madry et al. 2018): minimise the loss at PGD-k adversarial examples."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from aisec.defenses.training._common import (
    AttackMode,
    CrossEntropyAscentLoss,
    check_eps,
    check_mode,
    check_positive,
    check_steps,
)

__all__ = ["PGDAdversarialTraining"]


@dataclass(frozen=True)
class PGDAdversarialTraining(CrossEntropyAscentLoss):
    """The step loss of PGD adversarial training under an L∞ threat model.

    Each batch is replaced by PGD-k examples — a uniformly random start in the ε-ball, then
    ``k`` signed-gradient ascent steps on the cross-entropy, each projected onto the ball ∩ box —
    and the model is trained with the cross-entropy on them: the saddle-point problem
    ``min_θ E max_{‖δ‖∞≤ε} CE(f_θ(x + δ), y)``. Pass it to
    :func:`aisec.models.train_classifier` as ``step_loss``. The inner maximisation is the
    :class:`~aisec.attacks.PGD` attack's loop, start and loss (``"ce"``), except that every
    example takes every step (:func:`aisec.attacks.evasion.projected_gradient_ascent`).

    Args:
        eps: the L∞ radius ε (a number or a string such as ``"8/255"``).
        steps: PGD steps ``k`` per batch (Madry et al. use 7 on CIFAR-10; 3-5 is a cheaper
            variant that still trains robust models on small images).
        step_size: ``α``; default ``2.5·ε/k`` (the rule of Madry et al.'s code, which lets
            the attack cross the ball from any start).
        attack_mode: ``"train"`` (as in Madry et al.'s and Rice et al.'s code: BatchNorm uses
            batch statistics during the attack) or ``"eval"``. The model's modes are restored.
        bounds: the valid pixel range.

    Call: ``loss, logits = objective(model, x, y, generator)`` with ``x`` ``(B, C, H, W)``,
    ``y`` ``(B,)``; ``logits`` ``(B, K)`` are the model's outputs on the adversarial batch.

    Reference:
        A. Madry, A. Makelov, L. Schmidt, D. Tsipras, A. Vladu, "Towards Deep Learning Models
        Resistant to Adversarial Attacks", ICLR 2018.
    """

    eps: float = 8 / 255
    steps: int = 7
    step_size: float | None = None
    attack_mode: AttackMode = "train"
    bounds: tuple[float, float] = (0.0, 1.0)
    method: ClassVar[str] = "pgd"

    def __post_init__(self) -> None:
        eps, bounds = check_eps(self.eps, self.bounds)
        steps = check_steps(self.steps)
        step_size = 2.5 * eps / steps if self.step_size is None else self.step_size
        object.__setattr__(self, "eps", eps)
        object.__setattr__(self, "bounds", bounds)
        object.__setattr__(self, "step_size", check_positive("step_size", step_size))
        check_mode(self.attack_mode)

    @property
    def ascent_steps(self) -> int:
        return self.steps
