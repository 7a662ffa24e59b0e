"""A SpamBayes-style spam filter: Robinson's token probabilities and Fisher's chi-squared method.

Training only counts, per token, the number of ham and of spam messages that contain it (each
message counts a token once) and the number of ham and spam messages. A message's score is
computed from the tokens it contains:

1. Graham's token probability (Graham, "A Plan for Spam", 2002) from per-class *document*
   frequencies, ``p(w) = s_r / (s_r + h_r)`` with ``s_r = spam(w) / n_spam`` and
   ``h_r = ham(w) / n_ham``;
2. Robinson's smoothing towards a prior ``x`` with strength ``s`` (Robinson, "A Statistical
   Approach to the Spam Problem", Linux Journal, 2003):
   ``f(w) = (s·x + n·p(w)) / (s + n)``, ``n = spam(w) + ham(w)`` (``s = 0.45``, ``x = 0.5``, as
   in SpamBayes); a token never seen in training has ``f = x``;
3. the clues: the tokens with ``|f(w) − 0.5| ≥ 0.1``, at most the 150 most extreme (ties are
   broken by ``f``, as SpamBayes sorts its clues);
4. Fisher's (chi-squared) combination of the ``n`` clues, as SpamBayes' ``chi2_spamprob``:
   ``S = 1 − Q(−2 Σ ln(1 − f), 2n)``, ``H = 1 − Q(−2 Σ ln f, 2n)`` with ``Q`` the survival function
   of the chi-squared distribution, and the score ``(S − H + 1) / 2`` in ``[0, 1]`` (0.5 without
   clues).

SpamBayes sorts a score into ham (below ``ham_cutoff = 0.2``), spam (above
``spam_cutoff = 0.9``) or unsure (:meth:`SpamBayesClassifier.dispositions`); as a
:class:`~aisec.models.text.TextClassifier` the filter gives ``[1 − score, score]`` (``argmax``:
spam above 0.5).

Differences from SpamBayes itself: the tokens are the words of sklearn's default pattern
``(?u)\\b\\w\\w+\\b`` in lower-cased text (the same words as the linear victims, so that an
attacker's dictionary means the same to all of them), not SpamBayes' tokenizer, which also mines
headers, skips long words and keeps case in some places; and the sums of logarithms are rounded to
``2^-32`` so that a score does not depend on the order in which a message's clues are visited
(RONI's vectorized screening relies on that).

Why the dictionary attack works here (Nelson et al., 2008): a word's probability depends on the
*fraction* of spam messages that contain it. An attack e-mail that holds the whole dictionary
raises that fraction for every word at once, by the poisoned share of the spam; the ham words that
are rare in spam become neutral or spammy, and a ham message loses its hammy clues. A multinomial
naive Bayes, whose word probabilities are normalized over the vocabulary, is diluted instead.

References:
    P. Graham, "A Plan for Spam", 2002; G. Robinson, "A Statistical Approach to the Spam Problem",
    Linux Journal 107, 2003; the SpamBayes project (T. Peters et al.), chi-squared combining.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
import torch
from scipy import special
from torch import Tensor

from aisec.models.checkpoint import load_checkpoint, save_checkpoint
from aisec.models.linear_text import TOKEN_PATTERN
from aisec.models.text import check_texts

__all__ = [
    "LOG_QUANTUM",
    "SPAMBAYES_FORMAT",
    "SpamBayesClassifier",
    "SpamBayesOptions",
    "chi2_scores",
    "clue_log_terms",
    "fisher_scores",
    "fit_spambayes",
    "robinson_probability",
    "score_probabilities",
    "token_set",
    "tokenize",
]

SPAMBAYES_FORMAT = "aisec-spambayes-1"
"""The ``format`` entry of a serialized filter's metadata."""
LOG_QUANTUM = 2.0**32
"""Log terms are rounded to ``1 / LOG_QUANTUM`` (:func:`clue_log_terms`)."""

_TOKEN = re.compile(TOKEN_PATTERN)

Disposition = Literal["ham", "unsure", "spam"]


def tokenize(text: str) -> list[str]:
    """The words of ``text``: sklearn's pattern ``(?u)\\b\\w\\w+\\b`` on lower-cased text."""
    return _TOKEN.findall(text.lower())


def token_set(text: str) -> set[str]:
    """The distinct words of ``text`` (what the filter counts once per message)."""
    return set(tokenize(text))


@dataclass(frozen=True)
class SpamBayesOptions:
    """SpamBayes' classifier constants (the defaults are SpamBayes' own).

    Attributes:
        unknown_word_strength: ``s``, the weight of the prior in Robinson's smoothing (> 0).
        unknown_word_prob: ``x``, the prior token probability (strictly inside ``(0, 1)``).
        minimum_prob_strength: tokens with ``|f − 0.5|`` below this are not clues (in ``(0, 0.5)``;
            > 0, so that unknown tokens, at 0.5, are never clues).
        max_discriminators: at most this many clues per message (the most extreme; >= 1).
        ham_cutoff: scores below it are ham.
        spam_cutoff: scores above it are spam (``ham_cutoff <= spam_cutoff``); between: unsure.
    """

    unknown_word_strength: float = 0.45
    unknown_word_prob: float = 0.5
    minimum_prob_strength: float = 0.1
    max_discriminators: int = 150
    ham_cutoff: float = 0.2
    spam_cutoff: float = 0.9

    def __post_init__(self) -> None:
        for name in ("unknown_word_strength", "unknown_word_prob", "minimum_prob_strength"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise TypeError(f"{name} must be a number, got {type(value).__name__}")
        for name in ("ham_cutoff", "spam_cutoff"):
            value = getattr(self, name)
            if (
                isinstance(value, bool)
                or not isinstance(value, (int, float))
                or not 0 <= value <= 1
            ):
                raise ValueError(f"{name} must be a number in [0, 1], got {value!r}")
        strength = self.unknown_word_strength
        if not (strength > 0 and math.isfinite(strength)):
            raise ValueError(f"unknown_word_strength must be a finite number > 0, got {strength!r}")
        if not 0 < self.unknown_word_prob < 1:
            raise ValueError(f"unknown_word_prob must be in (0, 1), got {self.unknown_word_prob!r}")
        if not 0 < self.minimum_prob_strength < 0.5:
            raise ValueError(
                f"minimum_prob_strength must be in (0, 0.5), got {self.minimum_prob_strength!r}"
            )
        count = self.max_discriminators
        if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= 10_000:
            raise ValueError(f"max_discriminators must be an int in [1, 10000], got {count!r}")
        if self.ham_cutoff > self.spam_cutoff:
            raise ValueError(
                f"ham_cutoff ({self.ham_cutoff}) must not exceed spam_cutoff ({self.spam_cutoff})"
            )


def robinson_probability(
    spam_count: np.ndarray,
    ham_count: np.ndarray,
    n_spam: np.ndarray | int,
    n_ham: np.ndarray | int,
    *,
    strength: float = 0.45,
    prior: float = 0.5,
) -> np.ndarray:
    """Robinson's smoothed spam probability ``f(w)`` of tokens from their document counts.

    Args:
        spam_count: spam messages that contain each token (any shape; broadcast with the rest).
        ham_count: ham messages that contain each token.
        n_spam: spam messages trained on (0 is treated as 1, as SpamBayes does).
        n_ham: ham messages trained on (0 is treated as 1).
        strength: ``s`` of Robinson's smoothing.
        prior: ``x``, the probability of a token never seen (``n = 0``).

    Returns:
        float64 ``f(w) = (s·x + n·p(w)) / (s + n)`` with Graham's
        ``p(w) = (spam/n_spam) / (spam/n_spam + ham/n_ham)``; exactly ``prior`` where ``n = 0``.

    Reference:
        Robinson, "A Statistical Approach to the Spam Problem", Linux Journal, 2003.
    """
    spam = np.asarray(spam_count, dtype=np.float64)
    ham = np.asarray(ham_count, dtype=np.float64)
    spam_ratio = spam / np.maximum(np.asarray(n_spam, dtype=np.float64), 1.0)
    ham_ratio = ham / np.maximum(np.asarray(n_ham, dtype=np.float64), 1.0)
    total = spam_ratio + ham_ratio
    graham = np.divide(spam_ratio, total, out=np.zeros_like(total), where=total > 0)
    n = spam + ham
    smoothed = (strength * prior + n * graham) / (strength + n)
    return np.where(n > 0, smoothed, prior)


def clue_log_terms(probabilities: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``-ln f`` and ``-ln(1 − f)`` in units of ``2^-32``, rounded to integers (as float64).

    Sums of these integers are exact in float64 (for fewer than ``2^16`` clues), so the
    Fisher sums of a message do not depend on the order in which its clues are added; RONI's
    fast path (:mod:`aisec.defenses.detect.roni`) adds them up differently from the filter and
    gets the same scores.
    """
    p = np.asarray(probabilities, dtype=np.float64)
    return np.round(-np.log(p) * LOG_QUANTUM), np.round(-np.log1p(-p) * LOG_QUANTUM)


def fisher_scores(count: np.ndarray, ham_sum: np.ndarray, spam_sum: np.ndarray) -> np.ndarray:
    """Scores ``(S − H + 1) / 2`` from each message's clue count and summed :func:`clue_log_terms`.

    Args:
        count: ``(M,)`` number of clues ``n``.
        ham_sum: ``(M,)`` the sum of the clues' ``-ln f`` terms (units of ``2^-32``).
        spam_sum: ``(M,)`` the sum of the clues' ``-ln(1 − f)`` terms (units of ``2^-32``).

    Returns:
        float64 ``(M,)``: ``S = 1 − Q(−2 Σ ln(1 − f), 2n)``, ``H = 1 − Q(−2 Σ ln f, 2n)`` with
        ``Q`` the chi-squared survival function; 0.5 where ``n = 0``.
    """
    n_clues = np.asarray(count)
    n = np.maximum(n_clues, 1).astype(np.float64)
    # chi2Q(x2, 2n) = Q(n, x2 / 2): the regularized upper incomplete gamma function.
    spam_evidence = 1.0 - special.gammaincc(n, np.asarray(spam_sum) / LOG_QUANTUM)
    ham_evidence = 1.0 - special.gammaincc(n, np.asarray(ham_sum) / LOG_QUANTUM)
    scores = (spam_evidence - ham_evidence + 1.0) / 2.0
    return np.where(n_clues > 0, np.clip(scores, 0.0, 1.0), 0.5)


def chi2_scores(
    probabilities: np.ndarray,
    *,
    minimum_strength: float = 0.1,
    max_discriminators: int = 150,
) -> np.ndarray:
    """Fisher's chi-squared combination of each row's clues, as SpamBayes' ``chi2_spamprob``.

    Args:
        probabilities: ``(M, L)`` token probabilities ``f(w)`` in ``(0, 1)``, one row per
            message, one entry per distinct token of the message; pad short rows with 0.5
            (never a clue).
        minimum_strength: tokens with ``|f − 0.5|`` below this are not clues (in ``(0, 0.5)``).
        max_discriminators: the most extreme clues kept per row; ties in ``|f − 0.5|`` go to the
            larger ``f`` (SpamBayes sorts its clues by ``(|f − 0.5|, f)`` and keeps the last).

    Returns:
        float64 ``(M,)`` scores in ``[0, 1]`` (:func:`fisher_scores`); 0.5 for a row without
        clues. The sums are of :func:`clue_log_terms`, so a row's score does not depend on the
        order of its entries or on padding.

    Raises:
        ValueError: not a 2-D array of values in ``(0, 1)``, or ``minimum_strength`` outside
            ``(0, 0.5)``.

    Reference:
        Robinson (2003); SpamBayes' chi-squared combining (Fisher's method).
    """
    p = np.asarray(probabilities, dtype=np.float64)
    if p.ndim != 2:
        raise ValueError(f"probabilities must be a 2-D (messages, tokens) array, got {p.shape}")
    if not 0 < minimum_strength < 0.5:
        raise ValueError(f"minimum_strength must be in (0, 0.5), got {minimum_strength!r}")
    if p.size and not ((p > 0) & (p < 1)).all():
        raise ValueError("probabilities must lie strictly between 0 and 1")
    rows, width = p.shape
    if rows == 0:
        return np.zeros(0)
    strength = np.abs(p - 0.5)
    clue = strength >= minimum_strength
    counts = clue.sum(axis=1)
    crowded = np.flatnonzero(counts > max_discriminators)
    if crowded.size:
        sub_p = p[crowded]
        sub_strength = np.where(clue[crowded], strength[crowded], -1.0)
        order = np.lexsort((sub_p, sub_strength), axis=1)  # ascending by (strength, f)
        keep = np.zeros_like(clue[crowded])
        np.put_along_axis(keep, order[:, width - max_discriminators :], True, axis=1)
        clue[crowded] = keep
        counts[crowded] = max_discriminators
    ham_terms, spam_terms = clue_log_terms(np.where(clue, p, 0.5))
    ham_sum = np.where(clue, ham_terms, 0.0).sum(axis=1)
    spam_sum = np.where(clue, spam_terms, 0.0).sum(axis=1)
    return fisher_scores(counts, ham_sum, spam_sum)


def score_probabilities(scores: np.ndarray) -> np.ndarray:
    """``(N, 2)`` float32 class probabilities ``[1 − score, score]`` from spam scores ``(N,)``."""
    s = np.asarray(scores, dtype=np.float64)
    return np.stack([1.0 - s, s], axis=1).astype(np.float32)


class SpamBayesClassifier:
    """A trained SpamBayes-style filter (module docstring); build it with :func:`fit_spambayes`.

    Args:
        vocabulary: the tokens seen in training, in column order.
        ham_counts: ``(V,)`` ham messages that contain each token.
        spam_counts: ``(V,)`` spam messages that contain each token.
        n_ham: ham messages trained on.
        n_spam: spam messages trained on.
        class_names: ``(ham name, spam name)``: the second class is the spam.
        options: the classifier's constants.

    Raises:
        ValueError: counts that do not fit the vocabulary, are negative or exceed the number of
            messages, or a vocabulary with repeated tokens.
    """

    def __init__(
        self,
        vocabulary: Sequence[str],
        ham_counts: np.ndarray,
        spam_counts: np.ndarray,
        n_ham: int,
        n_spam: int,
        *,
        class_names: Sequence[str] = ("ham", "spam"),
        options: SpamBayesOptions | None = None,
    ) -> None:
        self.options = options if options is not None else SpamBayesOptions()
        if not isinstance(self.options, SpamBayesOptions):
            raise TypeError(f"options must be SpamBayesOptions, got {type(options).__name__}")
        self.class_names: tuple[str, ...] = _check_class_names(class_names)
        self.vocabulary: tuple[str, ...] = tuple(vocabulary)
        self.index: dict[str, int] = {token: i for i, token in enumerate(self.vocabulary)}
        if len(self.index) != len(self.vocabulary):
            raise ValueError("vocabulary must not repeat a token")
        for name, value in (("n_ham", n_ham), ("n_spam", n_spam)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
                raise ValueError(f"{name} must be an int >= 0, got {value!r}")
        self.n_ham, self.n_spam = int(n_ham), int(n_spam)
        self.ham_counts = _check_counts(ham_counts, len(self.vocabulary), self.n_ham, "ham_counts")
        self.spam_counts = _check_counts(
            spam_counts, len(self.vocabulary), self.n_spam, "spam_counts"
        )
        self.token_probabilities = robinson_probability(
            self.spam_counts,
            self.ham_counts,
            self.n_spam,
            self.n_ham,
            strength=self.options.unknown_word_strength,
            prior=self.options.unknown_word_prob,
        )

    def __repr__(self) -> str:
        return (
            f"SpamBayesClassifier(tokens={len(self.vocabulary)}, n_ham={self.n_ham}, "
            f"n_spam={self.n_spam})"
        )

    def token_probability(self, token: str) -> float:
        """``f(w)`` of one (lower-case) token; ``unknown_word_prob`` for a token never seen."""
        column = self.index.get(token)
        if column is None:
            return float(self.options.unknown_word_prob)
        return float(self.token_probabilities[column])

    def scores(self, texts: Sequence[str], batch_size: int = 256) -> np.ndarray:
        """float64 ``(N,)`` spam scores in ``[0, 1]`` (SpamBayes' ``chi2_spamprob``)."""
        batch = check_texts(texts)
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be an int >= 1, got {batch_size!r}")
        parts = [np.zeros(0)]
        for start in range(0, len(batch), batch_size):
            rows = [self._probabilities(text) for text in batch[start : start + batch_size]]
            width = max(1, max(len(row) for row in rows))
            matrix = np.full((len(rows), width), 0.5)
            for i, row in enumerate(rows):
                matrix[i, : len(row)] = row
            parts.append(
                chi2_scores(
                    matrix,
                    minimum_strength=self.options.minimum_prob_strength,
                    max_discriminators=self.options.max_discriminators,
                )
            )
        return np.concatenate(parts)

    def _probabilities(self, text: str) -> np.ndarray:
        columns = [self.index[t] for t in token_set(text) if t in self.index]
        return self.token_probabilities[np.asarray(columns, dtype=np.int64)]

    def predict_proba(self, texts: Sequence[str], batch_size: int = 256) -> Tensor:
        """float32 ``(N, 2)`` probabilities ``[1 − score, score]``; ``(0, 2)`` for no texts."""
        return torch.from_numpy(score_probabilities(self.scores(texts, batch_size=batch_size)))

    def dispositions(self, texts: Sequence[str]) -> list[Disposition]:
        """SpamBayes' verdicts: ``"ham"`` below ``ham_cutoff``, ``"spam"`` above ``spam_cutoff``."""
        out: list[Disposition] = []
        for score in self.scores(texts):
            if score < self.options.ham_cutoff:
                out.append("ham")
            elif score > self.options.spam_cutoff:
                out.append("spam")
            else:
                out.append("unsure")
        return out

    def updated(
        self, texts: Sequence[str], labels: Sequence[int] | np.ndarray
    ) -> SpamBayesClassifier:
        """A new filter trained further on ``texts`` (counts added; this filter is unchanged).

        Args:
            texts: messages to train on.
            labels: their class indices (0 = ham, 1 = spam).

        Returns:
            The filter that :func:`fit_spambayes` would give on the old and the new messages.
        """
        batch = check_texts(texts)
        y = _check_labels(labels, len(batch))
        vocabulary = list(self.vocabulary)
        index = dict(self.index)
        ham = self.ham_counts.tolist()
        spam = self.spam_counts.tolist()
        for text, label in zip(batch, y.tolist(), strict=True):
            target = spam if label == 1 else ham
            for token in token_set(text):
                column = index.get(token)
                if column is None:
                    column = index[token] = len(vocabulary)
                    vocabulary.append(token)
                    ham.append(0)
                    spam.append(0)
                target[column] += 1
        n_spam = int(y.sum())
        return SpamBayesClassifier(
            vocabulary,
            np.asarray(ham, dtype=np.int64),
            np.asarray(spam, dtype=np.int64),
            self.n_ham + len(batch) - n_spam,
            self.n_spam + n_spam,
            class_names=self.class_names,
            options=self.options,
        )

    def to_tensors(self) -> tuple[dict[str, Tensor], dict[str, Any]]:
        """The filter as tensors (the document counts) and JSON-serialisable metadata."""
        tensors = {
            "ham_counts": torch.from_numpy(self.ham_counts.copy()),
            "spam_counts": torch.from_numpy(self.spam_counts.copy()),
        }
        metadata: dict[str, Any] = {
            "format": SPAMBAYES_FORMAT,
            "vocabulary": list(self.vocabulary),
            "n_ham": self.n_ham,
            "n_spam": self.n_spam,
            "class_names": list(self.class_names),
            "options": asdict(self.options),
        }
        return tensors, metadata

    @classmethod
    def from_tensors(
        cls, tensors: dict[str, Tensor], metadata: dict[str, Any]
    ) -> SpamBayesClassifier:
        """Rebuild a filter from :meth:`to_tensors`' output.

        Raises:
            ValueError: the metadata is not of this format or does not fit the tensors.
        """
        if not isinstance(metadata, dict) or metadata.get("format") != SPAMBAYES_FORMAT:
            raise ValueError(f"metadata is not of the SpamBayes filter format {SPAMBAYES_FORMAT!r}")
        try:
            vocabulary = metadata["vocabulary"]
            options = SpamBayesOptions(**metadata["options"])
            counts = [tensors[name] for name in ("ham_counts", "spam_counts")]
            n_ham, n_spam = metadata["n_ham"], metadata["n_spam"]
            class_names = metadata["class_names"]
        except (KeyError, TypeError) as error:
            raise ValueError(f"incomplete SpamBayes filter: {error}") from None
        if not isinstance(vocabulary, list) or not all(isinstance(t, str) for t in vocabulary):
            raise ValueError("the metadata's vocabulary must be a list of strings")
        ham, spam = (t.detach().cpu().numpy().astype(np.int64) for t in counts)
        return cls(vocabulary, ham, spam, n_ham, n_spam, class_names=class_names, options=options)

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the filter as a sealed checkpoint (see :func:`aisec.models.save_checkpoint`)."""
        save_checkpoint(path, *self.to_tensors())

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> SpamBayesClassifier:
        """Read a filter written by :meth:`save` (verified; no pickle)."""
        return cls.from_tensors(*load_checkpoint(path))


def fit_spambayes(
    texts: Sequence[str],
    labels: Sequence[int] | np.ndarray,
    class_names: Sequence[str] = ("ham", "spam"),
    *,
    options: SpamBayesOptions | None = None,
) -> SpamBayesClassifier:
    """Train a SpamBayes-style filter: count, per token, the ham and spam messages that contain it.

    Args:
        texts: training messages (``"Subject: ...\\n\\nbody"``).
        labels: their class indices: 0 = ham, 1 = spam.
        class_names: ``(ham name, spam name)``.
        options: the classifier's constants (SpamBayes' defaults when omitted).

    Returns:
        The trained :class:`SpamBayesClassifier`.

    Raises:
        TypeError: texts that are not a list of strings.
        ValueError: labels that are not 0/1 or do not match the texts, or class names that are
            not two distinct strings.

    Reference:
        Graham, "A Plan for Spam" (2002); Robinson, Linux Journal (2003); SpamBayes.
    """
    empty = SpamBayesClassifier(
        (), np.zeros(0), np.zeros(0), 0, 0, class_names=class_names, options=options
    )
    return empty.updated(texts, labels)


def _check_class_names(class_names: Sequence[str]) -> tuple[str, ...]:
    if isinstance(class_names, str) or not isinstance(class_names, Sequence):
        raise TypeError(f"class_names must be a sequence of two strings, got {class_names!r}")
    names = tuple(class_names)
    if len(names) != 2 or not all(isinstance(n, str) for n in names) or names[0] == names[1]:
        raise ValueError(f"class_names must be two distinct strings (ham, spam), got {names!r}")
    return names


def _check_counts(counts: np.ndarray, size: int, limit: int, name: str) -> np.ndarray:
    array = np.asarray(counts)
    if array.shape != (size,):
        raise ValueError(f"{name} must have shape ({size},), got {array.shape}")
    if array.size and (
        not np.all(np.isfinite(array)) or np.any(array != np.round(array)) or array.min() < 0
    ):
        raise ValueError(f"{name} must hold integer counts >= 0")
    out = array.astype(np.int64)
    if out.size and out.max() > limit:
        raise ValueError(f"{name} must not exceed the number of messages ({limit})")
    return out


def _check_labels(labels: Sequence[int] | np.ndarray, size: int) -> np.ndarray:
    if isinstance(labels, str) or not isinstance(labels, (Sequence, np.ndarray, Tensor)):
        raise TypeError(f"labels must be a sequence of 0/1 ints, got {type(labels).__name__}")
    y = np.asarray(labels)
    if y.shape != (size,):
        raise ValueError(f"labels must have one entry per text ({size}), got shape {y.shape}")
    if y.size and (y.dtype.kind not in "iu" or not np.isin(y, (0, 1)).all()):
        raise ValueError("labels must be 0 (ham) or 1 (spam)")
    return y.astype(np.int64)
