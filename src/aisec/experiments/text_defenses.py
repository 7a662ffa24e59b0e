"""Text defenses measured adaptively: victims against recipes, then one victim behind each defense.

:func:`run_defenses` runs a :class:`TextDefensesPlan`: every victim against every recipe, then the
defended victims (sanitizer inside the model, embedding-noise and adversarial training, each
attacked through the defense) against the same recipes, on the same tweets. Single attack
campaigns are :func:`aisec.experiments.text.run`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from aisec.attacks.text.attack import AttackRun, AttackSummary
from aisec.attacks.text.recipes import build_recipe
from aisec.data.tweets import load_tweets
from aisec.defenses.text.sanitizer import SanitizedClassifier, Sanitizer
from aisec.evaluate.text import attack_rates, sanitizer_effect
from aisec.experiments import names
from aisec.experiments.base import check_int
from aisec.experiments.text import (
    TextAttackOutcome,
    _check_names,
    _check_tweet_model,
    _check_tweet_recipe,
)
from aisec.models.text import TEXT_MODELS, MiniLMEncoder, TextClassifier
from aisec.zoo.text_variants import adversarially_trained_model, noise_trained_model

__all__ = ["DEFENSES", "DefenseOutcome", "TextDefensesPlan", "TextDefensesResult", "run_defenses"]

DEFENSES: dict[str, str] = {
    "none": "none",
    "sanitizer": "sanitizer (adaptive)",
    "noise": "embedding noise",
    "sanitizer+spelling": "sanitizer + spelling (adaptive)",
    "adversarial-training": "adversarial training",
}
"""Text defenses by name, with the label their table rows and numbers carry."""

_TRAINED_DEFENSES = ("noise", "adversarial-training")


def _check_defense(name: object) -> None:
    if name not in DEFENSES:
        raise ValueError(f"unknown text defense {name!r}; known defenses: {', '.join(DEFENSES)}")


@dataclass(frozen=True)
class TextDefensesPlan:
    """Victims against recipes, then one victim behind each defense against the same recipes.

    Attributes:
        victims: the victims attacked by every recipe.
        recipes: the recipes (see :data:`RECIPE_NAMES`), in table order.
        n: test tweets (a class-balanced sample) for every victim but ``tweets-minilm``, and for
            the defense table.
        n_minilm: test tweets for ``tweets-minilm``, whose queries cost about 50 times those
            of the bag-of-embeddings model.
        seed: seed of the samples and of the subset attacked for adversarial training.
        encoder: load MiniLM and give it to every recipe (sentence similarity is then
            reported); ``textfooler`` and ``tweets-minilm`` need it.
        defended: the offline victim the defenses protect.
        defenses: names from :data:`DEFENSES`, in table order (empty: no defense table).
        noise_std: the embedding-noise σ (``None``: the zoo's default for ``defended``).
        adversarial_recipes: the recipes that generate adversarial training examples.
        adversarial_n: training tweets attacked per such recipe.

    Raises:
        ValueError, TypeError: for an unknown name, a missing encoder, or bad sizes — checked
            when the plan is made, before anything loads.
    """

    victims: tuple[str, ...] = ("tweets-bow", "tweets-minilm")
    recipes: tuple[str, ...] = ("textfooler", "pwws", "deepwordbug", "bad_characters")
    n: int = 20
    n_minilm: int = 12
    seed: int = 0
    encoder: bool = True
    defended: str = "tweets-bow"
    defenses: tuple[str, ...] = tuple(DEFENSES)
    noise_std: float | None = None
    adversarial_recipes: tuple[str, ...] = ("deepwordbug", "bad_characters")
    adversarial_n: int = 150

    def __post_init__(self) -> None:
        _check_names("victims", self.victims, _check_tweet_model)
        _check_names("recipes", self.recipes, _check_tweet_recipe)
        _check_names("defenses", self.defenses, _check_defense, allow_empty=True)
        _check_names("adversarial_recipes", self.adversarial_recipes, _check_tweet_recipe)
        check_int("n", self.n, 1)
        check_int("n_minilm", self.n_minilm, 1)
        check_int("seed", self.seed, 0)
        check_int("adversarial_n", self.adversarial_n, 1)
        if self.defenses:
            _check_tweet_model(self.defended, "defended")
        if any(d in _TRAINED_DEFENSES for d in self.defenses) and self.defended not in TEXT_MODELS:
            raise ValueError(
                f"noise and adversarial training retrain an offline victim "
                f"({', '.join(sorted(TEXT_MODELS))}), got defended={self.defended!r}"
            )
        if self.noise_std is not None and (
            not isinstance(self.noise_std, (int, float)) or not self.noise_std > 0
        ):
            raise ValueError(f"noise_std must be > 0 or None, got {self.noise_std!r}")
        needs = [r for r in self.recipes if r == "textfooler"]
        needs += [v for v in (*self.victims, self.defended) if v == "tweets-minilm"]
        if needs and not self.encoder:
            raise ValueError(
                f"{needs[0]} needs the MiniLM encoder: set encoder=True (or drop {needs[0]})"
            )


@dataclass(frozen=True)
class DefenseOutcome:
    """One defended victim against every recipe (attacked adaptively).

    Attributes:
        defense: its name in :data:`DEFENSES`.
        label: its label in tables and numbers.
        runs: recipe -> the attack run against the defended victim.
    """

    defense: str
    label: str
    runs: dict[str, AttackRun] = field(repr=False)

    def summaries(self) -> dict[str, AttackSummary]:
        """Recipe -> the run's summary."""
        out: dict[str, AttackSummary] = {}
        for recipe, attack_run in self.runs.items():
            if attack_run.summary is None:
                raise ValueError(f"the {recipe} run has no summary")
            out[recipe] = attack_run.summary
        return out

    def row(self) -> dict[str, Any]:
        """``defense``, ``clean accuracy`` and the accuracy under each recipe (as rates)."""
        row: dict[str, Any] = {"defense": self.label}
        for recipe, summary in self.summaries().items():
            rates = attack_rates(summary)
            row["clean accuracy"] = rates.clean_accuracy
            row[recipe] = rates.accuracy_under_attack
        return row


@dataclass(frozen=True)
class TextDefensesResult:
    """What :func:`run_defenses` measured.

    Attributes:
        plan: the plan.
        attacks: every victim against every recipe (victim-major order).
        victim_test_accuracy: victim -> its test-split accuracy (``None`` when unknown).
        defenses: each defended victim against every recipe, in the plan's order.
        defense_test_accuracy: trained defense (``noise``, ``adversarial-training``) -> the
            retrained victim's test-split accuracy.
        adversarial_examples_added: recipe -> adversarial examples added to the training set
            by adversarial training (empty without it).
    """

    plan: TextDefensesPlan
    attacks: tuple[TextAttackOutcome, ...]
    victim_test_accuracy: dict[str, float | None]
    defenses: tuple[DefenseOutcome, ...]
    defense_test_accuracy: dict[str, float | None]
    adversarial_examples_added: dict[str, int]

    def rows(self) -> list[dict[str, Any]]:
        """The attack table: one row per victim and recipe (:meth:`TextAttackOutcome.row`)."""
        return [outcome.row() for outcome in self.attacks]

    def defense_rows(self) -> list[dict[str, Any]]:
        """The defense table: one row per defense (:meth:`DefenseOutcome.row`)."""
        return [defense.row() for defense in self.defenses]

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly: the plan, every run's summary and sanitizer effect, the defenses."""
        return {
            "plan": asdict(self.plan),
            "victim_test_accuracy": dict(self.victim_test_accuracy),
            "attacks": [outcome.to_dict() for outcome in self.attacks],
            "defenses": [
                {
                    "defense": d.defense,
                    "label": d.label,
                    "summaries": {r: s.to_dict() for r, s in d.summaries().items()},
                }
                for d in self.defenses
            ],
            "defense_test_accuracy": dict(self.defense_test_accuracy),
            "adversarial_examples_added": dict(self.adversarial_examples_added),
        }


def run_defenses(plan: TextDefensesPlan, *, progress: bool = False) -> TextDefensesResult:
    """Attack every victim with every recipe, then every defense of ``plan.defended``.

    Args:
        plan: the plan.
        progress: show progress bars.

    Returns:
        The :class:`TextDefensesResult`.
    """
    data = load_tweets("test", n=plan.n, seed=plan.seed)
    texts, labels = list(data.texts), data.labels.tolist()
    encoder = MiniLMEncoder() if plan.encoder else None
    victims = {
        name: names.text_model(name, encoder=encoder, progress=progress) for name in plan.victims
    }
    attacks: list[TextAttackOutcome] = []
    victim_accuracy: dict[str, float | None] = {}
    for name, victim in victims.items():
        victim_accuracy[name] = getattr(victim, "test_accuracy", None)
        sample = (
            load_tweets("test", n=plan.n_minilm, seed=plan.seed)
            if name == "tweets-minilm"
            else data
        )
        for recipe in plan.recipes:
            attack_run = build_recipe(recipe, encoder=encoder).run(
                victim, list(sample.texts), sample.labels.tolist(), progress=progress
            )
            attacks.append(
                TextAttackOutcome(
                    model=name,
                    recipe=recipe,
                    search="default",
                    seed=plan.seed,
                    run=attack_run,
                    sanitizer=sanitizer_effect(victim, attack_run),
                    class_names=tuple(victim.class_names),
                    test_accuracy=victim_accuracy[name],
                )
            )

    defended: dict[str, TextClassifier] = {}
    trained_accuracy: dict[str, float | None] = {}
    added: dict[str, int] = {}
    if plan.defenses:
        base = victims.get(plan.defended)
        if base is None:
            base = names.text_model(plan.defended, encoder=encoder, progress=progress)
        minilm = encoder if plan.defended == "tweets-minilm" else None
        for defense in plan.defenses:
            if defense == "none":
                defended[defense] = base
            elif defense == "sanitizer":
                defended[defense] = SanitizedClassifier(base)
            elif defense == "sanitizer+spelling":
                defended[defense] = SanitizedClassifier(base, Sanitizer(spelling=True))
            elif defense == "noise":
                noisy = noise_trained_model(plan.defended, plan.noise_std, encoder=minilm)
                defended[defense] = noisy
                trained_accuracy[defense] = getattr(noisy, "test_accuracy", None)
            else:
                hardened, record = adversarially_trained_model(
                    plan.defended,
                    plan.adversarial_recipes,
                    n_attack=plan.adversarial_n,
                    seed=plan.seed,
                    encoder=minilm,
                    progress=progress,
                )
                defended[defense] = hardened
                trained_accuracy[defense] = record["test_accuracy"]
                added = dict(record["added"])
    outcomes = []
    for defense, model in defended.items():
        runs = {
            recipe: build_recipe(recipe, encoder=encoder).run(
                model, texts, labels, progress=progress
            )
            for recipe in plan.recipes
        }
        outcomes.append(DefenseOutcome(defense, DEFENSES[defense], runs))
    return TextDefensesResult(
        plan=plan,
        attacks=tuple(attacks),
        victim_test_accuracy=victim_accuracy,
        defenses=tuple(outcomes),
        defense_test_accuracy=trained_accuracy,
        adversarial_examples_added=added,
    )
