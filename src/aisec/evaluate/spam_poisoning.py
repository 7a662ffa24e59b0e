"""Measurements of spam-filter poisoning and of RONI: what the attack e-mails do, what RONI costs.

Pure measurements on objects (filters, mail, attack e-mails, a RONI result); nothing is loaded
by name. Every rate is a :class:`~aisec.stats.Rate` (count of n, with a 95% interval).

- :func:`spam_filter_rates`: a filter's errors on labelled mail: ham misclassified (the
  filter's ``argmax`` says spam), spam missed, accuracy; with a ``ham_cutoff`` also the ham not
  delivered as ham (SpamBayes: spam *or unsure*, Nelson et al.'s measure);
- :func:`poisoning_effect`: the same filter trained on clean mail and on clean mail plus attack
  e-mails (labelled spam), measured on the same test mail;
- :func:`focused_attack_effect`: for each target ham message, the filter retrained with that
  target's attack e-mails: how many targets are blocked;
- :func:`roni_screening`: how many attack e-mails RONI rejected, and how many genuine ham and
  spam it rejected with them (the false rejections), with the screening's fits and seconds.

References: Nelson et al., "Exploiting Machine Learning to Subvert Your Spam Filter", LEET 2008;
Nelson et al., "Misleading Learners: Co-opting Your Spam Filter", 2009.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from aisec.defenses.detect.roni import RoniResult
from aisec.models.text import TextClassifier, check_texts
from aisec.stats import Rate

__all__ = [
    "FocusedAttackEffect",
    "PoisoningEffect",
    "RoniScreening",
    "SpamFilterRates",
    "focused_attack_effect",
    "poisoning_effect",
    "roni_screening",
    "spam_filter_rates",
]

Fit = Callable[[Sequence[str], Sequence[int]], TextClassifier]


@dataclass(frozen=True)
class SpamFilterRates:
    """A spam filter's errors on labelled mail.

    Attributes:
        ham_misclassified: ham the filter classifies as spam (``argmax``), of the ham.
        spam_missed: spam the filter classifies as ham, of the spam.
        accuracy: messages classified correctly, of all.
        ham_not_ham: ham whose spam probability is at least ``ham_cutoff`` (SpamBayes: spam
            or unsure), of the ham; ``None`` without a cutoff.
        ham_cutoff: the cutoff used for ``ham_not_ham``.
    """

    ham_misclassified: Rate
    spam_missed: Rate
    accuracy: Rate
    ham_not_ham: Rate | None = None
    ham_cutoff: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """Each rate as ``{"rate", "count", "n", "ci95"}``; ``None`` where not measured."""
        return {
            "ham_misclassified": self.ham_misclassified.to_dict(),
            "spam_missed": self.spam_missed.to_dict(),
            "accuracy": self.accuracy.to_dict(),
            "ham_not_ham": None if self.ham_not_ham is None else self.ham_not_ham.to_dict(),
            "ham_cutoff": self.ham_cutoff,
        }

    def row(self) -> dict[str, Any]:
        """One table row: the rates as numbers and the sample sizes."""
        return {
            "ham_misclassified": self.ham_misclassified.value,
            "ham_not_ham": None if self.ham_not_ham is None else self.ham_not_ham.value,
            "spam_missed": self.spam_missed.value,
            "accuracy": self.accuracy.value,
            "n_ham": self.ham_misclassified.total,
            "n_spam": self.spam_missed.total,
        }


def spam_filter_rates(
    model: TextClassifier,
    texts: Sequence[str],
    labels: Sequence[int] | np.ndarray,
    *,
    spam_index: int = 1,
    ham_cutoff: float | None = None,
    batch_size: int = 256,
) -> SpamFilterRates:
    """Measure a filter's ham misclassification, spam misses and accuracy.

    Args:
        model: a two-class text classifier.
        texts: test messages.
        labels: their labels, ``spam_index`` for spam and the other class index for ham.
        spam_index: the spam class (0 or 1).
        ham_cutoff: if given, also count the ham whose spam probability is ``>= ham_cutoff``
            (0.2 for SpamBayes: spam or unsure).
        batch_size: texts per ``predict_proba`` call.

    Returns:
        A :class:`SpamFilterRates`.

    Raises:
        TypeError: texts that are not a list of strings.
        ValueError: a model without two classes, bad labels, ``spam_index`` or ``ham_cutoff``.
    """
    batch = check_texts(texts)
    y = _labels(labels, len(batch))
    if spam_index not in (0, 1) or isinstance(spam_index, bool):
        raise ValueError(f"spam_index must be 0 or 1, got {spam_index!r}")
    if ham_cutoff is not None and (
        isinstance(ham_cutoff, bool)
        or not isinstance(ham_cutoff, (int, float))
        or not 0 <= ham_cutoff <= 1
    ):
        raise ValueError(f"ham_cutoff must be None or a number in [0, 1], got {ham_cutoff!r}")
    spam_probability, predicted_spam = _classify(model, batch, spam_index, batch_size)
    is_spam = y == spam_index
    ham = ~is_spam
    return SpamFilterRates(
        ham_misclassified=Rate(int(predicted_spam[ham].sum()), int(ham.sum())),
        spam_missed=Rate(int((~predicted_spam[is_spam]).sum()), int(is_spam.sum())),
        accuracy=Rate(int((predicted_spam == is_spam).sum()), len(batch)),
        ham_not_ham=None
        if ham_cutoff is None
        else Rate(int((spam_probability[ham] >= ham_cutoff).sum()), int(ham.sum())),
        ham_cutoff=None if ham_cutoff is None else float(ham_cutoff),
    )


@dataclass(frozen=True)
class PoisoningEffect:
    """A filter trained on clean mail and on clean mail plus attack e-mails.

    Attributes:
        clean: the clean filter's rates on the test mail.
        poisoned: the poisoned filter's rates on the same mail.
        n_train: clean training messages.
        n_poison: attack e-mails added to them.
        seconds: time to train both filters and measure them.
    """

    clean: SpamFilterRates
    poisoned: SpamFilterRates
    n_train: int
    n_poison: int
    seconds: float

    @property
    def poison_fraction(self) -> float:
        """The attack e-mails' share of the poisoned training mail."""
        total = self.n_train + self.n_poison
        return self.n_poison / total if total else 0.0

    def rows(self) -> list[dict[str, Any]]:
        """One row per filter (``"clean"``, ``"poisoned"``)."""
        return [
            {"filter": name, **rates.row()}
            for name, rates in (("clean", self.clean), ("poisoned", self.poisoned))
        ]

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable: both filters' rates, the sizes and the time."""
        return {
            "clean": self.clean.to_dict(),
            "poisoned": self.poisoned.to_dict(),
            "n_train": self.n_train,
            "n_poison": self.n_poison,
            "poison_fraction": self.poison_fraction,
            "seconds": self.seconds,
        }


def poisoning_effect(
    fit: Fit,
    train_texts: Sequence[str],
    train_labels: Sequence[int] | np.ndarray,
    poison_texts: Sequence[str],
    test_texts: Sequence[str],
    test_labels: Sequence[int] | np.ndarray,
    *,
    poison_label: int = 1,
    ham_cutoff: float | None = None,
    clean_model: TextClassifier | None = None,
) -> PoisoningEffect:
    """Train on clean mail and on clean mail plus attack e-mails; measure both on test mail.

    Args:
        fit: ``fit(texts, labels) -> TextClassifier`` (spam is class 1).
        train_texts: the clean training mail.
        train_labels: its labels.
        poison_texts: the attack e-mails (e.g.
            :func:`~aisec.attacks.poisoning.spam_dictionary.dictionary_attack`).
        test_texts: the test mail.
        test_labels: its labels.
        poison_label: the label the attack e-mails are trained with (spam, 1).
        ham_cutoff: see :func:`spam_filter_rates`.
        clean_model: the filter already trained on the clean mail (saves one fit).

    Returns:
        A :class:`PoisoningEffect`.
    """
    start = time.perf_counter()
    train = check_texts(train_texts, name="train_texts")
    poison = check_texts(poison_texts, name="poison_texts")
    y = _labels(train_labels, len(train))
    if poison_label not in (0, 1) or isinstance(poison_label, bool):
        raise ValueError(f"poison_label must be 0 or 1, got {poison_label!r}")
    clean = clean_model if clean_model is not None else fit(train, y.tolist())
    poisoned = fit([*train, *poison], [*y.tolist(), *([poison_label] * len(poison))])
    return PoisoningEffect(
        clean=spam_filter_rates(clean, test_texts, test_labels, ham_cutoff=ham_cutoff),
        poisoned=spam_filter_rates(poisoned, test_texts, test_labels, ham_cutoff=ham_cutoff),
        n_train=len(train),
        n_poison=len(poison),
        seconds=time.perf_counter() - start,
    )


@dataclass(frozen=True)
class FocusedAttackEffect:
    """The focused attack on each of a set of target ham messages.

    Attributes:
        clean_correct: targets the clean filter classifies as ham, of the targets.
        blocked: targets the filter retrained with their attack e-mails classifies as spam, of
            the targets the clean filter had right.
        not_ham: the same targets with a spam probability ``>= ham_cutoff`` after the attack
            (spam or unsure); ``None`` without a cutoff.
        clean_spam_probability: ``(T,)`` each target's spam probability under the clean filter.
        poisoned_spam_probability: ``(T,)`` the same after its attack.
        n_poison: attack e-mails per target (the largest, if they differ).
        seconds: time to retrain and measure.
    """

    clean_correct: Rate
    blocked: Rate
    not_ham: Rate | None
    clean_spam_probability: tuple[float, ...]
    poisoned_spam_probability: tuple[float, ...]
    n_poison: int
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable."""
        return {
            "clean_correct": self.clean_correct.to_dict(),
            "blocked": self.blocked.to_dict(),
            "not_ham": None if self.not_ham is None else self.not_ham.to_dict(),
            "clean_spam_probability": list(self.clean_spam_probability),
            "poisoned_spam_probability": list(self.poisoned_spam_probability),
            "n_poison": self.n_poison,
            "seconds": self.seconds,
        }


def focused_attack_effect(
    clean_model: TextClassifier,
    retrain: Callable[[Sequence[str]], TextClassifier],
    targets: Sequence[str],
    attack: Callable[[str], Sequence[str]],
    *,
    spam_index: int = 1,
    ham_cutoff: float | None = None,
) -> FocusedAttackEffect:
    """For each target ham message: build its attack e-mails, retrain, and classify the target.

    Args:
        clean_model: the filter trained on the clean mail.
        retrain: ``retrain(attack_emails)``: the filter trained on the clean mail plus these
            e-mails labelled spam (refit, or e.g. :meth:`SpamBayesClassifier.updated
            <aisec.models.spambayes.SpamBayesClassifier.updated>` of the clean filter).
        targets: the target ham messages.
        attack: ``attack(target) -> attack e-mails`` (e.g. a
            :func:`~aisec.attacks.poisoning.spam_dictionary.focused_attack` with fixed
            arguments).
        spam_index: the spam class.
        ham_cutoff: see :func:`spam_filter_rates`.

    Returns:
        A :class:`FocusedAttackEffect`; ``blocked`` counts only the targets that the clean filter
        classified as ham.
    """
    start = time.perf_counter()
    batch = check_texts(targets, name="targets")
    if spam_index not in (0, 1) or isinstance(spam_index, bool):
        raise ValueError(f"spam_index must be 0 or 1, got {spam_index!r}")
    clean_p, clean_spam = _classify(clean_model, batch, spam_index, 256)
    after = np.zeros(len(batch))
    after_spam = np.zeros(len(batch), dtype=bool)
    n_poison = 0
    for i, target in enumerate(batch):
        emails = check_texts(list(attack(target)), name="attack e-mails")
        n_poison = max(n_poison, len(emails))
        model = retrain(emails)
        probability, is_spam = _classify(model, [target], spam_index, 1)
        after[i], after_spam[i] = probability[0], is_spam[0]
    correct = ~clean_spam
    return FocusedAttackEffect(
        clean_correct=Rate(int(correct.sum()), len(batch)),
        blocked=Rate(int(after_spam[correct].sum()), int(correct.sum())),
        not_ham=None
        if ham_cutoff is None
        else Rate(int((after[correct] >= ham_cutoff).sum()), int(correct.sum())),
        clean_spam_probability=tuple(float(p) for p in clean_p),
        poisoned_spam_probability=tuple(float(p) for p in after),
        n_poison=n_poison,
        seconds=time.perf_counter() - start,
    )


@dataclass(frozen=True)
class RoniScreening:
    """What RONI rejected, split into attack e-mails and genuine ham and spam.

    Attributes:
        attack_rejected: attack e-mails rejected, of the attack e-mails.
        ham_rejected: genuine ham rejected (false rejections), of the genuine ham.
        spam_rejected: genuine spam rejected (false rejections), of the genuine spam.
        fits: models RONI compared (:attr:`~aisec.defenses.detect.roni.RoniResult.fits`).
        seconds: the screening's time.
        fast: whether RONI's count-based fast path was used.
    """

    attack_rejected: Rate
    ham_rejected: Rate
    spam_rejected: Rate
    fits: int
    seconds: float
    fast: bool

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable."""
        return {
            "attack_rejected": self.attack_rejected.to_dict(),
            "ham_rejected": self.ham_rejected.to_dict(),
            "spam_rejected": self.spam_rejected.to_dict(),
            "fits": self.fits,
            "seconds": self.seconds,
            "fast": self.fast,
        }


def roni_screening(
    result: RoniResult,
    is_attack: Sequence[bool] | np.ndarray,
    labels: Sequence[int] | np.ndarray,
    *,
    spam_index: int = 1,
) -> RoniScreening:
    """Split a RONI result's rejections into attack e-mails and genuine ham and spam.

    Args:
        result: :meth:`RONI.screen <aisec.defenses.detect.roni.RONI.screen>`'s result.
        is_attack: ``(N,)`` which candidates were attack e-mails.
        labels: ``(N,)`` the candidates' labels.
        spam_index: the spam class.

    Returns:
        A :class:`RoniScreening`.
    """
    attack = np.asarray(is_attack)
    n = result.n_candidates
    if attack.shape != (n,) or attack.dtype != np.bool_:
        raise ValueError(f"is_attack must be a ({n},) bool mask, got {attack.dtype} {attack.shape}")
    y = _labels(labels, n)
    rejected = result.rejected
    ham = ~attack & (y != spam_index)
    spam = ~attack & (y == spam_index)
    return RoniScreening(
        attack_rejected=Rate(int(rejected[attack].sum()), int(attack.sum())),
        ham_rejected=Rate(int(rejected[ham].sum()), int(ham.sum())),
        spam_rejected=Rate(int(rejected[spam].sum()), int(spam.sum())),
        fits=result.fits,
        seconds=result.seconds,
        fast=result.fast,
    )


def _classify(
    model: TextClassifier, texts: list[str], spam_index: int, batch_size: int
) -> tuple[np.ndarray, np.ndarray]:
    """Each text's spam probability (float64) and whether the ``argmax`` is spam."""
    if len(model.class_names) != 2:
        raise ValueError(f"a spam filter has two classes, got {model.class_names!r}")
    probabilities = model.predict_proba(texts, batch_size=batch_size)
    if not isinstance(probabilities, torch.Tensor) or probabilities.shape != (len(texts), 2):
        raise ValueError("the filter's predict_proba must return an (N, 2) tensor")
    spam = probabilities[:, spam_index].double().cpu().numpy()
    return spam, (probabilities.argmax(dim=1) == spam_index).cpu().numpy()


def _labels(labels: Sequence[int] | np.ndarray, size: int) -> np.ndarray:
    if isinstance(labels, str) or not isinstance(labels, (Sequence, np.ndarray, torch.Tensor)):
        raise TypeError(f"labels must be a sequence of 0/1 ints, got {type(labels).__name__}")
    y = np.asarray(labels)
    if y.shape != (size,):
        raise ValueError(f"labels must have one entry per text ({size}), got shape {y.shape}")
    if y.size and (y.dtype.kind not in "iu" or not np.isin(y, (0, 1)).all()):
        raise ValueError("labels must be 0 or 1")
    return y.astype(np.int64)
