"""Attacks on machine-learning models.

Evasion attacks share one contract (:class:`EvasionAttack`): configured at construction with a
:class:`~aisec.threat.ThreatModel` and keyword-only hyperparameters, called as
``attack(model, x, y, targets=None)`` and returning an :class:`AttackResult`.
"""

from __future__ import annotations

from aisec.attacks.base import AttackResult, CountingModel, EvasionAttack
from aisec.attacks.evasion import APGD, FGSM, PGD, CarliniWagnerL2, SquareAttack

__all__ = [
    "APGD",
    "FGSM",
    "PGD",
    "AttackResult",
    "CarliniWagnerL2",
    "CountingModel",
    "EvasionAttack",
    "SquareAttack",
]
