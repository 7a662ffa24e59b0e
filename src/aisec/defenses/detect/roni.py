"""RONI, Reject On Negative Impact: leave out the training messages that make the filter worse.

Before a batch of new mail (the *candidates*) is trained on, RONI measures each candidate's
effect on the learner with a small experiment on mail the defender trusts. For each of
``repeats`` seeded draws of a small training set ``T`` (``train_size`` messages) and a
validation set ``V`` (``validation_size``; both stratified by class, disjoint) from the trusted
mail, it trains once on ``T`` and once on ``T`` plus the candidate, and compares a metric on
``V``. The candidate's *impact* is the mean change over the draws (negative: the candidate made
the filter worse); a candidate whose impact is below ``-threshold`` is rejected.

* metric ``"accuracy"`` (default): the share of ``V`` classified correctly; it catches attacks
  that make ham spam (SpamBayes) and attacks that make spam ham (a diluted naive Bayes);
* metric ``"ham"``: the share of ``V``'s ham classified ham (true negatives), the quantity
  Nelson et al. tracked against the dictionary attack.

The draws are shared by all candidates, so impacts are comparable between candidates.

Cost. The generic path calls ``fit`` ``repeats · (1 + N)`` times for ``N`` candidates (one
baseline per draw, one model per candidate and draw) and classifies ``V`` with each model. For
count-based learners (:class:`NaiveBayesLearner`, :class:`SpamBayesLearner`) adding one message
to ``T`` adds its counts, so the fast path computes all ``N`` models' predictions on ``V`` at
once from the counts of ``T`` and of each candidate, without training anything; it gives the
verdicts of the generic path (``tests/defenses/test_roni.py`` checks it). Either way, RONI also
rejects some genuine mail (a long newsletter-like ham or spam can move a 20-message model as
much as an attack); :class:`RoniResult` records the impacts so that the false rejections can
be counted (:func:`aisec.evaluate.spam_poisoning.roni_screening`).

Choosing ``train_size`` and ``threshold``. The defaults are Nelson et al.'s sizes (20, 50, 5
draws). A 20-message model is fragile: a long genuine spam (many words, like a newsletter) can
turn much of ``V``'s ham into spam just as an attack e-mail does, and RONI rejects it; the filter
trained without those spam then misses more spam. A larger ``T`` (50 or 100) keeps the attack
e-mails' impact (they still poison a model of that size) while genuine messages barely move it,
so fewer genuine messages are rejected. RONI does not see attacks whose e-mails only hurt mail
outside ``V`` (the focused attack: its e-mails target one message).

Reference:
    B. Nelson, M. Barreno, F. J. Chi, A. D. Joseph, B. I. P. Rubinstein, U. Saini, C. Sutton,
    J. D. Tygar, K. Xia, "Misleading Learners: Co-opting Your Spam Filter", in Machine Learning
    in Cyber Trust, Springer, 2009; M. Barreno, B. Nelson, A. D. Joseph, J. D. Tygar, "The
    security of machine learning", Machine Learning 81(2), 2010.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch

from aisec.defenses.detect.count_learners import (
    CountLearner,
    NaiveBayesLearner,
    SpamBayesLearner,
    count_matrix,
)
from aisec.models.text import TextClassifier, check_texts

__all__ = [
    "RONI",
    "CountLearner",
    "NaiveBayesLearner",
    "RoniMetric",
    "RoniResult",
    "SpamBayesLearner",
    "count_matrix",
]

RoniMetric = Literal["accuracy", "ham"]
Fit = Callable[[Sequence[str], Sequence[int]], TextClassifier]


@dataclass(frozen=True)
class RoniResult:
    """What RONI decided for each candidate, and what it cost.

    Attributes:
        rejected: ``(N,)`` bool, the candidates RONI leaves out of training.
        impact: ``(N,)`` float64, the mean change of the metric on ``V`` when the candidate is
            added to ``T`` (negative: harm), over the draws.
        threshold: a candidate is rejected when its impact is below ``-threshold``.
        metric: ``"accuracy"`` or ``"ham"``.
        repeats: the number of ``(T, V)`` draws.
        train_size: ``|T|``.
        validation_size: ``|V|``.
        fits: the models whose predictions were compared, ``repeats · (1 + N)`` (trained by
            ``fit`` on the generic path, computed from counts on the fast path).
        seconds: wall-clock time of the screening.
        fast: whether the count-based fast path was used.
    """

    rejected: np.ndarray
    impact: np.ndarray
    threshold: float
    metric: str
    repeats: int
    train_size: int
    validation_size: int
    fits: int
    seconds: float
    fast: bool

    @property
    def n_candidates(self) -> int:
        """``N``, the number of candidates screened."""
        return int(self.rejected.shape[0])

    @property
    def n_rejected(self) -> int:
        """How many candidates were rejected."""
        return int(self.rejected.sum())

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable summary (the per-candidate arrays as lists)."""
        return {
            "n_candidates": self.n_candidates,
            "n_rejected": self.n_rejected,
            "rejected": [bool(r) for r in self.rejected],
            "impact": [float(i) for i in self.impact],
            "threshold": self.threshold,
            "metric": self.metric,
            "repeats": self.repeats,
            "train_size": self.train_size,
            "validation_size": self.validation_size,
            "fits": self.fits,
            "seconds": self.seconds,
            "fast": self.fast,
        }


class RONI:
    """Reject On Negative Impact (Nelson et al., 2009): screen candidate training messages.

    Args:
        learner: ``fit(texts, labels) -> TextClassifier``; a :class:`CountLearner`
            (:class:`NaiveBayesLearner`, :class:`SpamBayesLearner`) enables the fast path.
        train_size: ``|T|``, messages per small training set (Nelson et al.: 20); >= 2.
        validation_size: ``|V|``, messages per validation set (Nelson et al.: 50); >= 1.
        repeats: draws of ``(T, V)`` (Nelson et al.: 5); >= 1.
        threshold: reject a candidate whose mean impact is below ``-threshold`` (a share of
            ``V``: 0.05 is 2.5 of 50 messages); >= 0.
        metric: ``"accuracy"`` or ``"ham"`` (see the module docstring).

    Raises:
        TypeError: a learner that is not callable.
        ValueError: sizes, repeats, threshold or metric out of range.

    Reference:
        Nelson et al., "Misleading Learners: Co-opting Your Spam Filter" (2009); Barreno, Nelson,
        Joseph, Tygar, "The security of machine learning", Machine Learning 81 (2010).
    """

    def __init__(
        self,
        learner: Fit | CountLearner,
        *,
        train_size: int = 20,
        validation_size: int = 50,
        repeats: int = 5,
        threshold: float = 0.05,
        metric: RoniMetric = "accuracy",
    ) -> None:
        if not callable(learner):
            raise TypeError(
                f"learner must be callable (texts, labels) -> TextClassifier, got {learner!r}"
            )
        for name, value, low in (
            ("train_size", train_size, 2),
            ("validation_size", validation_size, 1),
            ("repeats", repeats, 1),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f"{name} must be an int >= {low}, got {value!r}")
        if (
            isinstance(threshold, bool)
            or not isinstance(threshold, (int, float))
            or not 0 <= threshold < float("inf")
        ):
            raise ValueError(f"threshold must be a finite number >= 0, got {threshold!r}")
        if metric not in ("accuracy", "ham"):
            raise ValueError(f"metric must be 'accuracy' or 'ham', got {metric!r}")
        self.learner = learner
        self.train_size = train_size
        self.validation_size = validation_size
        self.repeats = repeats
        self.threshold = float(threshold)
        self.metric: RoniMetric = metric

    @property
    def has_fast_path(self) -> bool:
        """Whether the learner is a :class:`CountLearner` (vectorized screening)."""
        return isinstance(self.learner, CountLearner)

    def screen(
        self,
        candidate_texts: Sequence[str],
        candidate_labels: Sequence[int] | np.ndarray,
        trusted_texts: Sequence[str],
        trusted_labels: Sequence[int] | np.ndarray,
        *,
        seed: int = 0,
        fast: bool | None = None,
    ) -> RoniResult:
        """Measure each candidate's impact on held-out trusted mail and reject the harmful ones.

        Args:
            candidate_texts: the messages to screen (the new training mail).
            candidate_labels: their labels as they would be trained on (0 = ham, 1 = spam).
            trusted_texts: mail the defender trusts, from which ``T`` and ``V`` are drawn; at
                least ``train_size + validation_size`` messages, at least 2 of each class.
            trusted_labels: its labels (0/1).
            seed: the draws of ``(T, V)``; draw ``r`` uses ``default_rng([seed, r])``.
            fast: ``None``: the fast path when the learner has one; ``True``: require it;
                ``False``: the generic path (``fit`` per candidate and draw).

        Returns:
            A :class:`RoniResult`.

        Raises:
            TypeError: texts that are not lists of strings, a non-int seed.
            ValueError: labels that are not 0/1 or do not match the texts, too little trusted
                mail or only one class of it, ``fast=True`` without a :class:`CountLearner`.
        """
        start = time.perf_counter()
        cands = check_texts(candidate_texts, name="candidate_texts")
        trusted = check_texts(trusted_texts, name="trusted_texts")
        cand_y = _labels(candidate_labels, len(cands), "candidate_labels")
        trusted_y = _labels(trusted_labels, len(trusted), "trusted_labels")
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise TypeError(f"seed must be an int, got {type(seed).__name__}")
        if fast is None:
            fast = self.has_fast_path
        elif fast and not self.has_fast_path:
            raise ValueError(
                "fast=True needs a CountLearner (NaiveBayesLearner or SpamBayesLearner), got "
                f"{type(self.learner).__name__}"
            )
        need = self.train_size + self.validation_size
        if len(trusted) < need:
            raise ValueError(
                f"trusted mail must hold at least train_size + validation_size = {need} "
                f"messages, got {len(trusted)}"
            )
        if min((trusted_y == 0).sum(), (trusted_y == 1).sum()) < 2:
            raise ValueError(
                "trusted mail must hold both ham (0) and spam (1), at least 2 of each (T and V "
                "each get at least one of each class)"
            )
        draws = [self._draw(trusted_y, seed, r) for r in range(self.repeats)]
        changes = np.zeros((self.repeats, len(cands)))
        learner = self.learner if isinstance(self.learner, CountLearner) else None
        if fast and learner is not None:
            matrix, _ = count_matrix(cands + trusted)
            cand_x, trusted_x = matrix[: len(cands)], matrix[len(cands) :]
            for r, (train, val) in enumerate(draws):
                predictions = learner.predictions_with_each(
                    trusted_x[train], trusted_y[train], cand_x, cand_y, trusted_x[val]
                )
                changes[r] = self._changes(predictions, trusted_y[val])
        else:
            for r, (train, val) in enumerate(draws):
                t_texts = [trusted[i] for i in train]
                t_labels = trusted_y[train].tolist()
                v_texts = [trusted[i] for i in val]
                rows = [_predict(self.learner(t_texts, t_labels), v_texts)]
                for text, label in zip(cands, cand_y.tolist(), strict=True):
                    model = self.learner([*t_texts, text], [*t_labels, label])
                    rows.append(_predict(model, v_texts))
                changes[r] = self._changes(np.stack(rows), trusted_y[val])
        impact = changes.mean(axis=0) if len(cands) else np.zeros(0)
        return RoniResult(
            rejected=impact < -self.threshold,
            impact=impact,
            threshold=self.threshold,
            metric=self.metric,
            repeats=self.repeats,
            train_size=self.train_size,
            validation_size=self.validation_size,
            fits=self.repeats * (1 + len(cands)),
            seconds=time.perf_counter() - start,
            fast=bool(fast),
        )

    def _draw(self, labels: np.ndarray, seed: int, repeat: int) -> tuple[np.ndarray, np.ndarray]:
        """Disjoint, class-stratified index sets ``T`` and ``V`` of the trusted mail."""
        rng = np.random.default_rng([seed, repeat])
        spam = rng.permutation(np.flatnonzero(labels == 1))
        ham = rng.permutation(np.flatnonzero(labels == 0))
        share = spam.size / labels.size

        def split(size: int, spam_left: int, ham_left: int) -> tuple[int, int]:
            n_spam = min(max(round(size * share), 1), size - 1, spam_left)
            n_spam = max(n_spam, size - ham_left)
            return n_spam, size - n_spam

        t_spam, t_ham = split(self.train_size, spam.size - 1, ham.size - 1)
        v_spam, v_ham = split(self.validation_size, spam.size - t_spam, ham.size - t_ham)
        train = np.concatenate([ham[:t_ham], spam[:t_spam]])
        val = np.concatenate([ham[t_ham : t_ham + v_ham], spam[t_spam : t_spam + v_spam]])
        return np.sort(train), np.sort(val)

    def _changes(self, predictions: np.ndarray, truth: np.ndarray) -> np.ndarray:
        """The metric of rows ``1..`` minus that of row 0 (the model trained on ``T`` alone)."""
        if self.metric == "accuracy":
            scores = (predictions == truth[None, :]).mean(axis=1)
        else:
            ham = truth == 0
            scores = (
                (predictions[:, ham] == 0).mean(axis=1)
                if ham.any()
                else np.zeros(predictions.shape[0])
            )
        return np.asarray(scores[1:] - scores[0], dtype=np.float64)


def _predict(model: TextClassifier, texts: Sequence[str]) -> np.ndarray:
    probabilities = model.predict_proba(texts)
    if not isinstance(probabilities, torch.Tensor) or probabilities.ndim != 2:
        raise TypeError("the learner's classifier must return (N, K) probabilities as a Tensor")
    return probabilities.argmax(dim=1).cpu().numpy().astype(np.int64)


def _labels(labels: Sequence[int] | np.ndarray, size: int, name: str) -> np.ndarray:
    if isinstance(labels, str) or not isinstance(labels, (Sequence, np.ndarray, torch.Tensor)):
        raise TypeError(f"{name} must be a sequence of 0/1 ints, got {type(labels).__name__}")
    y = np.asarray(labels)
    if y.shape != (size,):
        raise ValueError(f"{name} must have one entry per text ({size}), got shape {y.shape}")
    if y.size and (y.dtype.kind not in "iu" or not np.isin(y, (0, 1)).all()):
        raise ValueError(f"{name} must be 0 (ham) or 1 (spam)")
    return y.astype(np.int64)
