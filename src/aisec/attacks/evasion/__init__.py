"""Digital evasion attacks: FGSM, PGD, APGD, Carlini–Wagner L2 and Square."""

from __future__ import annotations

from aisec.attacks.evasion.apgd import APGD
from aisec.attacks.evasion.carlini_wagner import CarliniWagnerL2
from aisec.attacks.evasion.fgsm import FGSM
from aisec.attacks.evasion.pgd import PGD
from aisec.attacks.evasion.square import SquareAttack

__all__ = ["APGD", "FGSM", "PGD", "CarliniWagnerL2", "SquareAttack"]
