"""Linear bag-of-words text classifiers: naive Bayes on word counts and TF-IDF logistic regression.

The classic spam filters (Graham's "A Plan for Spam", SpamBayes, SpamAssassin's Bayes rules)
are linear in word features. :class:`LinearTextClassifier` is such a model, torch-backed and
serialisable to tensors and JSON (no pickle): a vocabulary, a feature weighting, and logits
``W x + b`` turned into probabilities with a softmax.

Features follow scikit-learn's vectorizers exactly: lower-cased text, tokens matching
``(?u)\\b\\w\\w+\\b`` (two or more word characters), tokens outside the vocabulary ignored; then
either raw counts (``weighting="counts"``) or TF-IDF (``weighting="tfidf"``: term frequency,
``1 + log(tf)`` when sublinear, times the IDF, each row scaled to unit L2 norm).
:func:`fit_naive_bayes` and :func:`fit_logistic_regression` fit scikit-learn's models and convert
them; the converted model's probabilities equal scikit-learn's (float64 arithmetic, returned as
float32), so its predictions are the same.

- Multinomial naive Bayes: ``W`` holds each class's log word probabilities (Laplace/Lidstone
  smoothed by ``alpha``) and ``b`` the log class priors; the softmax of ``W x + b`` is the
  posterior.
- Logistic regression: ``W`` and ``b`` are the coefficients; for two classes, row 0 is zero and
  row 1 holds the binary model's coefficients (the softmax of ``(0, z)`` is the sigmoid of ``z``).

Reference: McCallum & Nigam, "A Comparison of Event Models for Naive Bayes Text
Classification", AAAI Workshop 1998; Metsis et al., "Spam Filtering with Naive Bayes — Which
Naive Bayes?", CEAS 2006; Graham, "A Plan for Spam", 2002.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor

from aisec.models.text import check_texts

__all__ = [
    "LINEAR_TEXT_FORMAT",
    "TOKEN_PATTERN",
    "LinearTextClassifier",
    "fit_logistic_regression",
    "fit_naive_bayes",
]

TOKEN_PATTERN = r"(?u)\b\w\w+\b"
"""scikit-learn's default token pattern: runs of two or more word characters."""
LINEAR_TEXT_FORMAT = "aisec-linear-text-1"
"""The ``format`` entry of :meth:`LinearTextClassifier.to_tensors`'s metadata."""

Weighting = Literal["counts", "tfidf"]
_TOKEN = re.compile(TOKEN_PATTERN)


class LinearTextClassifier:
    """A linear classifier on bag-of-words features (counts or sublinear TF-IDF + L2 norm).

    Args:
        vocabulary: the feature words in index order (or a mapping word -> index covering
            ``0 .. V-1``).
        class_names: one name per class (``K >= 2``).
        weights: ``(K, V)`` weights.
        bias: ``(K,)`` biases.
        weighting: ``"counts"`` (raw term counts) or ``"tfidf"`` (term frequency times ``idf``,
            rows scaled to unit L2 norm).
        idf: ``(V,)`` inverse document frequencies (``"tfidf"`` only).
        sublinear_tf: use ``1 + log(tf)`` instead of ``tf`` (``"tfidf"`` only).

    Attributes:
        vocabulary: word -> feature index.
        words: the words in feature-index order.
        weights: float64 ``(K, V)``; bias: float64 ``(K,)``; idf: float64 ``(V,)`` or ``None``.
        test_accuracy: accuracy on a held-out test set, when the zoo measured it.
        ham_false_positive_rate: share of held-out ham classified as spam (spam filters).

    Raises:
        ValueError: shapes that do not match, a duplicate word, an unknown weighting, or a
            missing ``idf`` for TF-IDF.
    """

    test_accuracy: float | None = None
    ham_false_positive_rate: float | None = None

    def __init__(
        self,
        vocabulary: Sequence[str] | Mapping[str, int],
        class_names: Sequence[str],
        weights: Tensor,
        bias: Tensor,
        *,
        weighting: Weighting = "counts",
        idf: Tensor | None = None,
        sublinear_tf: bool = False,
    ) -> None:
        if isinstance(vocabulary, Mapping):
            words = sorted(vocabulary, key=lambda w: vocabulary[w])
            if [vocabulary[w] for w in words] != list(range(len(words))):
                raise ValueError("a vocabulary mapping must map its words to 0 .. V-1")
        else:
            words = list(vocabulary)
        self.words: list[str] = words
        self.vocabulary: dict[str, int] = {w: i for i, w in enumerate(words)}
        if len(self.vocabulary) != len(words):
            raise ValueError("the vocabulary holds a word twice")
        if not all(isinstance(w, str) for w in words):
            raise ValueError("vocabulary words must be strings")
        self.class_names = tuple(str(c) for c in class_names)
        k, v = len(self.class_names), len(words)
        if k < 2:
            raise ValueError(f"need at least 2 class names, got {self.class_names}")
        self.weights = torch.as_tensor(weights, dtype=torch.float64).detach().clone()
        self.bias = torch.as_tensor(bias, dtype=torch.float64).detach().clone()
        if tuple(self.weights.shape) != (k, v):
            raise ValueError(f"weights must be (K, V) = ({k}, {v}), got {tuple(weights.shape)}")
        if tuple(self.bias.shape) != (k,):
            raise ValueError(f"bias must be (K,) = ({k},), got {tuple(bias.shape)}")
        if weighting not in ("counts", "tfidf"):
            raise ValueError(f"weighting must be 'counts' or 'tfidf', got {weighting!r}")
        self.weighting: Weighting = weighting
        self.sublinear_tf = bool(sublinear_tf)
        self.idf: Tensor | None = None
        if weighting == "tfidf":
            if idf is None:
                raise ValueError("weighting='tfidf' needs idf, one value per vocabulary word")
            self.idf = torch.as_tensor(idf, dtype=torch.float64).detach().clone()
            if tuple(self.idf.shape) != (v,):
                raise ValueError(f"idf must be (V,) = ({v},), got {tuple(self.idf.shape)}")
        elif idf is not None or sublinear_tf:
            raise ValueError("idf and sublinear_tf apply to weighting='tfidf' only")
        # NumPy views for the vectorizer (the tensors stay the source of truth).
        self._weights_t = np.ascontiguousarray(self.weights.numpy().T)
        self._idf = None if self.idf is None else self.idf.numpy()

    @property
    def num_features(self) -> int:
        """The vocabulary's size ``V``."""
        return len(self.words)

    def _csr(self, texts: Sequence[str]) -> Any:
        """The feature matrix of already checked ``texts``: SciPy CSR ``(N, V)`` float64."""
        from scipy.sparse import csr_matrix

        vocabulary = self.vocabulary
        ids: list[int] = []
        lengths: list[int] = []
        for text in texts:
            found = [vocabulary[w] for w in _TOKEN.findall(text.lower()) if w in vocabulary]
            ids.extend(found)
            lengths.append(len(found))
        n, v = len(texts), self.num_features
        rows_all = np.repeat(np.arange(n, dtype=np.int64), lengths)
        # One sort groups the (text, word) pairs: unique keys are the nonzeros, in CSR order.
        keys, counts = np.unique(
            rows_all * max(v, 1) + np.asarray(ids, dtype=np.int64), return_counts=True
        )
        rows, cols = keys // max(v, 1), keys % max(v, 1)
        values = counts.astype(np.float64)
        if self._idf is not None:
            if self.sublinear_tf:
                values = 1.0 + np.log(values)
            values = values * self._idf[cols]
            norms = np.sqrt(np.bincount(rows, weights=values * values, minlength=n))
            values = values / norms[rows]  # a row with a nonzero has a positive norm
        indptr = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=n))])
        return csr_matrix((values, cols, indptr), shape=(n, v))

    def features(self, texts: Sequence[str]) -> Any:
        """The feature matrix of ``texts``: a SciPy CSR matrix ``(N, V)`` of float64.

        Args:
            texts: strings; see :func:`aisec.models.text.check_texts`.
        """
        return self._csr(check_texts(texts))

    def logits(self, texts: Sequence[str], batch_size: int = 256) -> Tensor:
        """Float64 logits ``W x + b`` ``(N, K)`` of ``texts``."""
        batch = check_texts(texts)
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        out = np.empty((len(batch), len(self.class_names)), dtype=np.float64)
        bias = self.bias.numpy()
        for start in range(0, len(batch), batch_size):
            chunk = batch[start : start + batch_size]
            out[start : start + len(chunk)] = self._csr(chunk) @ self._weights_t + bias
        return torch.from_numpy(out)

    def predict_proba(self, texts: Sequence[str], batch_size: int = 256) -> Tensor:
        """Class probabilities ``(N, K)`` of ``texts`` (float32; rows sum to 1).

        Args:
            texts: strings; see :func:`aisec.models.text.check_texts`. Every token counts (no
                maximum length).
            batch_size: texts vectorized at once.

        Returns:
            float32 probabilities ``(N, K)``; ``(0, K)`` for an empty list.
        """
        logits = self.logits(texts, batch_size).numpy()
        shifted = np.exp(logits - logits.max(axis=1, keepdims=True, initial=-np.inf))
        probabilities = shifted / shifted.sum(axis=1, keepdims=True)
        return torch.from_numpy(probabilities.astype(np.float32))

    def predict_log_proba(self, texts: Sequence[str], batch_size: int = 256) -> Tensor:
        """Float64 log-probabilities ``(N, K)``: finite where :meth:`predict_proba` rounds to 0.

        Naive Bayes is confident: on a long e-mail the losing class's probability is often
        below float32's smallest number, so a score-based attack that only saw the rounded
        probabilities would see no change at all (text attacks use this method when a victim
        has it).
        """
        return torch.log_softmax(self.logits(texts, batch_size), dim=1)

    def word_weights(self, class_index: int) -> dict[str, float]:
        """How much one unit of each word's feature moves the log-odds towards ``class_index``.

        The value for a word is its weight for ``class_index`` minus the mean of its weights for
        the other classes: for two classes, exactly the change of
        ``log p(class_index) / p(other)`` per unit of the word's feature (per occurrence, for
        counts; per unit of the normalised TF-IDF value, for TF-IDF).

        Args:
            class_index: the class, ``0 .. K-1``.

        Returns:
            word -> weight, for every vocabulary word.
        """
        k = len(self.class_names)
        if isinstance(class_index, bool) or not isinstance(class_index, int):
            raise TypeError(f"class_index must be an int, got {type(class_index).__name__}")
        if not 0 <= class_index < k:
            raise ValueError(f"class_index must be in [0, {k}), got {class_index}")
        others = [c for c in range(k) if c != class_index]
        contrast = self.weights[class_index] - self.weights[others].mean(0)
        return dict(zip(self.words, contrast.tolist(), strict=True))

    def to_tensors(self) -> tuple[dict[str, Tensor], dict[str, Any]]:
        """Tensors and JSON metadata that :meth:`from_tensors` rebuilds the model from."""
        tensors = {"weights": self.weights, "bias": self.bias}
        if self.idf is not None:
            tensors["idf"] = self.idf
        meta: dict[str, Any] = {
            "format": LINEAR_TEXT_FORMAT,
            "words": self.words,
            "class_names": list(self.class_names),
            "weighting": self.weighting,
            "sublinear_tf": self.sublinear_tf,
            "token_pattern": TOKEN_PATTERN,
        }
        return tensors, meta

    @classmethod
    def from_tensors(
        cls, tensors: Mapping[str, Tensor], meta: Mapping[str, Any]
    ) -> LinearTextClassifier:
        """Rebuild a model from :meth:`to_tensors`'s output.

        Raises:
            ValueError: the metadata is not of this format, or the tensors do not fit it.
        """
        if meta.get("format") != LINEAR_TEXT_FORMAT or meta.get("token_pattern") != TOKEN_PATTERN:
            raise ValueError(
                f"not a {LINEAR_TEXT_FORMAT} model (format {meta.get('format')!r}, token "
                f"pattern {meta.get('token_pattern')!r})"
            )
        missing = {"weights", "bias"} - set(tensors)
        if missing:
            raise ValueError(f"missing tensors: {sorted(missing)}")
        return cls(
            list(meta["words"]),
            list(meta["class_names"]),
            tensors["weights"],
            tensors["bias"],
            weighting=meta["weighting"],
            idf=tensors.get("idf"),
            sublinear_tf=bool(meta["sublinear_tf"]),
        )

    def __repr__(self) -> str:
        kind = "counts" if self.idf is None else ("sublinear " * self.sublinear_tf) + "tf-idf"
        return (
            f"LinearTextClassifier({len(self.class_names)} classes, {self.num_features} words, "
            f"{kind})"
        )


def _check_training_data(
    texts: Sequence[str], labels: Sequence[int] | np.ndarray, class_names: Sequence[str]
) -> tuple[list[str], np.ndarray]:
    batch = check_texts(texts)
    y = np.asarray(labels)
    if y.ndim != 1 or y.shape[0] != len(batch):
        raise ValueError(f"labels must be one per text ({len(batch)}), got shape {y.shape}")
    if y.size and y.dtype.kind not in "iu":
        raise ValueError(f"labels must be integers, got dtype {y.dtype}")
    k = len(class_names)
    present = set(np.unique(y).tolist())
    if present != set(range(k)):
        raise ValueError(
            f"labels must use every class 0 .. {k - 1} of {tuple(class_names)}, got {present}"
        )
    return batch, y.astype(np.int64)


def _words(vectorizer: Any) -> list[str]:
    vocabulary: dict[str, int] = vectorizer.vocabulary_
    return sorted(vocabulary, key=vocabulary.__getitem__)


def fit_naive_bayes(
    texts: Sequence[str],
    labels: Sequence[int] | np.ndarray,
    class_names: Sequence[str],
    *,
    alpha: float = 1.0,
    min_df: int = 2,
) -> LinearTextClassifier:
    """Fit multinomial naive Bayes on word counts (scikit-learn) and convert it.

    Args:
        texts: training texts.
        labels: their classes, ``0 .. K-1`` (every class must occur).
        class_names: one name per class.
        alpha: additive (Laplace/Lidstone) smoothing of the word probabilities.
        min_df: a word enters the vocabulary when at least this many texts contain it.

    Returns:
        A ``weighting="counts"`` :class:`LinearTextClassifier` whose probabilities equal
        ``MultinomialNB.predict_proba`` on ``CountVectorizer(min_df=min_df)`` features.

    Raises:
        ValueError: bad labels, ``alpha <= 0``, or no word occurs in ``min_df`` texts.

    Reference: McCallum & Nigam, AAAI Workshop on Learning for Text Categorization, 1998.
    """
    from sklearn.feature_extraction.text import CountVectorizer
    from sklearn.naive_bayes import MultinomialNB

    batch, y = _check_training_data(texts, labels, class_names)
    if not (isinstance(alpha, int | float) and math.isfinite(alpha) and alpha > 0):
        raise ValueError(f"alpha must be a positive number, got {alpha!r}")
    vectorizer = CountVectorizer(min_df=min_df, token_pattern=TOKEN_PATTERN, lowercase=True)
    counts = vectorizer.fit_transform(batch)
    model = MultinomialNB(alpha=alpha).fit(counts, y)
    return LinearTextClassifier(
        _words(vectorizer),
        class_names,
        torch.from_numpy(np.asarray(model.feature_log_prob_, dtype=np.float64)),
        torch.from_numpy(np.asarray(model.class_log_prior_, dtype=np.float64)),
        weighting="counts",
    )


def fit_logistic_regression(
    texts: Sequence[str],
    labels: Sequence[int] | np.ndarray,
    class_names: Sequence[str],
    *,
    C: float = 10.0,  # noqa: N803 - the regularization constant's usual name
    min_df: int = 2,
    seed: int = 0,
) -> LinearTextClassifier:
    """Fit L2-regularised logistic regression on sublinear TF-IDF features and convert it.

    Args:
        texts: training texts.
        labels: their classes, ``0 .. K-1`` (every class must occur).
        class_names: one name per class.
        C: inverse regularization strength.
        min_df: a word enters the vocabulary when at least this many texts contain it.
        seed: the solver's ``random_state``.

    Returns:
        A ``weighting="tfidf"`` :class:`LinearTextClassifier` whose probabilities equal
        ``LogisticRegression.predict_proba`` on
        ``TfidfVectorizer(min_df=min_df, sublinear_tf=True)`` features.

    Raises:
        ValueError: bad labels, ``C <= 0``, or no word occurs in ``min_df`` texts.
    """
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    batch, y = _check_training_data(texts, labels, class_names)
    if not (isinstance(C, int | float) and math.isfinite(C) and C > 0):
        raise ValueError(f"C must be a positive number, got {C!r}")
    vectorizer = TfidfVectorizer(
        min_df=min_df, token_pattern=TOKEN_PATTERN, lowercase=True, sublinear_tf=True, norm="l2"
    )
    features = vectorizer.fit_transform(batch)
    model = LogisticRegression(C=C, max_iter=5_000, random_state=seed).fit(features, y)
    coef = np.asarray(model.coef_, dtype=np.float64)
    intercept = np.asarray(model.intercept_, dtype=np.float64)
    if coef.shape[0] == 1:  # binary: the softmax of (0, z) is the sigmoid of z
        coef = np.vstack([np.zeros_like(coef), coef])
        intercept = np.concatenate([np.zeros(1), intercept])
    return LinearTextClassifier(
        _words(vectorizer),
        class_names,
        torch.from_numpy(coef),
        torch.from_numpy(intercept),
        weighting="tfidf",
        idf=torch.from_numpy(np.asarray(vectorizer.idf_, dtype=np.float64)),
        sublinear_tf=True,
    )
