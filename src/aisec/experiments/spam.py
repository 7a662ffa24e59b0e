"""Spam filters under attack: evasion, a universal trigger, poisoning, and defenses measured.

:class:`SpamPlan` and :func:`run_spam` run the spam section of the tour's text chapter on the
SpamAssassin public corpus (:mod:`aisec.data.spam`), against the offline filters ``spam-nb``
(multinomial naive Bayes), ``spam-tfidf`` (TF-IDF logistic regression) and ``spam-minilm``
(MiniLM reading the first 64 tokens, with a trained head):

1. **Victims**: each filter's test accuracy and the share of test ham it calls spam.
2. **Evasion**: each recipe of ``plan.attacks`` on a seeded sample of test spam (the goal is
   the ham class): the good-word attacks (Lowd & Meek 2005), sentence insertion, and the
   character and Unicode recipes. The insertion recipes draw their words and sentences from
   the training split: the attacker's own mail (see :func:`aisec.experiments.text.attacker_corpus`).
3. **Universal trigger** (Wallace et al. 2019): a phrase found with the neural filter's
   gradients on training spam, then added to held-out test spam for every filter (transfer).
4. **Poisoning** (Nelson et al. 2008): dictionary attack e-mails (``poison_fraction`` of the
   training mail, trained as spam) against naive Bayes, logistic regression and a
   SpamBayes-style filter; the focused attack on chosen ham messages; RONI screening
   (Nelson et al. 2009) of the poisoned training mail, and the filter retrained on what it kept.
5. **Defenses**, each attacked adaptively: the sanitizer inside the filter against the
   character recipe, and naive Bayes retrained on spam with good words added, against the
   active good-word attack on the retrained filter.

A plan checks its names and sizes when it is made, before anything loads.
"""

from __future__ import annotations

import random
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from aisec.attacks.poisoning.spam_dictionary import (
    attacker_dictionary,
    dictionary_attack,
    focused_attack,
)
from aisec.attacks.text.attack import AttackRun, TextAttack
from aisec.attacks.text.good_words import ham_indicative_words
from aisec.attacks.text.insertion import check_position
from aisec.attacks.text.recipes import RECIPES, build_recipe
from aisec.attacks.text.trigger import (
    TriggerOutcome,
    TriggerSearch,
    UniversalTrigger,
    trigger_success,
)
from aisec.data.base import TextDataset
from aisec.data.spam import SPAM_CLASSES, load_spam_splits
from aisec.defenses.detect.roni import RONI, NaiveBayesLearner, RoniResult, SpamBayesLearner
from aisec.defenses.text.sanitizer import SanitizedClassifier
from aisec.evaluate.spam_poisoning import (
    FocusedAttackEffect,
    PoisoningEffect,
    RoniScreening,
    SpamFilterRates,
    focused_attack_effect,
    poisoning_effect,
    roni_screening,
    spam_filter_rates,
)
from aisec.evaluate.text import attack_rates
from aisec.experiments import names
from aisec.experiments.base import check_int
from aisec.experiments.text import INSERTION_RECIPES
from aisec.models.linear_text import (
    LinearTextClassifier,
    fit_logistic_regression,
    fit_naive_bayes,
)
from aisec.models.spambayes import SpamBayesClassifier, SpamBayesOptions, fit_spambayes
from aisec.models.text import MiniLMEncoder, TextClassifier, TokenClassifier
from aisec.stats import Rate

__all__ = [
    "POISON_FILTERS",
    "SPAM_VICTIMS",
    "SpamAttackOutcome",
    "SpamDefenseOutcome",
    "SpamPlan",
    "SpamPoisoningOutcome",
    "SpamResult",
    "SpamTriggerOutcome",
    "run_spam",
]

SPAM_VICTIMS: tuple[str, ...] = ("spam-nb", "spam-tfidf", "spam-minilm")
"""The offline spam filters."""

POISON_FILTERS: dict[str, str] = {
    "naive-bayes": "multinomial naive Bayes (spam-nb's recipe)",
    "logistic-regression": "TF-IDF logistic regression (spam-tfidf's recipe)",
    "spambayes": "SpamBayes-style token scores (Graham 2002, Robinson 2003)",
}
"""The filters the poisoning attacks retrain, by name."""

_SPAM = SPAM_CLASSES.index("spam")
_HAM = SPAM_CLASSES.index("ham")


def _check_victim(name: object) -> None:
    if name not in SPAM_VICTIMS:
        raise ValueError(
            f"unknown spam filter {name!r}; offline filters: {', '.join(SPAM_VICTIMS)}"
        )


def _check_recipe(name: object) -> None:
    if name not in RECIPES:
        raise ValueError(f"unknown recipe {name!r}; known recipes: {sorted(RECIPES)}")


@dataclass(frozen=True)
class SpamPlan:
    """What the spam section runs, and at which size.

    Attributes:
        victims: the filters whose test accuracy is reported and on which the trigger is
            measured.
        attacks: ``(victim, recipe)`` pairs attacked on test spam.
        n: test spam attacked per pair (``n_minilm`` for ``spam-minilm``).
        n_minilm: test spam attacked per pair on ``spam-minilm``.
        max_words: most words the good-word attacks add.
        pool_size: candidate words the active good-word attack tries at each step.
        position: where inserted words and sentences go (``"after-first-line"``: the start of
            the body, which ``spam-minilm``'s 64-token window reads).
        trigger_victim: the white-box filter the trigger is searched on (``None``: no trigger).
        trigger_tokens: trigger length in tokens.
        trigger_iterations: gradient steps of the trigger search.
        trigger_candidates: candidates evaluated per position and step.
        trigger_batch: spam per gradient step.
        trigger_search_n: training spam the trigger is searched on.
        trigger_eval_n: test spam the trigger is measured on (per filter).
        poison_filters: the filters the poisoning attacks retrain (see :data:`POISON_FILTERS`).
        poison_fraction: the attack e-mails' share of the poisoned training mail.
        dictionary_size: words of the attacker's dictionary, the most common of the attacker's
            mail (``None``: every word of it; 20,000 is about a third of them and an English
            dictionary's size).
        focused_targets: test ham messages each attacked by the focused attack (0: none).
        focused_known_fraction: the share of a target's words the focused attacker guesses.
        focused_filters: the filters the focused attack is measured on (each target means
            one retraining: the SpamBayes-style filter adds counts, the others refit).
        roni_filters: the filters whose poisoned training mail RONI screens before they are
            retrained on what it keeps (naive Bayes and the SpamBayes-style filter have
            RONI's fast path).
        roni_trusted: trusted training messages RONI draws its small experiments from.
        roni_train_size: RONI's small training sets (Nelson et al.: 20; see
            :class:`~aisec.defenses.detect.roni.RONI` for why 50 costs less genuine mail).
        roni_threshold: RONI rejects a message whose mean impact is below ``-threshold``.
        sanitizer_recipe: the character/Unicode recipe the sanitizer defense is measured
            against (``None``: not measured).
        sanitizer_n: test spam attacked with and without the sanitizer.
        sanitizer_query_budget: queries per message of that attack, the same with and
            without the sanitizer (``None``: unlimited; a failing attack through the
            sanitizer otherwise tries every candidate of every word, thousands of queries).
        adversarial_training: measure naive Bayes retrained on spam with good words added.
        seed: seed of the samples, the trigger search and the attack e-mails.

    Raises:
        ValueError, TypeError: unknown names or bad sizes (checked when the plan is made).
    """

    victims: tuple[str, ...] = SPAM_VICTIMS
    attacks: tuple[tuple[str, str], ...] = (
        ("spam-nb", "good-words-passive"),
        ("spam-nb", "good-words"),
        ("spam-nb", "contextual-insertion"),
        ("spam-tfidf", "good-words"),
        ("spam-tfidf", "contextual-insertion"),
    )
    n: int = 40
    n_minilm: int = 10
    max_words: int = 10
    pool_size: int = 50
    position: str = "after-first-line"
    trigger_victim: str | None = "spam-minilm"
    trigger_tokens: int = 3
    trigger_iterations: int = 3
    trigger_candidates: int = 5
    trigger_batch: int = 12
    trigger_search_n: int = 100
    trigger_eval_n: int = 150
    poison_filters: tuple[str, ...] = ("naive-bayes", "logistic-regression", "spambayes")
    poison_fraction: float = 0.01
    dictionary_size: int | None = 20_000
    focused_targets: int = 10
    focused_known_fraction: float = 0.5
    focused_filters: tuple[str, ...] = ("spambayes",)
    roni_filters: tuple[str, ...] = ("spambayes", "naive-bayes")
    roni_trusted: int = 300
    roni_train_size: int = 50
    roni_threshold: float = 0.1
    sanitizer_recipe: str | None = "bad_characters"
    sanitizer_n: int = 6
    sanitizer_query_budget: int | None = 1_500
    adversarial_training: bool = True
    seed: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.victims, tuple) or not self.victims:
            raise ValueError(f"victims must be a non-empty tuple of names, got {self.victims!r}")
        for victim in self.victims:
            _check_victim(victim)
        if not isinstance(self.attacks, tuple):
            raise TypeError(
                f"attacks must be a tuple of (victim, recipe) pairs, got {self.attacks!r}"
            )
        for pair in self.attacks:
            if not isinstance(pair, tuple) or len(pair) != 2:
                raise ValueError(f"each attack must be a (victim, recipe) pair, got {pair!r}")
            _check_victim(pair[0])
            _check_recipe(pair[1])
        if len(set(self.attacks)) != len(self.attacks):
            raise ValueError(f"attacks must not repeat a pair, got {self.attacks}")
        for name in (
            "n",
            "n_minilm",
            "max_words",
            "pool_size",
            "trigger_tokens",
            "trigger_iterations",
        ):
            check_int(name, getattr(self, name), 1)
        for name in ("trigger_candidates", "trigger_batch", "trigger_search_n", "trigger_eval_n"):
            check_int(name, getattr(self, name), 1)
        for name in ("focused_targets",):
            check_int(name, getattr(self, name), 0)
        check_int("sanitizer_n", self.sanitizer_n, 1)
        if self.sanitizer_query_budget is not None:
            check_int("sanitizer_query_budget", self.sanitizer_query_budget, 1)
        check_int("roni_trusted", self.roni_trusted, 100)
        check_int("seed", self.seed, 0)
        check_position(self.position)
        if self.trigger_victim is not None and self.trigger_victim not in ("spam-minilm",):
            raise ValueError(
                f"trigger_victim must be a white-box (token) filter, 'spam-minilm', or None; "
                f"got {self.trigger_victim!r}"
            )
        for what in ("poison_filters", "focused_filters", "roni_filters"):
            chosen = getattr(self, what)
            if not isinstance(chosen, tuple):
                raise TypeError(f"{what} must be a tuple of names, got {chosen!r}")
            for name in chosen:
                if name not in POISON_FILTERS:
                    raise ValueError(
                        f"unknown filter {name!r} in {what}; known: {', '.join(POISON_FILTERS)}"
                    )
            if what != "poison_filters" and not set(chosen) <= set(self.poison_filters):
                raise ValueError(f"{what} must be among poison_filters {self.poison_filters}")
        unscreenable = set(self.roni_filters) - {"spambayes", "naive-bayes"}
        if unscreenable:
            raise ValueError(
                f"roni_filters: RONI's fast path covers 'spambayes' and 'naive-bayes' only, got "
                f"{sorted(unscreenable)} (the generic path refits per message: minutes)"
            )
        check_int("roni_train_size", self.roni_train_size, 2)
        threshold = self.roni_threshold
        if isinstance(threshold, bool) or not isinstance(threshold, (int, float)):
            raise TypeError(f"roni_threshold must be a number, got {threshold!r}")
        if not 0 <= threshold < 1:
            raise ValueError(f"roni_threshold must be in [0, 1), got {threshold}")
        fraction = self.poison_fraction
        if isinstance(fraction, bool) or not isinstance(fraction, (int, float)):
            raise TypeError(f"poison_fraction must be a number, got {fraction!r}")
        if not 0 < fraction < 0.5:
            raise ValueError(f"poison_fraction must be in (0, 0.5), got {fraction}")
        if self.dictionary_size is not None:
            check_int("dictionary_size", self.dictionary_size, 1)
        known = self.focused_known_fraction
        if isinstance(known, bool) or not isinstance(known, (int, float)) or not 0 < known <= 1:
            raise ValueError(f"focused_known_fraction must be in (0, 1], got {known!r}")
        if self.sanitizer_recipe is not None and self.sanitizer_recipe not in (
            "bad_characters",
            "deepwordbug",
        ):
            raise ValueError(
                "sanitizer_recipe must be 'bad_characters', 'deepwordbug' or None, got "
                f"{self.sanitizer_recipe!r}"
            )

    @property
    def needs_minilm(self) -> bool:
        """Whether the MiniLM encoder is loaded (a MiniLM victim or the trigger)."""
        return (
            "spam-minilm" in self.victims
            or any(victim == "spam-minilm" for victim, _ in self.attacks)
            or self.trigger_victim is not None
        )


@dataclass(frozen=True)
class SpamVictim:
    """One filter on the whole test split.

    Attributes:
        name: the filter.
        accuracy: test messages classified correctly.
        ham_false_positive: test ham called spam.
        spam_missed: test spam called ham.
    """

    name: str
    accuracy: Rate
    ham_false_positive: Rate
    spam_missed: Rate

    def row(self) -> dict[str, Any]:
        """The table row."""
        return {
            "filter": self.name,
            "test accuracy": self.accuracy,
            "ham called spam": self.ham_false_positive,
            "spam missed": self.spam_missed,
        }


@dataclass(frozen=True)
class SpamAttackOutcome:
    """One recipe against one filter on test spam.

    Attributes:
        victim: the filter.
        recipe: the recipe.
        run: the attack run (per-message results and summary).
        ceiling: for a good-word attack on naive Bayes, the detected spam that the best
            possible insertion of as many words could flip (:func:`_insertion_ceiling`).
    """

    victim: str
    recipe: str
    run: AttackRun = field(repr=False)
    ceiling: Rate | None = None

    def numbers(self) -> dict[str, Any]:
        """Headline numbers: success rate, n attacked, mean words added and queries."""
        summary = self.run.summary
        assert summary is not None  # run() always summarizes
        rates = attack_rates(summary)
        out = {
            "success_rate": summary.success_rate,
            "attacked": rates.success_rate.total,
            "detected": rates.clean_accuracy.value,
            "mean_words_added": summary.mean_words_added,
            "mean_words_changed_pct": summary.mean_words_changed_pct,
            "mean_queries": summary.mean_queries,
        }
        if self.ceiling is not None:
            out["ceiling"] = self.ceiling.value
        return out

    def row(self) -> dict[str, Any]:
        """The table row (rates with their sample sizes)."""
        summary = self.run.summary
        assert summary is not None
        rates = attack_rates(summary)
        return {
            "filter": self.victim,
            "recipe": self.recipe,
            "spam detected": rates.clean_accuracy,
            "gets through (of detected)": rates.success_rate,
            "words added": summary.mean_words_added,
            "% words changed": summary.mean_words_changed_pct,
            "mean queries": summary.mean_queries,
            "best possible insertion": self.ceiling,
        }

    def to_dict(self) -> dict[str, Any]:
        """JSON: victim, recipe, the run (results, summary, configuration), the ceiling."""
        ceiling = None if self.ceiling is None else self.ceiling.to_dict()
        return {
            "victim": self.victim,
            "recipe": self.recipe,
            "ceiling": ceiling,
            **self.run.to_dict(),
        }


@dataclass(frozen=True)
class SpamTriggerOutcome:
    """A universal trigger found on one filter and its effect on every filter.

    Attributes:
        victim: the filter the trigger was searched on.
        search: the search's result (trigger, losses, cost).
        outcomes: filter -> the trigger added to held-out test spam.
        baseline: filter -> the search's initial trigger added to the same spam (a control:
            how much any three words move the filter).
    """

    victim: str
    search: TriggerSearch
    outcomes: dict[str, TriggerOutcome]
    baseline: dict[str, TriggerOutcome]

    def rows(self) -> list[dict[str, Any]]:
        """One row per filter: flipped by the trigger and by the control."""
        return [
            {
                "filter": name,
                "role": "searched on" if name == self.victim else "transfer",
                "trigger": self.search.phrase,
                "spam detected, then passed": Rate(outcome.flipped, outcome.n),
                "control phrase": Rate(self.baseline[name].flipped, self.baseline[name].n),
            }
            for name, outcome in self.outcomes.items()
        ]

    def to_dict(self) -> dict[str, Any]:
        """JSON: the search and each filter's outcome and control."""
        return {
            "victim": self.victim,
            "search": self.search.to_dict(),
            "outcomes": {k: v.to_dict() for k, v in self.outcomes.items()},
            "baseline": {k: v.to_dict() for k, v in self.baseline.items()},
        }


@dataclass(frozen=True)
class SpamPoisoningOutcome:
    """Dictionary and focused poisoning of each filter, and RONI.

    Attributes:
        dictionary: filter -> clean and poisoned filter on the test mail.
        n_poison: attack e-mails added to the training mail.
        dictionary_words: words in each dictionary e-mail.
        focused: filter -> the focused attack on the target ham messages.
        roni: filter -> RONI's screening of the poisoned training mail.
        roni_filter: filter -> the filter retrained on the mail RONI kept, on the test mail.
        focused_roni: filter -> the focused attack when RONI screens its e-mails first (the
            attack that knows RONI: each e-mail changes little), and the share of its e-mails
            RONI rejected.
    """

    dictionary: dict[str, PoisoningEffect]
    n_poison: int
    dictionary_words: int
    focused: dict[str, FocusedAttackEffect]
    roni: dict[str, RoniScreening] = field(default_factory=dict)
    roni_filter: dict[str, SpamFilterRates] = field(default_factory=dict)
    focused_roni: dict[str, tuple[FocusedAttackEffect, Rate]] = field(default_factory=dict)

    def rows(self) -> list[dict[str, Any]]:
        """One row per filter: clean, poisoned (and RONI for naive Bayes)."""
        out: list[dict[str, Any]] = []
        for name, effect in self.dictionary.items():
            states = [("clean", effect.clean), ("dictionary attack", effect.poisoned)]
            if name in self.roni_filter:
                states.append(("dictionary attack, RONI-screened", self.roni_filter[name]))
            for state, rates in states:
                out.append(
                    {
                        "filter": name,
                        "training mail": state,
                        "ham called spam": rates.ham_misclassified,
                        "ham not delivered (spam or unsure)": rates.ham_not_ham,
                        "spam missed": rates.spam_missed,
                        "accuracy": rates.accuracy,
                    }
                )
        return out

    def roni_rows(self) -> list[dict[str, Any]]:
        """One row per screened filter: what RONI rejected and what it cost."""
        return [
            {
                "filter": name,
                "attack e-mails rejected": screening.attack_rejected,
                "genuine ham rejected": screening.ham_rejected,
                "genuine spam rejected": screening.spam_rejected,
                "models compared": screening.fits,
                "seconds": screening.seconds,
            }
            for name, screening in self.roni.items()
        ]

    def focused_rows(self) -> list[dict[str, Any]]:
        """One row per filter: target ham blocked by its focused attack."""
        rows: list[dict[str, Any]] = []
        for name, effect in self.focused.items():
            row: dict[str, Any] = {
                "filter": name,
                "target ham blocked": effect.blocked,
                "attack e-mails per target": effect.n_poison,
            }
            if name in self.focused_roni:
                screened, rejected = self.focused_roni[name]
                row["blocked with RONI screening"] = screened.blocked
                row["attack e-mails RONI rejected"] = rejected
            rows.append(row)
        return rows

    def to_dict(self) -> dict[str, Any]:
        """JSON of every measurement."""
        return {
            "n_poison": self.n_poison,
            "dictionary_words": self.dictionary_words,
            "dictionary": {k: v.to_dict() for k, v in self.dictionary.items()},
            "focused": {k: v.to_dict() for k, v in self.focused.items()},
            "roni": {k: v.to_dict() for k, v in self.roni.items()},
            "roni_filter": {k: v.to_dict() for k, v in self.roni_filter.items()},
            "focused_roni": {
                k: {"effect": effect.to_dict(), "rejected": rejected.to_dict()}
                for k, (effect, rejected) in self.focused_roni.items()
            },
        }


@dataclass(frozen=True)
class SpamDefenseOutcome:
    """One defense against the attack that knows it.

    Attributes:
        defense: ``"sanitizer"`` or ``"adversarial-training"``.
        recipe: the attack.
        undefended: the attack on the bare filter.
        defended: the attack on the defended filter (it queries the defense).
        cost: the defense's cost: the defended filter's rates on the test mail (``None`` when
            the defense does not change the filter's verdict on clean mail).
    """

    defense: str
    recipe: str
    undefended: AttackRun = field(repr=False)
    defended: AttackRun = field(repr=False)
    cost: SpamFilterRates | None = None

    def row(self) -> dict[str, Any]:
        """The table row: the attack's success without and with the defense."""
        before, after = self.undefended.summary, self.defended.summary
        assert before is not None and after is not None
        row: dict[str, Any] = {
            "defense": self.defense,
            "attack (adaptive)": self.recipe,
            "gets through, no defense": attack_rates(before).success_rate,
            "gets through, defended": attack_rates(after).success_rate,
            "words added, defended": after.mean_words_added,
        }
        if self.cost is not None:
            row["ham called spam (defended)"] = self.cost.ham_misclassified
            row["spam missed (defended)"] = self.cost.spam_missed
        return row

    def to_dict(self) -> dict[str, Any]:
        """JSON of both runs and the cost."""
        return {
            "defense": self.defense,
            "recipe": self.recipe,
            "undefended": self.undefended.to_dict(),
            "defended": self.defended.to_dict(),
            "cost": None if self.cost is None else self.cost.to_dict(),
        }


@dataclass(frozen=True)
class SpamResult:
    """Everything the spam section measured."""

    plan: SpamPlan
    data: dict[str, int]
    victims: dict[str, SpamVictim]
    attacks: list[SpamAttackOutcome]
    trigger: SpamTriggerOutcome | None
    poisoning: SpamPoisoningOutcome | None
    defenses: list[SpamDefenseOutcome]
    seconds: dict[str, float]

    def victim_rows(self) -> list[dict[str, Any]]:
        """One row per filter."""
        return [victim.row() for victim in self.victims.values()]

    def attack_rows(self) -> list[dict[str, Any]]:
        """One row per (filter, recipe)."""
        return [outcome.row() for outcome in self.attacks]

    def defense_rows(self) -> list[dict[str, Any]]:
        """One row per defense."""
        return [outcome.row() for outcome in self.defenses]

    def numbers(self) -> dict[str, Any]:
        """Every headline number by a dotted name (rates as fractions)."""
        out: dict[str, Any] = dict(self.data)
        for name, victim in self.victims.items():
            out[f"{name}.test_accuracy"] = victim.accuracy.value
            out[f"{name}.ham_false_positive_rate"] = victim.ham_false_positive.value
            out[f"{name}.n_test"] = victim.accuracy.total
        for outcome in self.attacks:
            for key, value in outcome.numbers().items():
                out[f"{outcome.victim}.{outcome.recipe}.{key}"] = value
        if self.trigger is not None:
            out["trigger.phrase"] = self.trigger.search.phrase
            out["trigger.tokens"] = len(self.trigger.search.tokens)
            out["trigger.seconds"] = self.trigger.search.seconds
            for name, flipped in self.trigger.outcomes.items():
                out[f"trigger.{name}.rate"] = flipped.rate
                out[f"trigger.{name}.n"] = flipped.n
                out[f"trigger.{name}.control_rate"] = self.trigger.baseline[name].rate
        if self.poisoning is not None:
            poisoning = self.poisoning
            out["poisoning.n_poison"] = poisoning.n_poison
            out["poisoning.dictionary_words"] = poisoning.dictionary_words
            for name, effect in poisoning.dictionary.items():
                out["poisoning.n_train"] = effect.n_train
                out["poisoning.fraction"] = effect.poison_fraction
                states = [("clean", effect.clean), ("poisoned", effect.poisoned)]
                if name in poisoning.roni_filter:
                    states.append(("roni", poisoning.roni_filter[name]))
                for state, rates in states:
                    key = f"poisoning.{name}.{state}"
                    out[f"{key}.ham_misclassified"] = rates.ham_misclassified.value
                    out[f"{key}.spam_missed"] = rates.spam_missed.value
                    out[f"{key}.accuracy"] = rates.accuracy.value
                    out[f"{key}.ham_accuracy"] = 1 - rates.ham_misclassified.value
                    if rates.ham_not_ham is not None:
                        out[f"{key}.ham_not_ham"] = rates.ham_not_ham.value
            out["poisoning.n_test_ham"] = effect.clean.ham_misclassified.total
            for name, focused in poisoning.focused.items():
                out[f"poisoning.focused.{name}.blocked"] = focused.blocked.value
                out[f"poisoning.focused.{name}.targets"] = focused.blocked.total
                if focused.not_ham is not None:
                    out[f"poisoning.focused.{name}.not_ham"] = focused.not_ham.value
                if name in poisoning.focused_roni:
                    screened, rejected = poisoning.focused_roni[name]
                    out[f"poisoning.focused.{name}.roni_blocked"] = screened.blocked.value
                    out[f"poisoning.focused.{name}.roni_rejected"] = rejected.value
            for name, roni in poisoning.roni.items():
                out[f"roni.{name}.attack_rejected"] = roni.attack_rejected.value
                out[f"roni.{name}.ham_rejected"] = roni.ham_rejected.value
                out[f"roni.{name}.spam_rejected"] = roni.spam_rejected.value
                out[f"roni.{name}.genuine_ham"] = roni.ham_rejected.total
                out[f"roni.{name}.genuine_spam"] = roni.spam_rejected.total
                out[f"roni.{name}.seconds"] = roni.seconds
                out[f"roni.{name}.fits"] = roni.fits
        for defense in self.defenses:
            before, after = defense.undefended.summary, defense.defended.summary
            assert before is not None and after is not None
            key = f"defense.{defense.defense}.{defense.recipe}"
            out[f"{key}.undefended_success"] = before.success_rate
            out[f"{key}.defended_success"] = after.success_rate
            out[f"{key}.n"] = attack_rates(after).success_rate.total
            if defense.cost is not None:
                out[f"{key}.ham_misclassified"] = defense.cost.ham_misclassified.value
                out[f"{key}.spam_missed"] = defense.cost.spam_missed.value
        for stage, seconds in self.seconds.items():
            out[f"seconds.{stage}"] = seconds
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON of the plan and every measurement."""
        return {
            "plan": _plan_dict(self.plan),
            "data": self.data,
            "victims": {
                name: {
                    "accuracy": v.accuracy.to_dict(),
                    "ham_false_positive": v.ham_false_positive.to_dict(),
                    "spam_missed": v.spam_missed.to_dict(),
                }
                for name, v in self.victims.items()
            },
            "attacks": [outcome.to_dict() for outcome in self.attacks],
            "trigger": None if self.trigger is None else self.trigger.to_dict(),
            "poisoning": None if self.poisoning is None else self.poisoning.to_dict(),
            "defenses": [outcome.to_dict() for outcome in self.defenses],
            "seconds": self.seconds,
        }


def _plan_dict(plan: SpamPlan) -> dict[str, Any]:
    from dataclasses import asdict

    return asdict(plan)


def _split(data: TextDataset, label: int) -> list[str]:
    return [t for t, y in zip(data.texts, data.labels.tolist(), strict=True) if y == label]


def _sample(texts: Sequence[str], n: int, seed: int) -> list[str]:
    """A seeded sample of ``n`` texts in their original order (all when there are fewer)."""
    order = torch.randperm(len(texts), generator=torch.Generator().manual_seed(seed))
    return [texts[i] for i in order[:n].sort().values.tolist()]


def _victim(name: str, model: TextClassifier, test: TextDataset) -> SpamVictim:
    """A filter's rates on the whole test split (stored with the model when it has them)."""
    n_ham = int((test.labels == _HAM).sum())
    n_spam = int((test.labels == _SPAM).sum())
    accuracy = getattr(model, "test_accuracy", None)
    fpr = getattr(model, "ham_false_positive_rate", None)
    if accuracy is not None and fpr is not None:
        errors = round((1 - accuracy) * (n_ham + n_spam))
        ham_errors = round(fpr * n_ham)
        return SpamVictim(
            name,
            Rate(n_ham + n_spam - errors, n_ham + n_spam),
            Rate(ham_errors, n_ham),
            Rate(errors - ham_errors, n_spam),
        )
    rates = spam_filter_rates(model, list(test.texts), test.labels)
    return SpamVictim(name, rates.accuracy, rates.ham_misclassified, rates.spam_missed)


class _Recipes:
    """Each recipe built once per run (the insertion recipes rank the attacker's whole corpus)."""

    def __init__(self, plan: SpamPlan, corpus: dict[str, list[str]]) -> None:
        self.plan = plan
        self.corpus = corpus
        self.built: dict[str, TextAttack] = {}

    def __getitem__(self, recipe: str) -> TextAttack:
        if recipe not in self.built:
            kwargs: dict[str, Any] = {}
            if recipe in INSERTION_RECIPES:
                kwargs = dict(self.corpus, position=self.plan.position, seed=self.plan.seed)
                if recipe != "contextual-insertion":
                    kwargs["max_words"] = self.plan.max_words
                if recipe == "good-words":
                    kwargs["pool_size"] = self.plan.pool_size
            elif recipe == self.plan.sanitizer_recipe:
                kwargs["query_budget"] = self.plan.sanitizer_query_budget
            self.built[recipe] = build_recipe(recipe, **kwargs)
        return self.built[recipe]

    def run(
        self, recipe: str, model: TextClassifier, texts: list[str], *, progress: bool
    ) -> AttackRun:
        """``recipe`` on spam ``texts`` (label spam, goal ham)."""
        return self[recipe].run(model, texts, [_SPAM] * len(texts), progress=progress)


def _insertion_ceiling(model: TextClassifier, texts: list[str], max_words: int) -> Rate | None:
    """For naive Bayes: detected spam that *any* insertion of ``max_words`` words can flip.

    Multinomial naive Bayes is linear in word counts, so adding a word moves the spam-vs-ham
    log-odds by that word's fixed weight; the best an insertion of ``k`` words can do is ``k``
    copies of the most ham-indicative word of the vocabulary. A message whose log-odds exceed
    that is out of reach of every good-word attack of that size (``None`` for other victims).
    """
    if not isinstance(model, LinearTextClassifier) or model.weighting != "counts":
        return None
    weights = model.word_weights(_HAM)
    best = max(weights.values())
    log_p = model.predict_log_proba(texts)
    margin = (log_p[:, _SPAM] - log_p[:, _HAM]).numpy()
    detected = margin > 0
    return Rate(int((margin[detected] < max_words * best).sum()), int(detected.sum()))


def _trigger(
    plan: SpamPlan,
    models: dict[str, TextClassifier],
    train_spam: list[str],
    test_spam: list[str],
    *,
    progress: bool,
) -> SpamTriggerOutcome:
    """Search the trigger on training spam; add it to held-out test spam for every filter."""
    assert plan.trigger_victim is not None
    victim = models[plan.trigger_victim]
    if not isinstance(victim, TokenClassifier):
        raise TypeError(f"the trigger needs a white-box filter, got {type(victim).__name__}")
    searcher = UniversalTrigger(
        plan.trigger_tokens,
        iterations=plan.trigger_iterations,
        candidates=plan.trigger_candidates,
        batch_size=plan.trigger_batch,
        seed=plan.seed,
    )
    search_texts = _sample(train_spam, plan.trigger_search_n, plan.seed)
    search = searcher.find(
        victim, search_texts, [_SPAM] * len(search_texts), target=_HAM, progress=progress
    )
    held_out = _sample(test_spam, plan.trigger_eval_n, plan.seed + 1)
    labels = [_SPAM] * len(held_out)
    control = " ".join([searcher.init_word] * plan.trigger_tokens)
    outcomes: dict[str, TriggerOutcome] = {}
    baseline: dict[str, TriggerOutcome] = {}
    for name, model in models.items():
        outcomes[name] = trigger_success(model, held_out, labels, search.phrase, target=_HAM)
        baseline[name] = trigger_success(model, held_out, labels, control, target=_HAM)
    return SpamTriggerOutcome(plan.trigger_victim, search, outcomes, baseline)


def _fit(name: str) -> Any:
    """``fit(texts, labels)`` of a poison filter."""
    if name == "naive-bayes":
        return lambda texts, labels: fit_naive_bayes(texts, labels, SPAM_CLASSES)
    if name == "logistic-regression":
        return lambda texts, labels: fit_logistic_regression(texts, labels, SPAM_CLASSES)
    return lambda texts, labels: fit_spambayes(texts, labels, SPAM_CLASSES)


def _ham_cutoff(name: str) -> float | None:
    """SpamBayes delivers as ham only below its ham cutoff (Nelson et al.'s measure)."""
    return SpamBayesOptions().ham_cutoff if name == "spambayes" else None


def _poisoning(
    plan: SpamPlan,
    train: TextDataset,
    test: TextDataset,
    corpus: dict[str, list[str]],
    trained: dict[str, TextClassifier] | None = None,
) -> SpamPoisoningOutcome:
    """Dictionary and focused attacks on each filter; RONI before retraining.

    ``trained`` holds filters already trained on the clean training mail with the same
    recipe (the zoo's ``spam-nb`` and ``spam-tfidf`` are :func:`_fit`'s recipes): they are
    the clean filters, so that the clean and the poisoned filter differ only by the poison.
    """
    train_texts, train_labels = list(train.texts), train.labels
    test_texts = list(test.texts)
    # n_poison / (n_train + n_poison) = poison_fraction
    n_poison = max(1, round(plan.poison_fraction * len(train_texts) / (1 - plan.poison_fraction)))
    words = attacker_dictionary(corpus["ham_texts"] + corpus["spam_texts"], plan.dictionary_size)
    poison = dictionary_attack(words, n_poison, seed=plan.seed)
    dictionary: dict[str, PoisoningEffect] = {}
    clean_models: dict[str, TextClassifier] = {}
    for name in plan.poison_filters:
        fit = _fit(name)
        known = (trained or {}).get(name)
        clean_models[name] = known if known is not None else fit(train_texts, train_labels)
        dictionary[name] = poisoning_effect(
            fit,
            train_texts,
            train_labels,
            poison,
            test_texts,
            test.labels,
            clean_model=clean_models[name],
            ham_cutoff=_ham_cutoff(name),
        )
    focused: dict[str, FocusedAttackEffect] = {}
    targets = _sample(_split(test, _HAM), plan.focused_targets, plan.seed + 2)
    focused_roni: dict[str, tuple[FocusedAttackEffect, Rate]] = {}
    for name in plan.focused_filters if targets else ():
        focused[name] = _focused(
            plan, name, clean_models[name], train_texts, train_labels, targets, n_poison
        )
        if name in plan.roni_filters:
            focused_roni[name] = _focused_through_roni(
                plan, name, clean_models[name], train_texts, train_labels, targets, n_poison
            )
    screenings: dict[str, RoniScreening] = {}
    screened: dict[str, SpamFilterRates] = {}
    for name in plan.roni_filters:
        screenings[name], screened[name] = _roni(
            plan, name, train_texts, train_labels, poison, test
        )
    return SpamPoisoningOutcome(
        dictionary=dictionary,
        n_poison=n_poison,
        dictionary_words=len(words),
        focused=focused,
        roni=screenings,
        roni_filter=screened,
        focused_roni=focused_roni,
    )


def _focused(
    plan: SpamPlan,
    name: str,
    clean: TextClassifier,
    train_texts: list[str],
    train_labels: np.ndarray,
    targets: list[str],
    n_poison: int,
) -> FocusedAttackEffect:
    """The focused attack on each target, ``n_poison`` e-mails each (one retraining per target)."""
    fit = _fit(name)

    def retrain(emails: Sequence[str]) -> TextClassifier:
        if isinstance(clean, SpamBayesClassifier):
            return clean.updated(list(emails), [_SPAM] * len(emails))
        model: TextClassifier = fit(
            [*train_texts, *emails], [*train_labels.tolist(), *([_SPAM] * len(emails))]
        )
        return model

    def attack(target: str) -> list[str]:
        return focused_attack(
            target, n_poison, known_fraction=plan.focused_known_fraction, seed=plan.seed
        )

    return focused_attack_effect(clean, retrain, targets, attack, ham_cutoff=_ham_cutoff(name))


def _focused_through_roni(
    plan: SpamPlan,
    name: str,
    clean: TextClassifier,
    train_texts: list[str],
    train_labels: np.ndarray,
    targets: list[str],
    n_poison: int,
) -> tuple[FocusedAttackEffect, Rate]:
    """The focused attack when RONI screens the attack e-mails first (RONI, attacked adaptively).

    Each target's e-mails go through RONI (its verdict on a message does not depend on the
    other candidates: the small training sets are drawn from the trusted mail, shared by all
    candidates); the filter is retrained on the ones it keeps. Returns the effect and the
    share of attack e-mails RONI rejected.
    """
    trusted_index, _ = _trusted_split(plan, len(train_texts))
    trusted = [train_texts[i] for i in trusted_index]
    trusted_labels = train_labels[trusted_index]
    roni = _roni_for(plan, name)
    rejected = [0, 0]  # rejected, screened

    def attack(target: str) -> list[str]:
        emails = focused_attack(
            target, n_poison, known_fraction=plan.focused_known_fraction, seed=plan.seed
        )
        verdict = roni.screen(
            emails, [_SPAM] * len(emails), trusted, trusted_labels, seed=plan.seed
        )
        rejected[0] += int(verdict.rejected.sum())
        rejected[1] += len(emails)
        kept = [e for e, out in zip(emails, verdict.rejected.tolist(), strict=True) if not out]
        return kept

    fit = _fit(name)

    def retrain(emails: Sequence[str]) -> TextClassifier:
        if isinstance(clean, SpamBayesClassifier):
            return clean.updated(list(emails), [_SPAM] * len(emails))
        model: TextClassifier = fit(
            [*train_texts, *emails], [*train_labels.tolist(), *([_SPAM] * len(emails))]
        )
        return model

    effect = focused_attack_effect(clean, retrain, targets, attack, ham_cutoff=_ham_cutoff(name))
    return effect, Rate(rejected[0], rejected[1])


def _trusted_split(plan: SpamPlan, n_train: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the training mail the defender trusts (a seeded sample) and of the rest."""
    order = np.random.default_rng(plan.seed).permutation(n_train)
    return np.sort(order[: plan.roni_trusted]), np.sort(order[plan.roni_trusted :])


def _roni_for(plan: SpamPlan, name: str) -> RONI:
    """RONI with the plan's settings, for the filter ``name`` (its count-based learner)."""
    learner = SpamBayesLearner() if name == "spambayes" else NaiveBayesLearner()
    return RONI(learner, train_size=plan.roni_train_size, threshold=plan.roni_threshold)


def _roni(
    plan: SpamPlan,
    name: str,
    train_texts: list[str],
    train_labels: np.ndarray,
    poison: list[str],
    test: TextDataset,
) -> tuple[RoniScreening, SpamFilterRates]:
    """RONI screens the poisoned training mail; the filter is retrained on what it keeps.

    The defender trusts ``plan.roni_trusted`` messages of the training mail (a seeded sample:
    mail read and labelled by hand); the rest of the training mail and the attack e-mails are
    the candidates.
    """
    trusted_index, candidate_index = _trusted_split(plan, len(train_texts))
    trusted = [train_texts[i] for i in trusted_index]
    trusted_labels = train_labels[trusted_index]
    candidates = [train_texts[i] for i in candidate_index] + poison
    candidate_labels = np.concatenate(
        [train_labels[candidate_index], np.full(len(poison), _SPAM, dtype=np.int64)]
    )
    is_attack = np.zeros(len(candidates), dtype=bool)
    is_attack[len(candidate_index) :] = True
    result: RoniResult = _roni_for(plan, name).screen(
        candidates, candidate_labels, trusted, trusted_labels, seed=plan.seed
    )
    screening = roni_screening(result, is_attack, candidate_labels)
    kept = ~result.rejected
    texts = trusted + [c for c, keep in zip(candidates, kept.tolist(), strict=True) if keep]
    labels = np.concatenate([trusted_labels, candidate_labels[kept]])
    model = _fit(name)(texts, labels)
    rates = spam_filter_rates(model, list(test.texts), test.labels, ham_cutoff=_ham_cutoff(name))
    return screening, rates


def _good_word_augmented(
    plan: SpamPlan, train: TextDataset, corpus: dict[str, list[str]]
) -> TextClassifier:
    """Naive Bayes retrained with a good-word copy of every training spam (labelled spam).

    Each copy gets between ``max_words // 2`` and ``max_words`` words drawn from the 200 most
    ham-indicative words of the training mail (the defender's own list, which is also the
    active attacker's pool), inserted at ``plan.position`` — the attack's distribution, without
    querying anything.
    """
    pool = ham_indicative_words(corpus["ham_texts"], corpus["spam_texts"], 200)
    rng = random.Random(plan.seed)
    copies = []
    for text in corpus["spam_texts"]:
        k = rng.randint(max(1, plan.max_words // 2), plan.max_words)
        words = " ".join(rng.choice(pool) for _ in range(k))
        head, newline, body = text.partition("\n")
        copies.append(f"{head}{newline}{words} {body}" if newline else f"{text} {words}")
    texts = [*train.texts, *copies]
    labels = np.concatenate([train.labels, np.full(len(copies), _SPAM, dtype=np.int64)])
    return fit_naive_bayes(texts, labels, SPAM_CLASSES)


def _defenses(
    plan: SpamPlan,
    models: dict[str, TextClassifier],
    train: TextDataset,
    test: TextDataset,
    recipes: _Recipes,
    test_spam: list[str],
    done: dict[tuple[str, str], AttackRun],
    *,
    progress: bool,
) -> list[SpamDefenseOutcome]:
    """The sanitizer and good-word adversarial training, each attacked adaptively."""
    out: list[SpamDefenseOutcome] = []
    nb = models.get("spam-nb")
    if nb is None:
        return out
    if plan.sanitizer_recipe is not None:
        texts = _sample(test_spam, plan.sanitizer_n, plan.seed + 3)
        recipe = plan.sanitizer_recipe
        bare = recipes.run(recipe, nb, texts, progress=progress)
        sanitized = recipes.run(recipe, SanitizedClassifier(nb), texts, progress=progress)
        out.append(SpamDefenseOutcome("sanitizer", recipe, bare, sanitized))
    if plan.adversarial_training:
        texts = _sample(test_spam, plan.n, plan.seed)
        augmented = _good_word_augmented(plan, train, recipes.corpus)
        bare = done.get(("spam-nb", "good-words")) or recipes.run(
            "good-words", nb, texts, progress=progress
        )
        defended = recipes.run("good-words", augmented, texts, progress=progress)
        cost = spam_filter_rates(augmented, list(test.texts), test.labels)
        out.append(SpamDefenseOutcome("adversarial-training", "good-words", bare, defended, cost))
    return out


def run_spam(plan: SpamPlan, *, progress: bool = False) -> SpamResult:
    """Run the spam section: victims, evasion, the trigger, poisoning and defenses.

    Args:
        plan: what to run.
        progress: show progress bars.

    Returns:
        The :class:`SpamResult`.

    Raises:
        ValueError: the spam corpus is not in the data cache (the message says how to get it),
            or a filter cannot be loaded.
    """
    seconds: dict[str, float] = {}
    began = time.perf_counter()
    train, test = load_spam_splits()
    corpus = {"ham_texts": _split(train, _HAM), "spam_texts": _split(train, _SPAM)}
    test_spam = _split(test, _SPAM)
    seconds["data"] = time.perf_counter() - began

    began = time.perf_counter()
    encoder = MiniLMEncoder() if plan.needs_minilm else None
    needed = dict.fromkeys([*plan.victims, *(victim for victim, _ in plan.attacks)])
    if plan.trigger_victim is not None:
        needed[plan.trigger_victim] = None
    if plan.adversarial_training or plan.sanitizer_recipe is not None:
        needed["spam-nb"] = None
    models = {name: names.text_model(name, encoder=encoder, progress=progress) for name in needed}
    victims = {name: _victim(name, models[name], test) for name in plan.victims}
    seconds["victims"] = time.perf_counter() - began

    began = time.perf_counter()
    recipes = _Recipes(plan, corpus)
    attacks: list[SpamAttackOutcome] = []
    for victim, recipe in plan.attacks:
        n = plan.n_minilm if victim == "spam-minilm" else plan.n
        texts = _sample(test_spam, n, plan.seed)
        run = recipes.run(recipe, models[victim], texts, progress=progress)
        ceiling = None
        if recipe in ("good-words", "good-words-passive"):
            ceiling = _insertion_ceiling(models[victim], texts, plan.max_words)
        attacks.append(SpamAttackOutcome(victim, recipe, run, ceiling))
    seconds["evasion"] = time.perf_counter() - began

    trigger = None
    if plan.trigger_victim is not None:
        began = time.perf_counter()
        shown = {name: models[name] for name in plan.victims}
        shown.setdefault(plan.trigger_victim, models[plan.trigger_victim])
        trigger = _trigger(plan, shown, corpus["spam_texts"], test_spam, progress=progress)
        seconds["trigger"] = time.perf_counter() - began

    poisoning = None
    if plan.poison_filters:
        began = time.perf_counter()
        trained = {
            filter_name: models[victim]
            for filter_name, victim in (
                ("naive-bayes", "spam-nb"),
                ("logistic-regression", "spam-tfidf"),
            )
            if victim in models
        }
        poisoning = _poisoning(plan, train, test, corpus, trained)
        seconds["poisoning"] = time.perf_counter() - began

    began = time.perf_counter()
    done = {(o.victim, o.recipe): o.run for o in attacks}
    defenses = _defenses(plan, models, train, test, recipes, test_spam, done, progress=progress)
    seconds["defenses"] = time.perf_counter() - began
    data = {
        "n_train": len(train),
        "n_test": len(test),
        "n_train_spam": len(corpus["spam_texts"]),
        "n_test_spam": len(test_spam),
    }
    return SpamResult(plan, data, victims, attacks, trigger, poisoning, defenses, seconds)
