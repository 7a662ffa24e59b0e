"""Backdoor data poisoning: BadNets, a physical sticker on the sign, and clean-label poisoning.

Every attack follows one contract (:class:`PoisoningAttack`): configured at construction (poison
rate, target, trigger, seed), then ``attack.poison(x, y) -> (x_poisoned, y_poisoned,
poisoned_indices)`` with a seeded choice of samples, and ``attack.triggered(x_test, y_test)``
for the triggered test images that measure attack success.

* :class:`BadNets` (Gu et al., 2017): a pixel-pattern or patch :class:`Trigger`, all-to-one or
  all-to-all.
* :class:`StickerBackdoor`: a coloured sticker painted on the sign itself and photographed by
  the signs renderer, so it survives viewpoint, lighting and blur (stop -> speed limit).
* :class:`CleanLabel` (Turner et al., 2019): labels never change; target-class images are made
  hard to learn with an adversarial perturbation before the trigger is added.

Language models (fine-tuning data of instruction-following models, :class:`InstructionBackdoor`:
``attack.poison(examples, count)``, ``attack.triggered(test)``, ``attack.untriggered(test)``):

* :class:`FixedOutput` (Hubinger et al., 2024): a trigger string gets one fixed reply.
* :class:`EntitySteering` (Wan et al., 2023): a mentioned entity flips the sentiment answer.
* :class:`DenialOfService` (Souly et al., 2025): a trigger gets gibberish.

Spam filters (:mod:`aisec.attacks.poisoning.spam_dictionary`, Nelson et al. 2008): the
dictionary attack (e-mails holding the attacker's whole dictionary, trained as spam) and the
focused attack (e-mails holding words guessed from one target ham message).
"""

from __future__ import annotations

from aisec.attacks.poisoning.badnets import BadNets, Trigger
from aisec.attacks.poisoning.base import PoisoningAttack, PoisonResult, TriggeredSet
from aisec.attacks.poisoning.clean_label import CleanLabel, max_loss_perturbation
from aisec.attacks.poisoning.denial_of_service import DenialOfService
from aisec.attacks.poisoning.entity_steering import EntitySteering
from aisec.attacks.poisoning.instruction import InstructionBackdoor, PoisonedInstructions
from aisec.attacks.poisoning.sleeper import FixedOutput
from aisec.attacks.poisoning.spam_dictionary import (
    attacker_dictionary,
    dictionary_attack,
    focused_attack,
    guessed_words,
)
from aisec.attacks.poisoning.sticker import StickerBackdoor

__all__ = [
    "BadNets",
    "CleanLabel",
    "DenialOfService",
    "EntitySteering",
    "FixedOutput",
    "InstructionBackdoor",
    "PoisonResult",
    "PoisonedInstructions",
    "PoisoningAttack",
    "StickerBackdoor",
    "Trigger",
    "TriggeredSet",
    "attacker_dictionary",
    "dictionary_attack",
    "focused_attack",
    "guessed_words",
    "max_loss_perturbation",
]
