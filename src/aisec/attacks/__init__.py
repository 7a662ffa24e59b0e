"""Attacks on machine-learning models.

Evasion attacks share one contract (:class:`EvasionAttack`): configured at construction with a
:class:`~aisec.threat.ThreatModel` and keyword-only hyperparameters, called as
``attack(model, x, y, targets=None)`` and returning an :class:`AttackResult`.
:class:`Restarts` repeats any randomized attack from new random starts.
"""

from __future__ import annotations

from aisec.attacks.base import AttackResult, EvasionAttack
from aisec.attacks.evasion import APGD, FGSM, PGD, CarliniWagnerL2, Restarts, SquareAttack
from aisec.models.plumbing import CountingModel

__all__ = [
    "APGD",
    "FGSM",
    "PGD",
    "AttackResult",
    "CarliniWagnerL2",
    "CountingModel",
    "EvasionAttack",
    "Restarts",
    "SquareAttack",
]
