"""Good-word pools from the attacker's corpus, and the good-word and contextual recipes."""

from __future__ import annotations

from typing import Any

import pytest
from insertion_stubs import HAM_TEXTS, SPAM_TEXTS, KeywordSpamFilter

from aisec.attacks.text import RECIPES, build_recipe, good_words, good_words_passive
from aisec.attacks.text.constraints import MaxWordsAdded
from aisec.attacks.text.core import AttackText
from aisec.attacks.text.good_words import (
    benign_sentences,
    frequent_ham_words,
    ham_indicative_sentences,
    ham_indicative_words,
    ham_log_ratios,
    words_of,
)

CORPUS: dict[str, Any] = {"ham_texts": HAM_TEXTS, "spam_texts": SPAM_TEXTS, "min_count": 2}
SPAM = [
    "Subject: free money\n\nClick here to claim your free money now.",
    "Subject: winner\n\nFree money and a free offer, click now winner!",
    "Subject: offer\n\nA free offer: money for every winner who clicks.",
]
INSERTION_RECIPES = ("good-words", "good-words-passive", "contextual-insertion")


# --- pools ---------------------------------------------------------------------------------


def test_words_follow_sklearns_token_pattern_alphabetic_only() -> None:
    words = words_of("Hi, A b2b MEETING at 10am: don't_stop ok")
    assert words == ["hi", "meeting", "at", "don", "ok"]


def test_frequent_ham_words() -> None:
    # In every ham message (ties: alphabetical); one-letter words are no words.
    assert frequent_ham_words(HAM_TEXTS, 3) == ["notes", "subject", "the"]
    assert frequent_ham_words(["bb aa x", "aa"], 5) == ["aa", "bb"]


def test_ham_indicative_words_rank_ham_only_words_first() -> None:
    words = ham_indicative_words(HAM_TEXTS, SPAM_TEXTS, 5, min_count=2)
    assert words and set(words) <= set(words_of(" ".join(HAM_TEXTS)))
    spam_words = set(words_of(" ".join(SPAM_TEXTS)))
    assert not set(words[:3]) & spam_words
    assert {"meeting", "notes", "project"} <= set(words)
    ratios = ham_log_ratios(HAM_TEXTS, SPAM_TEXTS, min_count=2)
    assert ratios["meeting"] > 0 > ratios["free"]
    assert [ratios[w] for w in words] == sorted((ratios[w] for w in words), reverse=True)
    # min_count: a word in one ham message only is never chosen.
    once = ham_indicative_words(HAM_TEXTS, SPAM_TEXTS, 100, min_count=2)
    assert "room" not in once and "room" in ham_indicative_words(
        HAM_TEXTS, SPAM_TEXTS, 100, min_count=1
    )


def test_benign_sentences_are_clean_and_deduplicated() -> None:
    ham = [
        *HAM_TEXTS,
        HAM_TEXTS[0],  # duplicates are kept once
        "Subject: x\n\nCall 555 1234 5678 9999 now please friend ok.",  # digits
        "Subject: y\n\nToo short here.\nI wrote to bob@example.com about the new plan today.",
    ]
    sentences = benign_sentences(ham)
    assert sentences and len(sentences) == len({s.lower() for s in sentences})
    for sentence in sentences:
        assert 6 <= len(sentence.split()) <= 30
        assert "http" not in sentence and "@" not in sentence and ">" not in sentence
        assert not sentence.startswith("Subject") and sentence[-1] in ".!?"
        assert sum(c.isdigit() for c in sentence) <= 0.1 * len(sentence)
    assert "The project meeting moves to tomorrow after lunch, in the usual room." in sentences
    assert not any("quoted" in s for s in sentences)
    sample = benign_sentences(ham, 2, seed=1)
    assert len(sample) == 2 and set(sample) <= set(sentences)
    assert sample == benign_sentences(ham, 2, seed=1)
    assert benign_sentences(ham, 1000) == sentences


def test_ham_indicative_sentences_are_ranked() -> None:
    ratios = ham_log_ratios(HAM_TEXTS, SPAM_TEXTS, min_count=2)
    ranked = ham_indicative_sentences(HAM_TEXTS, SPAM_TEXTS, 10, min_count=2)
    scores = [sum(ratios.get(w, 0.0) for w in words_of(s)) for s in ranked]
    assert ranked and scores == sorted(scores, reverse=True) and min(scores) > 0


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda: frequent_ham_words(None, 3), ValueError, "ham_texts is required"),  # type: ignore[arg-type]
        (lambda: frequent_ham_words("ham text", 3), TypeError, "sequence of strings"),
        (lambda: frequent_ham_words([], 3), ValueError, "at least one"),
        (lambda: frequent_ham_words([1], 3), TypeError, "strings"),  # type: ignore[list-item]
        (lambda: frequent_ham_words(HAM_TEXTS, 0), ValueError, "size"),
        (lambda: ham_log_ratios(HAM_TEXTS, SPAM_TEXTS, alpha=0), ValueError, "alpha"),
        (lambda: ham_log_ratios(HAM_TEXTS, SPAM_TEXTS, min_count=0), ValueError, "min_count"),
        (lambda: benign_sentences(HAM_TEXTS, 0), ValueError, "size"),
    ],
)
def test_pools_reject_bad_arguments(call: Any, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        call()


# --- recipes -------------------------------------------------------------------------------


def test_the_active_recipe_flips_the_filter_with_few_good_words() -> None:
    model = KeywordSpamFilter()
    pool = ham_indicative_words(HAM_TEXTS, SPAM_TEXTS, 200, min_count=2)
    run = good_words(**CORPUS).run(model, SPAM, [1] * len(SPAM))
    assert run.summary is not None and run.summary.succeeded == len(SPAM)
    assert 1 <= run.summary.mean_words_added <= 10
    for result in run.results:
        assert model.predict_proba([result.adversarial]).argmax().item() == 0
        assert result.words_changed == 0 and 1 <= result.words_added <= 10
        assert {piece for _, piece in result.insertions} <= set(pool)
        assert result.queries <= 1 + result.words_added * len(pool)
    assert run.config["search"]["search"] == "GreedyInsertion"


def test_the_passive_recipe_adds_a_fixed_prefix_with_one_query_per_count() -> None:
    model = KeywordSpamFilter()
    words = ham_indicative_words(HAM_TEXTS, SPAM_TEXTS, 6, min_count=2)
    run = good_words_passive(max_words=6, **CORPUS).run(model, SPAM, [1] * len(SPAM))
    assert run.summary is not None and run.summary.succeeded >= 1
    for result in run.results:
        k = result.words_added
        assert [piece for _, piece in result.insertions] == words[:k]
        assert result.queries == 1 + k  # the original, then one query per word count
        if result.success:  # and k is the first count that gets through
            shorter = AttackText.from_text(result.original)
            for gap, piece in result.insertions[:-1]:
                shorter = shorter.insert(gap, piece)
            assert model.predict_proba([shorter.text]).argmax().item() == 1
        else:
            assert k == 6


def test_contextual_insertion_adds_at_most_two_ham_sentences() -> None:
    model = KeywordSpamFilter()
    pool = set(benign_sentences(HAM_TEXTS))
    for ranked in (True, False):
        attack = build_recipe("contextual-insertion", ranked=ranked, **CORPUS)
        run = attack.run(model, SPAM, [1] * len(SPAM))
        assert run.summary is not None and run.summary.succeeded >= 1
        for result in run.results:
            pieces = [piece for _, piece in result.insertions]
            assert len(pieces) <= 2 and len(set(pieces)) == len(pieces)
            assert set(pieces) <= pool
            assert result.words_added == sum(len(AttackText.from_text(p)) for p in pieces)


@pytest.mark.parametrize("name", INSERTION_RECIPES)
def test_recipes_respect_max_words_and_the_query_budget(name: str) -> None:
    model = KeywordSpamFilter()
    for max_words, budget in [(1, None), (3, 4), (20, 7)]:
        attack = build_recipe(name, max_words=max_words, query_budget=budget, **CORPUS)
        assert any(isinstance(c, MaxWordsAdded) for c in attack.constraints)
        for result in attack.run(model, SPAM, [1] * len(SPAM)).results:
            assert result.words_added <= max_words
            assert budget is None or result.queries <= budget


@pytest.mark.parametrize("name", INSERTION_RECIPES)
def test_recipes_take_the_experiment_layers_arguments(name: str) -> None:
    # aisec.experiments.text builds every recipe with these keyword arguments.
    attack = build_recipe(
        name, encoder=None, search="default", query_budget=50, max_fraction=0.25, **CORPUS
    )
    assert attack.name == name and attack.goal.query_budget == 50
    assert RECIPES[name] is not None
    with pytest.raises(ValueError, match="search='default'"):
        build_recipe(name, search="greedy", **CORPUS)
    with pytest.raises(ValueError, match="unknown search"):
        build_recipe(name, search="nope", **CORPUS)


@pytest.mark.parametrize("name", INSERTION_RECIPES)
@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"ham_texts": None}, ValueError, "ham_texts is required"),
        ({"spam_texts": None}, ValueError, "spam_texts is required"),
        ({"ham_texts": "one message"}, TypeError, "ham_texts must be a sequence"),
        ({"position": "middle"}, ValueError, "position"),
        ({"max_fraction": 0}, ValueError, "max_fraction"),
        ({"target": -1}, ValueError, "target"),
    ],
)
def test_recipes_reject_bad_arguments(
    name: str, kwargs: dict[str, Any], error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        build_recipe(name, **(CORPUS | kwargs))


def test_recipe_specific_arguments_are_checked() -> None:
    with pytest.raises(ValueError, match="max_words"):
        good_words(max_words=0, **CORPUS)
    with pytest.raises(TypeError, match="max_words"):
        good_words_passive(max_words=2.5, **CORPUS)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="word_list"):
        good_words(word_list="dictionary", **CORPUS)
    with pytest.raises(ValueError, match="no ham-indicative word"):
        good_words(ham_texts=["zz qq"], spam_texts=["zz qq"])
    with pytest.raises(ValueError, match="max_sentences"):
        build_recipe("contextual-insertion", max_sentences=0, **CORPUS)
    with pytest.raises(ValueError, match="usable sentence"):
        build_recipe("contextual-insertion", ham_texts=["too short."], spam_texts=["x"])
    frequent = good_words(word_list="frequent-ham", **CORPUS)
    assert frequent.transformation.describe()["words"] >= 1
