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
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np
import torch
from scipy import sparse

from aisec.models.linear_text import TOKEN_PATTERN, fit_naive_bayes
from aisec.models.spambayes import (
    SpamBayesClassifier,
    SpamBayesOptions,
    chi2_scores,
    clue_log_terms,
    fisher_scores,
    fit_spambayes,
    robinson_probability,
    score_probabilities,
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


def count_matrix(texts: Sequence[str]) -> tuple[sparse.csr_matrix, list[str]]:
    """Word counts ``(N, W)`` (CSR, int64) of ``texts`` and the vocabulary (sorted).

    The words are those of :func:`aisec.models.spambayes.tokenize` (sklearn's default pattern
    on lower-cased text), the words every fast kernel and the linear victims use.
    """
    from sklearn.feature_extraction.text import CountVectorizer

    batch = check_texts(texts)
    vectorizer = CountVectorizer(token_pattern=TOKEN_PATTERN, lowercase=True, dtype=np.int64)
    try:
        matrix = vectorizer.fit_transform(batch)
    except ValueError:  # no text holds a word
        return sparse.csr_matrix((len(batch), 0), dtype=np.int64), []
    return sparse.csr_matrix(matrix), [str(w) for w in vectorizer.get_feature_names_out()]


@runtime_checkable
class CountLearner(Protocol):
    """A learner whose training adds up per-message counts, so that RONI can skip training.

    Calling it fits a :class:`~aisec.models.text.TextClassifier` (the generic path);
    :meth:`predictions_with_each` gives, without fitting, the predictions on ``V`` of the model
    trained on ``T`` and of the models trained on ``T`` plus each candidate.
    """

    def __call__(self, texts: Sequence[str], labels: Sequence[int]) -> TextClassifier:
        """Fit the learner's classifier on ``texts`` with class indices ``labels``."""
        ...

    def predictions_with_each(
        self,
        train: sparse.csr_matrix,
        train_labels: np.ndarray,
        candidates: sparse.csr_matrix,
        candidate_labels: np.ndarray,
        validation: sparse.csr_matrix,
    ) -> np.ndarray:
        """``(1 + C, V)`` predicted labels: row 0 from ``T``, row ``1 + i`` from ``T + {c_i}``.

        All matrices are :func:`count_matrix` counts over one vocabulary.
        """
        ...


@dataclass(frozen=True)
class NaiveBayesLearner:
    """Multinomial naive Bayes on word counts (every training word kept: ``min_df = 1``).

    The generic path fits :func:`aisec.models.linear_text.fit_naive_bayes` with ``min_df=1``;
    the fast path evaluates the same model, ``log P(y) + Σ_w x_w log θ_wy`` with Laplace/Lidstone
    smoothing ``θ_wy = (n_wy + α) / (N_y + α·|vocabulary|)`` and empirical class priors.

    Attributes:
        alpha: the smoothing ``α`` (> 0).
        class_names: the class names handed to the fitted classifier.

    Reference: Sahami, Dumais, Heckerman, Horvitz, "A Bayesian Approach to Filtering Junk
    E-Mail", AAAI Workshop on Learning for Text Categorization, 1998.
    """

    alpha: float = 1.0
    class_names: tuple[str, ...] = ("ham", "spam")

    def __post_init__(self) -> None:
        if isinstance(self.alpha, bool) or not isinstance(self.alpha, (int, float)):
            raise TypeError(f"alpha must be a number, got {type(self.alpha).__name__}")
        if not 0 < self.alpha < float("inf"):
            raise ValueError(f"alpha must be a finite number > 0, got {self.alpha!r}")

    def __call__(self, texts: Sequence[str], labels: Sequence[int]) -> TextClassifier:
        model: TextClassifier = fit_naive_bayes(
            texts, labels, self.class_names, alpha=self.alpha, min_df=1
        )
        return model

    def predictions_with_each(
        self,
        train: sparse.csr_matrix,
        train_labels: np.ndarray,
        candidates: sparse.csr_matrix,
        candidate_labels: np.ndarray,
        validation: sparse.csr_matrix,
    ) -> np.ndarray:
        alpha = float(self.alpha)
        y = np.asarray(train_labels)
        counts = np.stack([np.asarray(train[y == k].sum(axis=0)).ravel() for k in (0, 1)]).astype(
            np.float64
        )  # n_wy, (2, W)
        words = counts.sum(axis=1)  # N_y
        known = counts.sum(axis=0) > 0
        size = float(known.sum())
        messages = np.array([(y == 0).sum(), (y == 1).sum()], dtype=np.float64)
        by_token = sparse.csc_matrix(candidates, dtype=np.float64)
        lab = np.asarray(candidate_labels)
        n_cand = by_token.shape[0]
        lengths = np.asarray(by_token.sum(axis=1)).ravel()
        fresh = np.asarray((by_token > 0).astype(np.float64) @ (~known).astype(np.float64)).ravel()
        mine = [(lab == k).astype(np.float64) for k in (0, 1)]
        prior = [np.log((messages[k] + mine[k]) / (messages.sum() + 1.0)) for k in (0, 1)]
        norm = [np.log(words[k] + mine[k] * lengths + alpha * (size + fresh)) for k in (0, 1)]
        out = np.zeros((1 + n_cand, validation.shape[0]), dtype=np.int64)
        for j in range(validation.shape[0]):
            row = validation.getrow(j)
            cols, x = row.indices, row.data.astype(np.float64)
            seen = known[cols].astype(np.float64)
            base_log = [np.log(counts[k, cols] + alpha) for k in (0, 1)]
            base_sum = [float((seen * x * base_log[k]).sum()) for k in (0, 1)]
            base_tokens = float((seen * x).sum())
            joint = [
                np.log(messages[k] / messages.sum())
                + base_sum[k]
                - base_tokens * np.log(words[k] + alpha * size)
                for k in (0, 1)
            ]
            out[0, j] = int(joint[1] > joint[0])
            # the candidates' counts of v's words; only these terms differ from the baseline
            held = sparse.csr_matrix(by_token[:, cols])
            rows = np.repeat(np.arange(n_cand), np.diff(held.indptr))
            col, value = held.indices, held.data
            tokens = base_tokens + np.bincount(
                rows, weights=x[col] * (1.0 - seen[col]), minlength=n_cand
            )
            scores = []
            for k in (0, 1):
                added = np.log(counts[k, cols][col] + alpha + mine[k][rows] * value)
                change = x[col] * (added - seen[col] * base_log[k][col])
                total = base_sum[k] + np.bincount(rows, weights=change, minlength=n_cand)
                scores.append(prior[k] + total - tokens * norm[k])
            out[1:, j] = (scores[1] > scores[0]).astype(np.int64)
        return out


@dataclass(frozen=True)
class SpamBayesLearner:
    """The SpamBayes-style filter (:func:`aisec.models.spambayes.fit_spambayes`) for RONI.

    The fast path computes each candidate's token probabilities on a validation message from
    the document counts of ``T`` plus the candidate's tokens, with the same functions
    (:func:`~aisec.models.spambayes.robinson_probability`,
    :func:`~aisec.models.spambayes.chi2_scores`) as the filter itself.

    Attributes:
        options: the filter's constants.
        class_names: ``(ham name, spam name)``.

    Reference: Robinson, "A Statistical Approach to the Spam Problem", Linux Journal, 2003.
    """

    options: SpamBayesOptions = field(default_factory=SpamBayesOptions)
    class_names: tuple[str, ...] = ("ham", "spam")

    def __call__(self, texts: Sequence[str], labels: Sequence[int]) -> SpamBayesClassifier:
        return fit_spambayes(texts, labels, self.class_names, options=self.options)

    def predictions_with_each(
        self,
        train: sparse.csr_matrix,
        train_labels: np.ndarray,
        candidates: sparse.csr_matrix,
        candidate_labels: np.ndarray,
        validation: sparse.csr_matrix,
    ) -> np.ndarray:
        options = self.options
        y = np.asarray(train_labels)
        present = sparse.csr_matrix(train > 0).astype(np.int64)
        spam = np.asarray(present[y == 1].sum(axis=0)).ravel()
        ham = np.asarray(present[y == 0].sum(axis=0)).ravel()
        n_spam, n_ham = int((y == 1).sum()), int((y == 0).sum())
        by_token = sparse.csc_matrix(candidates > 0)
        lab = (np.asarray(candidate_labels) == 1).astype(np.int64)
        n_cand = by_token.shape[0]

        def probability(cols: np.ndarray, spam_add: int, ham_add: int, token: int) -> np.ndarray:
            return robinson_probability(
                spam[cols] + spam_add * token,
                ham[cols] + ham_add * token,
                n_spam + spam_add,
                n_ham + ham_add,
                strength=options.unknown_word_strength,
                prior=options.unknown_word_prob,
            )

        def scores(matrix: np.ndarray) -> np.ndarray:
            return chi2_scores(
                matrix,
                minimum_strength=options.minimum_prob_strength,
                max_discriminators=options.max_discriminators,
            )

        out = np.zeros((1 + n_cand, validation.shape[0]), dtype=np.int64)
        for j in range(validation.shape[0]):
            cols = validation.getrow(j).indices
            baseline = probability(cols, 0, 0, 0) if cols.size else np.full(1, 0.5)
            out[0, j] = _spam_labels(scores(baseline[None, :]))[0]
            if cols.size == 0:
                out[1:, j] = out[0, j]
                continue
            # table[label, holds]: a token's f(w) given the candidate's label (0 ham, 1 spam)
            # and whether the candidate holds the token
            table = np.stack(
                [
                    np.stack([probability(cols, label, 1 - label, token) for token in (0, 1)])
                    for label in (0, 1)
                ]
            )  # (2, 2, L)
            clue = np.abs(table - 0.5) >= options.minimum_prob_strength
            ham_terms, spam_terms = clue_log_terms(table)
            ham_terms, spam_terms = ham_terms * clue, spam_terms * clue
            held = sparse.csr_matrix(by_token[:, cols])
            rows = np.repeat(np.arange(n_cand), np.diff(held.indptr))
            col = held.indices
            label_of = lab[rows]
            totals = []
            for values in (clue.astype(np.float64), ham_terms, spam_terms):
                base = values[:, 0].sum(axis=1)  # (2,): no token of v held
                change = values[label_of, 1, col] - values[label_of, 0, col]
                totals.append(base[lab] + np.bincount(rows, weights=change, minlength=n_cand))
            count = np.rint(totals[0]).astype(np.int64)
            result = fisher_scores(count, totals[1], totals[2])
            crowded = np.flatnonzero(count > options.max_discriminators)
            if crowded.size:
                result[crowded] = _crowded_scores(
                    table, clue, ham_terms, spam_terms, held[crowded], lab[crowded], options
                )
            out[1:, j] = _spam_labels(result)
        return out


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


def _crowded_scores(
    table: np.ndarray,
    clue: np.ndarray,
    ham_terms: np.ndarray,
    spam_terms: np.ndarray,
    held: sparse.csr_matrix,
    labels: np.ndarray,
    options: SpamBayesOptions,
) -> np.ndarray:
    """Scores of candidates whose models have more clues on ``v`` than ``max_discriminators``.

    Keeps the ``m`` clues that are last in the order ``(|f − 0.5|, f)``, as
    :func:`~aisec.models.spambayes.chi2_scores` does, without sorting each row: the ``4·L``
    possible values of ``table`` are ranked once, the ``m``-th largest rank of each row is found
    with a partition, and the clues tied at that rank (equal ``f``, so equal terms) are counted.
    """
    flat = table.reshape(-1)
    order = np.lexsort((flat, np.abs(flat - 0.5)))
    ordered = flat[order]
    rank_sorted = np.cumsum(np.r_[True, ordered[1:] != ordered[:-1]]) - 1
    rank = np.empty(flat.size, dtype=np.int64)
    rank[order] = rank_sorted
    key_table = np.where(clue, rank.reshape(table.shape), -1)  # (2, 2, L)
    rows = np.repeat(np.arange(held.shape[0]), np.diff(held.indptr))
    cols = held.indices
    row_label = labels[rows]

    def per_row(values: np.ndarray) -> np.ndarray:
        """``(R, L)``: each row's values of ``values[label, holds, column]``."""
        out: np.ndarray = values[labels, 0]
        out[rows, cols] = values[row_label, 1, cols]
        return out

    key = per_row(key_table)
    m = options.max_discriminators
    width = key.shape[1]
    cut = np.partition(key, width - m, axis=1)[:, width - m]  # the m-th largest rank
    above = key > cut[:, None]
    need = m - above.sum(axis=1)  # clues tied at the cut rank, all of the same f
    sums = []
    for terms in (ham_terms, spam_terms):
        by_rank = np.empty(rank_sorted[-1] + 1)
        by_rank[rank_sorted] = terms.reshape(-1)[order]
        sums.append(np.where(above, per_row(terms), 0.0).sum(axis=1) + need * by_rank[cut])
    return fisher_scores(np.full(key.shape[0], m), sums[0], sums[1])


def _spam_labels(scores: np.ndarray) -> np.ndarray:
    """The ``argmax`` of the filter's ``predict_proba`` (``[1 − score, score]``) for each score."""
    labels: np.ndarray = np.argmax(score_probabilities(scores), axis=1).astype(np.int64)
    return labels


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
