"""Text attacks composed of a goal function, a transformation, constraints and a search method.

Recipes (:mod:`aisec.attacks.text.recipes`): ``textfooler``, ``pwws``, ``deepwordbug`` and
``bad_characters``, each a small factory returning a :class:`TextAttack`::

    from aisec.attacks.text import build_recipe
    from aisec.zoo import load_text_model

    model = load_text_model("tweets-bow")
    run = build_recipe("deepwordbug").run(model, texts, labels)
    print(run.summary)

Attacks edit only the words inside the victim's token window (:func:`readable_slots`); each
result's ``words_out_of_reach`` counts the words after it, which were left alone.
"""

from __future__ import annotations

from aisec.attacks.text.attack import AttackRun, AttackSummary, TextAttack, TextAttackResult
from aisec.attacks.text.core import (
    AttackText,
    GoalFunction,
    TargetedClassification,
    UntargetedClassification,
)
from aisec.attacks.text.recipes import (
    RECIPES,
    bad_characters,
    build_recipe,
    deepwordbug,
    pwws,
    textfooler,
)
from aisec.attacks.text.search import GradientGuidedGreedy
from aisec.attacks.text.window import readable_slots

__all__ = [
    "RECIPES",
    "AttackRun",
    "AttackSummary",
    "AttackText",
    "GoalFunction",
    "GradientGuidedGreedy",
    "TargetedClassification",
    "TextAttack",
    "TextAttackResult",
    "UntargetedClassification",
    "bad_characters",
    "build_recipe",
    "deepwordbug",
    "pwws",
    "readable_slots",
    "textfooler",
]
