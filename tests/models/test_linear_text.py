"""Linear bag-of-words classifiers: equal to scikit-learn's, serialisable without pickle."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.naive_bayes import MultinomialNB

from aisec.models.checkpoint import load_checkpoint, save_checkpoint
from aisec.models.linear_text import (
    LinearTextClassifier,
    fit_logistic_regression,
    fit_naive_bayes,
)
from aisec.models.text import TextClassifier

HAM_WORDS = [
    "meeting",
    "report",
    "thanks",
    "attached",
    "lunch",
    "project",
    "review",
    "code",
    "patch",
    "list",
]
SPAM_WORDS = [
    "free",
    "money",
    "click",
    "offer",
    "winner",
    "cash",
    "viagra",
    "cheap",
    "credit",
    "deal",
]
COMMON = ["the", "you", "your", "this", "and", "for", "now", "today", "please"]


def _corpus(n: int, seed: int, classes: int = 2) -> tuple[list[str], np.ndarray]:
    rng = random.Random(seed)
    pools = [HAM_WORDS, SPAM_WORDS, COMMON][:classes]
    texts, labels = [], []
    for i in range(n):
        label = i % classes
        words = rng.choices(pools[label], k=rng.randint(3, 9)) + rng.choices(COMMON, k=3)
        words += rng.choices(pools[(label + 1) % classes], k=rng.randint(0, 2))
        rng.shuffle(words)
        texts.append(" ".join(w.upper() if rng.random() < 0.2 else w for w in words))
        labels.append(label)
    return texts, np.array(labels, dtype=np.int64)


QUERIES = [
    "FREE money, click now!",
    "thanks for the review of the patch",
    "",
    "a b c unknown-words only",
    "Winner winner winner: CASH",
    "naïve café déjà-vu offer",
    "x" * 500 + " meeting",
]


def test_naive_bayes_equals_scikit_learn() -> None:
    texts, labels = _corpus(80, seed=0)
    model = fit_naive_bayes(texts, labels, ("ham", "spam"), alpha=0.5, min_df=2)
    vectorizer = CountVectorizer(min_df=2)
    reference = MultinomialNB(alpha=0.5).fit(vectorizer.fit_transform(texts), labels)
    queries = QUERIES + _corpus(20, seed=1)[0]
    expected = reference.predict_proba(vectorizer.transform(queries))
    got = model.predict_proba(queries)
    assert isinstance(model, TextClassifier)
    assert got.dtype == torch.float32 and got.shape == (len(queries), 2)
    assert np.allclose(got.numpy(), expected, atol=1e-6)
    assert (got.argmax(1).numpy() == reference.predict(vectorizer.transform(queries))).all()
    assert model.vocabulary == vectorizer.vocabulary_
    features = model.features(queries)
    assert (features != vectorizer.transform(queries)).nnz == 0


@pytest.mark.parametrize("classes", [2, 3])
def test_tfidf_logistic_regression_equals_scikit_learn(classes: int) -> None:
    texts, labels = _corpus(90, seed=2, classes=classes)
    names = ("a", "b", "c")[:classes]
    model = fit_logistic_regression(texts, labels, names, C=3.0, min_df=2, seed=0)
    vectorizer = TfidfVectorizer(min_df=2, sublinear_tf=True)
    reference = LogisticRegression(C=3.0, max_iter=5_000, random_state=0)
    reference.fit(vectorizer.fit_transform(texts), labels)
    queries = QUERIES + _corpus(20, seed=3, classes=classes)[0]
    expected = reference.predict_proba(vectorizer.transform(queries))
    got = model.predict_proba(queries, batch_size=4)
    assert got.shape == (len(queries), classes)
    assert np.allclose(got.numpy(), expected, atol=1e-6)
    assert torch.allclose(got.sum(1), torch.ones(len(queries)))
    assert np.allclose(model.features(queries).toarray(), vectorizer.transform(queries).toarray())
    assert np.allclose(model.idf.numpy(), vectorizer.idf_)  # type: ignore[union-attr]


def test_round_trip_through_a_sealed_checkpoint(tmp_path: Path) -> None:
    texts, labels = _corpus(60, seed=4)
    for model in (
        fit_naive_bayes(texts, labels, ("ham", "spam")),
        fit_logistic_regression(texts, labels, ("ham", "spam")),
    ):
        tensors, meta = model.to_tensors()
        save_checkpoint(tmp_path / model.weighting, tensors, meta)
        loaded_tensors, loaded_meta = load_checkpoint(tmp_path / model.weighting)
        again = LinearTextClassifier.from_tensors(loaded_tensors, loaded_meta)
        assert again.weighting == model.weighting and again.vocabulary == model.vocabulary
        assert torch.equal(again.predict_proba(QUERIES), model.predict_proba(QUERIES))
    with pytest.raises(ValueError, match="not a aisec-linear-text-1 model"):
        LinearTextClassifier.from_tensors(tensors, meta | {"format": "other"})


def test_word_weights_are_log_odds_per_occurrence() -> None:
    texts, labels = _corpus(80, seed=5)
    model = fit_naive_bayes(texts, labels, ("ham", "spam"))
    spam_weights = model.word_weights(1)
    assert set(spam_weights) == set(model.vocabulary)
    assert spam_weights["free"] > 0 > spam_weights["meeting"]
    assert model.word_weights(0)["free"] == pytest.approx(-spam_weights["free"])
    # One more occurrence of a known word moves the log-odds by exactly its weight.
    base = model.logits(["the offer"])
    more = model.logits(["the offer free"])
    change = float((more[0, 1] - more[0, 0]) - (base[0, 1] - base[0, 0]))
    assert change == pytest.approx(spam_weights["free"])
    with pytest.raises(ValueError, match="class_index"):
        model.word_weights(2)


def test_bad_inputs_are_clear_errors() -> None:
    texts, labels = _corpus(40, seed=6)
    model = fit_naive_bayes(texts, labels, ("ham", "spam"))
    with pytest.raises(TypeError, match="list of strings"):
        model.predict_proba("one string")
    with pytest.raises(TypeError, match=r"texts\[1\]"):
        model.predict_proba(["ok", 3])  # type: ignore[list-item]
    assert model.predict_proba([]).shape == (0, 2)
    assert model.predict_proba(["\ud800 free"]).shape == (1, 2)  # a lone surrogate is fine
    with pytest.raises(ValueError, match="every class"):
        fit_naive_bayes(texts, np.zeros(len(texts), np.int64), ("ham", "spam"))
    with pytest.raises(ValueError, match="one per text"):
        fit_logistic_regression(texts, labels[:-1], ("ham", "spam"))
    with pytest.raises(ValueError, match="alpha"):
        fit_naive_bayes(texts, labels, ("ham", "spam"), alpha=0.0)
    with pytest.raises(ValueError, match="weights must be"):
        LinearTextClassifier(["a", "b"], ("x", "y"), torch.zeros(2, 3), torch.zeros(2))
    with pytest.raises(ValueError, match="needs idf"):
        LinearTextClassifier(
            ["a"], ("x", "y"), torch.zeros(2, 1), torch.zeros(2), weighting="tfidf"
        )
    with pytest.raises(ValueError, match="twice"):
        LinearTextClassifier(["a", "a"], ("x", "y"), torch.zeros(2, 2), torch.zeros(2))
