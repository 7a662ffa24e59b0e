"""Spam-filter poisoning: the attack e-mails hold the dictionary or the known words, are seeded
and counted; the SpamBayes-style filter scores as published, round-trips without pickle, and
the dictionary attack makes it misclassify ham on a tiny synthetic corpus."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

import numpy as np
import pytest
import torch

from aisec.attacks.poisoning.spam_dictionary import (
    attacker_dictionary,
    dictionary_attack,
    focused_attack,
    guessed_words,
)
from aisec.evaluate.spam_poisoning import (
    focused_attack_effect,
    poisoning_effect,
    spam_filter_rates,
)
from aisec.models.spambayes import (
    SpamBayesClassifier,
    SpamBayesOptions,
    chi2_scores,
    fit_spambayes,
    robinson_probability,
    token_set,
    tokenize,
)


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


# ---------------------------------------------------------------- attack e-mails


def test_attacker_dictionary_orders_words_by_document_frequency() -> None:
    texts = ["Alpha beta beta gamma", "beta delta", "ALPHA beta", "x y"]
    assert attacker_dictionary(texts) == ["beta", "alpha", "delta", "gamma"]
    assert attacker_dictionary(texts, 2) == ["beta", "alpha"]
    assert attacker_dictionary([]) == []


@pytest.mark.parametrize("size", [0, -1, 1.5, True])
def test_attacker_dictionary_rejects_bad_size(size: object) -> None:
    with pytest.raises(ValueError, match="size"):
        attacker_dictionary(["a text"], size)  # type: ignore[arg-type]


def test_dictionary_attack_emails_hold_every_word_and_are_seeded() -> None:
    words = [f"word{i}" for i in range(40)]
    emails = dictionary_attack(words, 3, seed=1)
    assert len(emails) == 3
    for email in emails:
        assert email.startswith("Subject: ")
        assert set(words) <= token_set(email)
        assert token_set(email) <= set(words) | {"subject"}
    assert dictionary_attack(words, 3, seed=1) == emails
    assert dictionary_attack(words, 3, seed=2) != emails
    assert len({tuple(tokenize(e)) for e in emails}) == 3  # each e-mail in its own order
    assert dictionary_attack(words, 0) == []


@pytest.mark.parametrize(
    ("words", "n", "match"),
    [
        ([], 1, "at least one word"),
        (["two words"], 1, "single words"),
        (["a"], 1, "single words"),
        (["dot."], 1, "single words"),
        (["fine"], -1, "n_emails"),
        (["fine"], 1.0, "n_emails"),
    ],
)
def test_dictionary_attack_rejects_bad_input(words: list[str], n: object, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        dictionary_attack(words, n)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        dictionary_attack("word", 1)
    with pytest.raises(TypeError, match="seed"):
        dictionary_attack(["word"], 1, seed=True)


def test_focused_attack_holds_the_known_words_only() -> None:
    target = "Subject: our bid\n\nThe bid for the Acme contract is 42 million, regards Bob"
    distinct = list(dict.fromkeys(tokenize(target)))
    known = guessed_words(target, 0.5, seed=3)
    assert len(known) == round(0.5 * len(distinct))
    assert set(known) <= set(distinct)
    assert known == [w for w in distinct if w in known]  # in the target's order
    emails = focused_attack(target, 4, known_fraction=0.5, seed=3)
    assert len(emails) == 4
    for email in emails:
        assert token_set(email) == set(known) | {"subject"}
    assert focused_attack(target, 4, known_fraction=0.5, seed=3) == emails
    assert guessed_words(target, 1.0) == distinct
    assert guessed_words(target, 0.0) == []
    assert token_set(focused_attack(target, 1, known_fraction=0.0)[0]) == {"subject"}
    with_filler = focused_attack(target, 1, known_fraction=0.0, filler=["viagra", "cheap"])[0]
    assert token_set(with_filler) == {"subject", "viagra", "cheap"}


@pytest.mark.parametrize("fraction", [-0.1, 1.5, float("nan"), True])
def test_focused_attack_rejects_bad_fraction(fraction: object) -> None:
    with pytest.raises(ValueError, match="known_fraction"):
        focused_attack("a target text", 1, known_fraction=fraction)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="target_text"):
        focused_attack(b"bytes", 1)  # type: ignore[arg-type]


# ---------------------------------------------------------------- the SpamBayes-style filter


def _chi2q(x2: float, v: int) -> float:
    """SpamBayes' series for the chi-squared survival function (even degrees of freedom)."""
    m = x2 / 2.0
    total = term = math.exp(-m)
    for i in range(1, v // 2):
        term *= m / i
        total += term
    return min(total, 1.0)


def _reference_score(probabilities: list[float]) -> float:
    """Fisher's combination as SpamBayes' chi2_spamprob, with every entry a clue."""
    n = len(probabilities)
    spam = 1.0 - _chi2q(-2.0 * sum(math.log(1 - p) for p in probabilities), 2 * n)
    ham = 1.0 - _chi2q(-2.0 * sum(math.log(p) for p in probabilities), 2 * n)
    return (spam - ham + 1.0) / 2.0


def test_chi2_scores_match_the_published_series() -> None:
    rng = np.random.default_rng(0)
    for n in (1, 3, 20, 90):  # at most 150 clues: all of them count
        p = np.concatenate([rng.uniform(0.01, 0.39, n // 2 + 1), rng.uniform(0.61, 0.99, n)])
        assert chi2_scores(p[None, :])[0] == pytest.approx(_reference_score(p.tolist()), abs=1e-8)
    # order and padding do not change a score; weak tokens are not clues
    p = rng.uniform(0.01, 0.99, 60)
    padded = np.concatenate([p[::-1], np.full(7, 0.5), [0.55, 0.45]])
    assert chi2_scores(p[None, :])[0] == chi2_scores(padded[None, :])[0]
    assert chi2_scores(np.full((2, 3), 0.5)).tolist() == [0.5, 0.5]
    assert chi2_scores(np.zeros((0, 4))).shape == (0,)


def test_chi2_scores_keep_the_most_extreme_clues() -> None:
    p = np.array([[0.99, 0.2, 0.3, 0.35]])
    assert chi2_scores(p, max_discriminators=1)[0] == pytest.approx(_reference_score([0.99]))
    assert chi2_scores(p, max_discriminators=2)[0] == pytest.approx(_reference_score([0.99, 0.2]))
    tie = np.array([[0.2, 0.8]])  # equal strength: the larger f is kept, as SpamBayes sorts
    assert chi2_scores(tie, max_discriminators=1)[0] == pytest.approx(_reference_score([0.8]))
    with pytest.raises(ValueError, match="between 0 and 1"):
        chi2_scores(np.array([[0.0, 0.5]]))
    with pytest.raises(ValueError, match="2-D"):
        chi2_scores(np.array([0.2, 0.5]))


def test_robinson_probability_follows_the_formula() -> None:
    f = robinson_probability(np.array([1, 0, 0, 3]), np.array([0, 1, 0, 3]), 1, 1)
    s, x = 0.45, 0.5
    assert f[0] == pytest.approx((s * x + 1.0) / (s + 1))
    assert f[1] == pytest.approx((s * x + 0.0) / (s + 1))
    assert f[2] == 0.5  # never seen: the prior exactly
    assert f[3] == pytest.approx(0.5)
    # document frequencies: spam in 1 of 10 spam and 1 of 100 ham -> spammy
    assert robinson_probability(np.array([1]), np.array([1]), 10, 100)[0] > 0.7


def _filter() -> SpamBayesClassifier:
    texts = [
        "Subject: cheap pills\n\nbuy cheap pills now, cheap viagra",
        "Subject: offer\n\nbuy now and win money",
        "Subject: meeting\n\nthe project meeting is moved to monday",
        "Subject: report\n\nplease review the project report before the meeting",
    ]
    return fit_spambayes(texts, [1, 1, 0, 0])


def test_spambayes_scores_known_tokens() -> None:
    model = _filter()
    assert model.n_spam == 2 and model.n_ham == 2
    assert model.ham_counts[model.index["project"]] == 2
    assert model.spam_counts[model.index["cheap"]] == 1  # a document frequency, not a count
    assert model.token_probability("cheap") > 0.5 > model.token_probability("project")
    assert model.token_probability("unseen") == 0.5
    scores = model.scores(["cheap viagra pills", "project meeting report", "", "unseen words"])
    assert ((scores >= 0) & (scores <= 1)).all()
    assert scores[0] > 0.9 and scores[1] < 0.2
    assert scores[2] == 0.5 and scores[3] == 0.5
    assert model.dispositions(["cheap viagra pills", "project meeting", "unseen"]) == [
        "spam",
        "ham",
        "unsure",
    ]
    assert model.scores(["pills cheap viagra"])[0] == scores[0]  # order-free
    proba = model.predict_proba(["cheap viagra pills", "project meeting report"])
    assert proba.dtype == torch.float32 and proba.shape == (2, 2)
    assert torch.allclose(proba.sum(1), torch.ones(2))
    assert proba.argmax(1).tolist() == [1, 0]
    assert model.predict_proba([]).shape == (0, 2)
    assert model.class_names == ("ham", "spam")


def test_spambayes_updated_equals_refit_and_leaves_the_original() -> None:
    texts, labels = corpus(30, 15, 0)
    full = fit_spambayes(texts, labels)
    part = fit_spambayes(texts[:20], labels[:20])
    before = part.scores(texts)
    grown = part.updated(texts[20:], labels[20:])
    np.testing.assert_array_equal(part.scores(texts), before)
    assert (grown.n_ham, grown.n_spam) == (full.n_ham, full.n_spam)
    np.testing.assert_array_equal(grown.scores(texts), full.scores(texts))


def test_spambayes_serializes_without_pickle(tmp_path: Path) -> None:
    options = SpamBayesOptions(max_discriminators=20, spam_cutoff=0.8)
    texts, labels = corpus(30, 15, 1)
    model = fit_spambayes(texts, labels, ("good", "bad"), options=options)
    tensors, metadata = model.to_tensors()
    assert set(tensors) == {"ham_counts", "spam_counts"}
    json.dumps(metadata)
    again = SpamBayesClassifier.from_tensors(tensors, metadata)
    probe, _ = corpus(10, 10, 2)
    np.testing.assert_array_equal(again.scores(probe), model.scores(probe))
    assert again.options == options and again.class_names == ("good", "bad")
    path = tmp_path / "filter"
    model.save(path)
    np.testing.assert_array_equal(SpamBayesClassifier.load(path).scores(probe), model.scores(probe))
    with pytest.raises(ValueError, match="format"):
        SpamBayesClassifier.from_tensors(tensors, {**metadata, "format": "other"})
    with pytest.raises(ValueError, match="incomplete"):
        SpamBayesClassifier.from_tensors({}, metadata)


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"labels": [0, 2]}, ValueError),
        ({"labels": [0]}, ValueError),
        ({"labels": [0.0, 1.0]}, ValueError),
        ({"class_names": ("ham",)}, ValueError),
        ({"class_names": ("x", "x")}, ValueError),
        ({"texts": "one text"}, TypeError),
        ({"texts": ["a", 3]}, TypeError),
    ],
)
def test_fit_spambayes_rejects_bad_input(kwargs: dict[str, object], error: type) -> None:
    args: dict[str, object] = {"texts": ["a spam", "a ham"], "labels": [1, 0]}
    args.update(kwargs)
    with pytest.raises(error):
        fit_spambayes(**args)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"unknown_word_strength": 0.0},
        {"unknown_word_prob": 1.0},
        {"minimum_prob_strength": 0.0},
        {"max_discriminators": 0},
        {"ham_cutoff": 0.95},
        {"spam_cutoff": 1.5},
    ],
)
def test_spambayes_options_reject_bad_values(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        SpamBayesOptions(**kwargs)  # type: ignore[arg-type]


# ---------------------------------------------------------------- the attacks work


def test_dictionary_attack_makes_spambayes_misclassify_ham() -> None:
    train, labels = corpus(120, 60, 0)
    test, test_labels = corpus(100, 50, 1)
    attacker, _ = corpus(120, 60, 2)  # the attacker's own mail, disjoint from the victim's
    emails = dictionary_attack(attacker_dictionary(attacker), 4, seed=0)  # 2% of training
    effect = poisoning_effect(
        fit_spambayes, train, labels, emails, test, test_labels, ham_cutoff=0.2
    )
    assert effect.n_poison == 4 and effect.n_train == 180
    assert effect.clean.ham_misclassified.value <= 0.05
    assert effect.poisoned.ham_misclassified.value >= effect.clean.ham_misclassified.value + 0.2
    assert effect.poisoned.ham_not_ham is not None and effect.poisoned.ham_not_ham.value >= 0.5
    assert effect.clean.ham_misclassified.total == 100 and effect.clean.spam_missed.total == 50
    json.dumps(effect.to_dict())
    assert [row["filter"] for row in effect.rows()] == ["clean", "poisoned"]


def test_focused_attack_blocks_its_target_on_spambayes() -> None:
    train, labels = corpus(120, 60, 0)
    targets, _ = corpus(6, 0, 5)
    clean = fit_spambayes(train, labels)
    effect = focused_attack_effect(
        clean,
        lambda emails: clean.updated(emails, [1] * len(emails)),
        targets,
        lambda target: focused_attack(target, 5, known_fraction=0.8, seed=0),
        ham_cutoff=0.2,
    )
    assert effect.clean_correct.count == 6
    assert effect.blocked.count >= 5
    assert effect.n_poison == 5
    before = np.array(effect.clean_spam_probability)
    after = np.array(effect.poisoned_spam_probability)
    assert (after > before).all()


def test_spam_filter_rates_counts_and_checks() -> None:
    model = _filter()
    rates = spam_filter_rates(
        model,
        ["cheap pills", "project meeting", "unseen", "cheap viagra"],
        [1, 0, 0, 0],
        ham_cutoff=0.2,
    )
    assert rates.ham_misclassified.total == 3 and rates.spam_missed.total == 1
    assert rates.ham_misclassified.count == 1  # "cheap viagra"
    assert rates.ham_not_ham is not None and rates.ham_not_ham.count == 2  # + "unseen" (unsure)
    assert rates.accuracy.count == 3
    with pytest.raises(ValueError, match="spam_index"):
        spam_filter_rates(model, ["x"], [0], spam_index=2)
    with pytest.raises(ValueError, match="ham_cutoff"):
        spam_filter_rates(model, ["x"], [0], ham_cutoff=2.0)
    with pytest.raises(ValueError, match="one entry per text"):
        spam_filter_rates(model, ["x"], [0, 1])
