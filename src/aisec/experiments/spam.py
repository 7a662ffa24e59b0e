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
from aisec.attacks.text.recipes import build_recipe
from aisec.attacks.text.trigger import (
    TriggerOutcome,
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
from aisec.experiments import names
from aisec.experiments.spam_outcomes import (
    SpamAttackOutcome,
    SpamDefenseOutcome,
    SpamPoisoningOutcome,
    SpamResult,
    SpamTriggerOutcome,
    SpamVictim,
)
from aisec.experiments.spam_plan import POISON_FILTERS, SPAM_VICTIMS, SpamPlan
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

_SPAM = SPAM_CLASSES.index("spam")
_HAM = SPAM_CLASSES.index("ham")


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
