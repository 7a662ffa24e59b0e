"""Text attacks composed of a goal function, a transformation, constraints and a search method.

Recipes (:mod:`aisec.attacks.text.recipes`): ``textfooler``, ``pwws``, ``deepwordbug`` and
``bad_characters`` (word substitutions), and, against spam filters, ``good-words``,
``good-words-passive`` and ``contextual-insertion`` (insertions of ham words or sentences drawn
from the attacker's own corpus, :mod:`aisec.attacks.text.good_words`), each a small factory
returning a :class:`TextAttack`::

    from aisec.attacks.text import build_recipe
    from aisec.zoo import load_text_model

    model = load_text_model("tweets-bow")
    run = build_recipe("deepwordbug").run(model, texts, labels)
    print(run.summary)

Attacks edit only the words inside the victim's token window (:func:`readable_slots`); each
result's ``words_out_of_reach`` counts the words after it, which were left alone. Insertions
keep the word slots aligned (:meth:`AttackText.insert`); results count ``words_added`` and
``words_deleted``. A universal trigger (:class:`UniversalTrigger`, Wallace et al. 2019) is one
phrase, found with a white-box victim's gradients, that moves many texts at once.
"""

from __future__ import annotations

from aisec.attacks.text.attack import AttackRun, AttackSummary, TextAttack, TextAttackResult
from aisec.attacks.text.constraints import MaxWordsAdded
from aisec.attacks.text.core import (
    AttackText,
    GoalFunction,
    TargetedClassification,
    UntargetedClassification,
)
from aisec.attacks.text.insertion import InsertSentences, InsertWords
from aisec.attacks.text.recipes import (
    RECIPES,
    bad_characters,
    build_recipe,
    contextual_insertion,
    deepwordbug,
    good_words,
    good_words_passive,
    pwws,
    textfooler,
)
from aisec.attacks.text.search import GradientGuidedGreedy, GreedyInsertion
from aisec.attacks.text.transformations import DeleteWord
from aisec.attacks.text.trigger import (
    TriggerOutcome,
    TriggerSearch,
    UniversalTrigger,
    apply_trigger,
    trigger_success,
)
from aisec.attacks.text.window import readable_slots

__all__ = [
    "RECIPES",
    "AttackRun",
    "AttackSummary",
    "AttackText",
    "DeleteWord",
    "GoalFunction",
    "GradientGuidedGreedy",
    "GreedyInsertion",
    "InsertSentences",
    "InsertWords",
    "MaxWordsAdded",
    "TargetedClassification",
    "TextAttack",
    "TextAttackResult",
    "TriggerOutcome",
    "TriggerSearch",
    "UniversalTrigger",
    "UntargetedClassification",
    "apply_trigger",
    "bad_characters",
    "build_recipe",
    "contextual_insertion",
    "deepwordbug",
    "good_words",
    "good_words_passive",
    "pwws",
    "readable_slots",
    "textfooler",
    "trigger_success",
]
