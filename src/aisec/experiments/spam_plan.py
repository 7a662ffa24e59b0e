"""What the spam experiment runs: :class:`SpamPlan`, checked when it is made, before any load."""

from __future__ import annotations

from dataclasses import dataclass

from aisec.attacks.text.insertion import check_position
from aisec.attacks.text.recipes import RECIPES
from aisec.experiments.base import check_int

__all__ = ["POISON_FILTERS", "SPAM_VICTIMS", "SpamPlan"]

SPAM_VICTIMS: tuple[str, ...] = ("spam-nb", "spam-tfidf", "spam-minilm")
"""The offline spam filters."""

POISON_FILTERS: dict[str, str] = {
    "naive-bayes": "multinomial naive Bayes (spam-nb's recipe)",
    "logistic-regression": "TF-IDF logistic regression (spam-tfidf's recipe)",
    "spambayes": "SpamBayes-style token scores (Graham 2002, Robinson 2003)",
}
"""The filters the poisoning attacks retrain, by name."""


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
