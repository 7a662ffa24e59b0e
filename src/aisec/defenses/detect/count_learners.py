"""Count-based spam learners that RONI can screen for without training a model per candidate.

A :class:`CountLearner` (:class:`NaiveBayesLearner`, :class:`SpamBayesLearner`) trains from word
counts, so adding one message to a training set adds its counts: RONI's fast path predicts every
candidate's model on the validation mail at once from :func:`count_matrix` counts
(:mod:`aisec.defenses.detect.roni`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np
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

__all__ = ["CountLearner", "NaiveBayesLearner", "SpamBayesLearner", "count_matrix"]


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
