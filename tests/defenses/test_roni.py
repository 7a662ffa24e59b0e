"""RONI: the dictionary attack's e-mails are rejected and most genuine mail is kept; the
count-based fast paths give the generic path's verdicts; costs are recorded; bad input fails."""

from __future__ import annotations

import json
import random
from collections.abc import Sequence

import numpy as np
import pytest
import torch

from aisec.attacks.poisoning.spam_dictionary import attacker_dictionary, dictionary_attack
from aisec.defenses.detect.roni import (
    RONI,
    CountLearner,
    NaiveBayesLearner,
    RoniMetric,
    SpamBayesLearner,
    count_matrix,
)
from aisec.evaluate.spam_poisoning import roni_screening
from aisec.models.spambayes import SpamBayesOptions
from aisec.models.text import TextClassifier


def corpus(n_ham: int, n_spam: int, seed: int) -> tuple[list[str], list[int]]:
    """Synthetic mail: Zipf-distributed ham and spam words and some words common to both."""
    rng = random.Random(seed)
    ham_words = [f"ham{i}" for i in range(2000)]
    spam_words = [f"spam{i}" for i in range(150)]
    common = [f"word{i}" for i in range(50)]
    ham_weights = [1 / (i + 1) for i in range(len(ham_words))]
    spam_weights = [1 / (i + 1) for i in range(len(spam_words))]

    def message(words: list[str], weights: list[float]) -> str:
        body = rng.choices(words, weights, k=15) + rng.choices(common, k=8)
        return "Subject: " + " ".join(body[:3]) + "\n\n" + " ".join(body)

    texts = [message(ham_words, ham_weights) for _ in range(n_ham)]
    texts += [message(spam_words, spam_weights) for _ in range(n_spam)]
    return texts, [0] * n_ham + [1] * n_spam


class _SklearnNB:
    """Multinomial naive Bayes straight from scikit-learn: an independent generic learner."""

    class_names: tuple[str, ...] = ("ham", "spam")

    def __init__(self, texts: Sequence[str], labels: Sequence[int]) -> None:
        from sklearn.feature_extraction.text import CountVectorizer
        from sklearn.naive_bayes import MultinomialNB

        self.vectorizer = CountVectorizer(token_pattern=r"(?u)\b\w\w+\b")
        self.model = MultinomialNB(alpha=1.0).fit(self.vectorizer.fit_transform(texts), labels)

    def predict_proba(self, texts: Sequence[str], batch_size: int = 256) -> torch.Tensor:
        return torch.tensor(self.model.predict_proba(self.vectorizer.transform(texts)))


def _setting(
    n_attack: int = 3,
) -> tuple[list[str], np.ndarray, np.ndarray, list[str], list[int]]:
    trusted, trusted_y = corpus(60, 30, 3)
    clean, clean_y = corpus(40, 20, 4)
    attacker, _ = corpus(120, 60, 2)
    emails = dictionary_attack(attacker_dictionary(attacker), n_attack, seed=0)
    texts = clean + emails
    labels = np.array(clean_y + [1] * n_attack)
    is_attack = np.r_[np.zeros(len(clean), bool), np.ones(n_attack, bool)]
    return texts, labels, is_attack, trusted, trusted_y


def test_roni_rejects_dictionary_emails_and_keeps_genuine_mail() -> None:
    texts, labels, is_attack, trusted, trusted_y = _setting()
    roni = RONI(SpamBayesLearner())
    assert roni.has_fast_path
    result = roni.screen(texts, labels, trusted, trusted_y, seed=0)
    assert result.fast
    assert result.rejected[is_attack].all()
    assert result.rejected[~is_attack].mean() <= 0.1
    assert (result.impact[is_attack] < result.impact[~is_attack].min()).all()
    assert result.fits == 5 * (1 + len(texts))
    assert result.seconds >= 0 and result.n_candidates == len(texts)
    json.dumps(result.to_dict())
    screening = roni_screening(result, is_attack, labels)
    assert screening.attack_rejected.count == 3 and screening.attack_rejected.total == 3
    assert screening.ham_rejected.total == 40 and screening.spam_rejected.total == 20
    json.dumps(screening.to_dict())
    again = roni.screen(texts, labels, trusted, trusted_y, seed=0)
    np.testing.assert_array_equal(again.impact, result.impact)


@pytest.mark.parametrize(
    "options",
    [SpamBayesOptions(), SpamBayesOptions(max_discriminators=5, minimum_prob_strength=0.05)],
)
@pytest.mark.parametrize("metric", ["accuracy", "ham"])
def test_spambayes_fast_path_equals_generic_path(
    options: SpamBayesOptions, metric: RoniMetric
) -> None:
    texts, labels, _, trusted, trusted_y = _setting(n_attack=2)
    texts, labels = texts[::4], labels[::4]  # every 4th: 15 candidates, one attack e-mail
    roni = RONI(
        SpamBayesLearner(options), train_size=10, validation_size=20, repeats=2, metric=metric
    )
    fast = roni.screen(texts, labels, trusted, trusted_y, seed=1, fast=True)
    slow = roni.screen(texts, labels, trusted, trusted_y, seed=1, fast=False)
    assert fast.fast and not slow.fast
    np.testing.assert_array_equal(fast.impact, slow.impact)
    np.testing.assert_array_equal(fast.rejected, slow.rejected)
    assert fast.fits == slow.fits == 2 * (1 + len(texts))


def test_naive_bayes_fast_path_equals_scikit_learn() -> None:
    class Learner(NaiveBayesLearner):
        def __call__(self, texts: Sequence[str], labels: Sequence[int]) -> TextClassifier:
            return _SklearnNB(texts, labels)

    texts, labels, _, trusted, trusted_y = _setting(n_attack=2)
    texts, labels = texts[::4], labels[::4]
    roni = RONI(Learner(), train_size=10, validation_size=20, repeats=2)
    fast = roni.screen(texts, labels, trusted, trusted_y, fast=True)
    slow = roni.screen(texts, labels, trusted, trusted_y, fast=False)
    np.testing.assert_array_equal(fast.impact, slow.impact)
    # and the learner's own fit (aisec.models.linear_text) agrees with scikit-learn
    plain = RONI(NaiveBayesLearner(), train_size=10, validation_size=20, repeats=2)
    np.testing.assert_array_equal(
        plain.screen(texts, labels, trusted, trusted_y, fast=False).impact, slow.impact
    )


def test_generic_path_takes_any_fit_function() -> None:
    texts, labels, _, trusted, trusted_y = _setting(n_attack=1)
    texts, labels = texts[-6:], labels[-6:]
    roni = RONI(_SklearnNB, train_size=10, validation_size=20, repeats=1)
    assert not roni.has_fast_path
    result = roni.screen(texts, labels, trusted, trusted_y)
    assert not result.fast and result.fits == 1 + 6
    assert result.impact.shape == (6,)
    with pytest.raises(ValueError, match="CountLearner"):
        roni.screen(texts, labels, trusted, trusted_y, fast=True)


def test_empty_candidates_and_protocol() -> None:
    _, _, _, trusted, trusted_y = _setting()
    result = RONI(SpamBayesLearner()).screen([], [], trusted, trusted_y)
    assert result.n_candidates == 0 and result.n_rejected == 0
    assert isinstance(SpamBayesLearner(), CountLearner)
    assert isinstance(NaiveBayesLearner(), CountLearner)
    matrix, words = count_matrix(["Bb cc", "cc DD d"])
    assert words == ["bb", "cc", "dd"] and matrix.toarray().tolist() == [[1, 1, 0], [0, 1, 1]]
    assert count_matrix(["", "a"])[0].shape == (2, 0)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"train_size": 1}, "train_size"),
        ({"validation_size": 0}, "validation_size"),
        ({"repeats": 0}, "repeats"),
        ({"threshold": -0.1}, "threshold"),
        ({"threshold": float("inf")}, "threshold"),
        ({"metric": "f1"}, "metric"),
    ],
)
def test_roni_rejects_bad_settings(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        RONI(SpamBayesLearner(), **kwargs)  # type: ignore[arg-type]


def test_roni_rejects_bad_input() -> None:
    _, _, _, trusted, trusted_y = _setting()
    roni = RONI(SpamBayesLearner())
    with pytest.raises(TypeError, match="callable"):
        RONI("fit")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="at least"):
        roni.screen(["x"], [0], trusted[:60], trusted_y[:60])
    with pytest.raises(ValueError, match="both"):
        roni.screen(["x"], [0], trusted[:80], [0] * 79 + [1])
    with pytest.raises(ValueError, match="candidate_labels"):
        roni.screen(["x"], [0, 1], trusted, trusted_y)
    with pytest.raises(ValueError, match="candidate_labels"):
        roni.screen(["x"], [2], trusted, trusted_y)
    with pytest.raises(TypeError, match="candidate_texts"):
        roni.screen("x", [0], trusted, trusted_y)
    with pytest.raises(TypeError, match="seed"):
        roni.screen(["x"], [0], trusted, trusted_y, seed=1.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="alpha"):
        NaiveBayesLearner(alpha=0.0)
