"""Digital evasion attacks: FGSM, PGD, APGD, Carlini–Wagner L2 and Square, and restarts.

:func:`projected_gradient_ascent` is the PGD loop shared by the attack, adversarial training and
the detector-aware attack; an attack's loss is a name, a :class:`LogitLoss` or an
:class:`InputLoss` (:mod:`aisec.attacks.evasion.losses`).
"""

from __future__ import annotations

from aisec.attacks.evasion._steps import BallProjector, ExactProjector, Projection, random_start
from aisec.attacks.evasion.apgd import APGD
from aisec.attacks.evasion.carlini_wagner import CarliniWagnerL2
from aisec.attacks.evasion.fgsm import FGSM
from aisec.attacks.evasion.losses import (
    FromLogits,
    InputLoss,
    KLToClean,
    LogitLoss,
    LossContext,
    as_input_loss,
)
from aisec.attacks.evasion.pgd import PGD, Iterate, projected_gradient_ascent
from aisec.attacks.evasion.restarts import Restarts
from aisec.attacks.evasion.square import SquareAttack

__all__ = [
    "APGD",
    "FGSM",
    "PGD",
    "BallProjector",
    "CarliniWagnerL2",
    "ExactProjector",
    "FromLogits",
    "InputLoss",
    "Iterate",
    "KLToClean",
    "LogitLoss",
    "LossContext",
    "Projection",
    "Restarts",
    "SquareAttack",
    "as_input_loss",
    "projected_gradient_ascent",
    "random_start",
]
