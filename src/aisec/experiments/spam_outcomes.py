"""What the spam experiment measured: each filter's rates, and every attack's and defense's outcome.

The records :func:`aisec.experiments.spam.run_spam` returns (each with ``to_dict`` for the JSON
the tour and the report read); they hold counts as :class:`~aisec.stats.Rate` so that every rate
keeps its sample size.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from aisec.attacks.text.attack import AttackRun
from aisec.attacks.text.trigger import (
    TriggerOutcome,
    TriggerSearch,
)
from aisec.evaluate.spam_poisoning import (
    FocusedAttackEffect,
    PoisoningEffect,
    RoniScreening,
    SpamFilterRates,
)
from aisec.evaluate.text import attack_rates
from aisec.experiments.spam_plan import SpamPlan
from aisec.stats import Rate

__all__ = [
    "SpamAttackOutcome",
    "SpamDefenseOutcome",
    "SpamPoisoningOutcome",
    "SpamResult",
    "SpamTriggerOutcome",
    "SpamVictim",
]


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
            out[f"{name}.n_test_ham"] = victim.ham_false_positive.total
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
                    out[f"{key}.n_ham"] = rates.ham_misclassified.total
                    out[f"{key}.n_spam"] = rates.spam_missed.total
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
                    out[f"poisoning.focused.{name}.roni_screened"] = rejected.total
            for name, roni in poisoning.roni.items():
                out[f"roni.{name}.attack_rejected"] = roni.attack_rejected.value
                out[f"roni.{name}.attack_emails"] = roni.attack_rejected.total
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
            out[f"{key}.n_undefended"] = attack_rates(before).success_rate.total
            if defense.cost is not None:
                out[f"{key}.ham_misclassified"] = defense.cost.ham_misclassified.value
                out[f"{key}.spam_missed"] = defense.cost.spam_missed.value
                out[f"{key}.n_ham"] = defense.cost.ham_misclassified.total
                out[f"{key}.n_spam"] = defense.cost.spam_missed.total
        for stage, seconds in self.seconds.items():
            out[f"seconds.{stage}"] = seconds
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON of the plan and every measurement."""
        return {
            "plan": asdict(self.plan),
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
