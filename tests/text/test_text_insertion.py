"""Insertions and deletions: slots stay aligned, positions, MaxWordsAdded and GreedyInsertion."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from insertion_stubs import KeywordSpamFilter
from text_stubs import LexiconModel, StubSynonyms

from aisec.attacks.text import (
    DeleteWord,
    GreedyInsertion,
    InsertSentences,
    InsertWords,
    MaxWordsAdded,
    TargetedClassification,
    TextAttack,
    UntargetedClassification,
)
from aisec.attacks.text.attack import summarize
from aisec.attacks.text.constraints import RepeatModification
from aisec.attacks.text.core import AttackText
from aisec.attacks.text.insertion import POSITIONS, check_position, insertion_gap
from aisec.attacks.text.search import GreedyWordImportance, SearchContext
from aisec.attacks.text.transformations import WordSwapSynonym

SPAM = "Subject: free money\n\nClick here to claim your free money now."
HAM_WORDS = ["meeting", "thanks", "project"]
NEUTRAL = ["table", "window", "river", "garden"]


def _spam_attack(
    words: list[str],
    *,
    steps: int = 10,
    budget: int | None = None,
    position: str = "after-first-line",
    max_words: int | None = None,
) -> TextAttack:
    constraints = [] if max_words is None else [MaxWordsAdded(max_words)]
    return TextAttack(
        TargetedClassification(0, query_budget=budget),
        InsertWords(words, position=position),
        constraints,
        GreedyInsertion(steps),
    )


# --- AttackText ----------------------------------------------------------------------------


def test_insertions_keep_the_slots_aligned_and_render_between_them() -> None:
    original = AttackText.from_text(SPAM)
    inserted = original.insert(3, "meeting").insert(3, "thanks project").insert(0, "hello")
    assert inserted.words == original.words and inserted.gaps == original.gaps
    assert inserted.changed_indices(original) == [] and inserted.modified == frozenset()
    assert inserted.text == (
        "hello Subject: free money\n\nmeeting thanks project Click here to claim your free "
        "money now."
    )
    assert inserted.words_added(original) == 4 and inserted.words_deleted(original) == 0
    assert inserted.inserted_pieces() == ("meeting", "thanks project", "hello")
    # A substitution after an insertion still addresses the original's slot.
    swapped = inserted.replace_word(1, "cheap")
    assert swapped.changed_indices(original) == [1]
    assert swapped.text.startswith("hello Subject: cheap money\n\nmeeting")
    end = original.insert(len(original), "bye")
    assert end.text == SPAM + " bye"
    assert end.prefix_through_insertions() == end.text
    assert original.insert(2, "x").prefix_through_insertions() == "Subject: free x"
    assert original.prefix_through_insertions() == ""


def test_deletions_are_counted_and_rendered() -> None:
    original = AttackText.from_text("a good movie")
    deleted = original.delete_word(1)
    assert deleted.text == "a  movie"
    assert deleted.words_deleted(original) == 1 and deleted.changed_indices(original) == [1]
    assert deleted.insert(2, "fine").text == "a  fine movie"
    assert DeleteWord()(original, 1) == [""] and DeleteWord()(deleted, 1) == []
    assert DeleteWord().neighbours(original, 0) == [original.delete_word(0)]


def test_insertions_take_part_in_equality_and_hashing() -> None:
    original = AttackText.from_text("a good movie")
    a, b = original.insert(1, "very"), original.insert(1, "very")
    assert a == b and hash(a) == hash(b) and len({a, b, original}) == 2
    assert original.insert(1, "x").insert(1, "y") != original.insert(1, "y").insert(1, "x")


@pytest.mark.parametrize(
    ("gap", "words", "error"),
    [(-1, "x", ValueError), (4, "x", ValueError), (1, "  ", ValueError), (1, 3, TypeError)],
)
def test_insert_rejects_bad_arguments(gap: int, words: object, error: type[Exception]) -> None:
    with pytest.raises(error):
        AttackText.from_text("a good movie").insert(gap, words)  # type: ignore[arg-type]


@settings(max_examples=150, deadline=None)
@given(st.text(), st.data())
def test_inserted_words_become_slots_at_their_gap(text: str, data: st.DataObject) -> None:
    original = AttackText.from_text(text)
    gap = data.draw(st.integers(0, len(original)))
    piece = data.draw(st.sampled_from(["good", "thanks a lot", "meeting"]))
    rendered = AttackText.from_text(original.insert(gap, piece).text)
    words = list(original.words)
    assert list(rendered.words) == words[:gap] + piece.split() + words[gap:]


def test_default_neighbours_replace_the_slot() -> None:
    text = AttackText.from_text("a good movie")
    transformation = WordSwapSynonym(StubSynonyms())
    expected = [text.replace_word(1, s) for s in transformation(text, 1)]
    assert transformation.neighbours(text, 1) == expected


def test_a_deletion_attack_through_an_existing_search(lexicon_model: LexiconModel) -> None:
    attack = TextAttack(
        UntargetedClassification(), DeleteWord(), [RepeatModification()], GreedyWordImportance()
    )
    result = attack.attack(lexicon_model, "a good movie", 1)
    assert result.status == "succeeded" and result.changed_indices == (1,)
    assert result.words_deleted == 1 and result.words_added == 0


# --- positions -----------------------------------------------------------------------------


def test_positions_resolve_to_gaps() -> None:
    mail = AttackText.from_text(SPAM)  # slots: Subject free money | Click ...
    assert insertion_gap(mail, "start") == 0
    assert insertion_gap(mail, "end") == len(mail)
    assert insertion_gap(mail, "after-first-line") == 3
    assert mail.insert(3, "thanks").text.startswith("Subject: free money\n\nthanks Click")
    one_line = AttackText.from_text("free money now\n")
    assert insertion_gap(one_line, "after-first-line") == len(one_line)
    assert insertion_gap(mail, "end", reach=5) == 5
    assert insertion_gap(mail, "after-first-line", reach=2) == 2
    assert set(POSITIONS) == {"start", "end", "after-first-line"}
    with pytest.raises(ValueError, match="position"):
        check_position("middle")
    with pytest.raises(ValueError, match="position"):
        InsertWords(["x"], position="middle")


def test_insert_words_and_sentences_offer_the_right_pieces() -> None:
    text = AttackText.from_text("free money")
    words = InsertWords(["thanks", "meeting", "thanks"])
    assert words.pieces(text) == ["thanks", "meeting"]
    assert [t.text for t in words.neighbours(text, 2)] == [
        "free money thanks",
        "free money meeting",
    ]
    assert words.pieces(text.insert(2, "thanks")) == ["thanks", "meeting"]  # repeats allowed
    assert words(text, 0) == []  # an insertion replaces no slot
    ordered = InsertWords(["thanks", "meeting"], ordered=True)
    assert ordered.pieces(text) == ["thanks"]
    assert ordered.pieces(text.insert(2, "thanks")) == ["meeting"]
    assert ordered.pieces(text.insert(2, "thanks").insert(2, "meeting")) == []
    sentences = InsertSentences(["See you  tomorrow.", "Thanks a lot."])
    assert sentences.pieces(text.insert(0, "See you tomorrow.")) == ["Thanks a lot."]
    for bad, error in [
        ([], ValueError),
        ("thanks", TypeError),
        ([""], ValueError),
        ([3], TypeError),
    ]:
        with pytest.raises(error):
            InsertWords(bad)  # type: ignore[arg-type]


def test_max_words_added() -> None:
    original = AttackText.from_text("free money")
    constraint = MaxWordsAdded(2)
    texts = [original, original.insert(0, "a b"), original.insert(0, "a b").insert(2, "c")]
    assert constraint.check(original, texts) == [True, True, False]
    for bad, error in [(0, ValueError), (1.5, TypeError), (True, TypeError)]:
        with pytest.raises(error, match="max_words"):
            MaxWordsAdded(bad)  # type: ignore[arg-type]


# --- GreedyInsertion -----------------------------------------------------------------------


def test_greedy_insertion_flips_the_filter_and_reports_the_words() -> None:
    model = KeywordSpamFilter()
    result = _spam_attack(HAM_WORDS + NEUTRAL).attack(model, SPAM, 1)
    assert result.status == "succeeded" and result.adversarial_prediction == 0
    assert model.predict_proba([result.adversarial]).argmax().item() == 0
    assert result.words_changed == 0 and result.words_deleted == 0
    assert 1 <= result.words_added <= 10
    inserted = [piece for _, piece in result.insertions]
    assert len(inserted) == result.words_added and set(inserted) <= set(HAM_WORDS)
    rebuilt = AttackText.from_text(result.original)
    for gap, piece in result.insertions:
        rebuilt = rebuilt.insert(gap, piece)
    assert rebuilt.text == result.adversarial
    # Every step queries the whole pool in one batch (after the original's query).
    assert result.queries <= 1 + result.words_added * len(HAM_WORDS + NEUTRAL)
    summary = summarize([result])
    assert summary.mean_words_added == result.words_added
    assert result.to_dict()["words_added"] == result.words_added


def test_greedy_insertion_stops_without_gain_and_after_max_steps() -> None:
    model = KeywordSpamFilter()
    neutral = _spam_attack(NEUTRAL).attack(model, SPAM, 1)
    assert neutral.status == "failed" and neutral.words_added == 0
    assert neutral.queries == 1 + len(NEUTRAL)  # one step: nothing helped
    for steps in (1, 2, 3):
        short = _spam_attack(HAM_WORDS, steps=steps).attack(model, SPAM, 1)
        assert short.status == "failed" and short.words_added == steps
        assert short.queries <= 1 + steps * len(HAM_WORDS)


@pytest.mark.parametrize("budget", [1, 2, 4, 7, 12])
def test_greedy_insertion_respects_the_query_budget(budget: int) -> None:
    result = _spam_attack(HAM_WORDS + NEUTRAL, budget=budget).attack(KeywordSpamFilter(), SPAM, 1)
    assert result.queries <= budget
    if budget >= 2:  # the budget ran out after some steps: the best text so far is kept
        assert result.words_added >= 1


def test_max_words_added_holds_in_every_result() -> None:
    model = KeywordSpamFilter()
    texts = [SPAM, "Subject: winner\n\nFree money and a free offer, click now winner!"]
    for limit in (1, 2, 3):
        attack = _spam_attack(HAM_WORDS, max_words=limit)
        run = attack.run(model, texts, [1, 1])
        for result in run.results:
            assert result.words_added <= limit
        pieces = InsertSentences(["Thanks for the meeting notes today.", "See you at lunch."])
        sentences = TextAttack(
            TargetedClassification(0), pieces, [MaxWordsAdded(limit + 3)], GreedyInsertion(2)
        ).run(model, texts, [1, 1])
        assert all(r.words_added <= limit + 3 for r in sentences.results)


@pytest.mark.parametrize("position", POSITIONS)
def test_insertions_go_where_the_position_says(position: str) -> None:
    result = _spam_attack(HAM_WORDS, position=position).attack(KeywordSpamFilter(), SPAM, 1)
    assert result.status == "succeeded"
    gaps = {gap for gap, _ in result.insertions}
    original = AttackText.from_text(SPAM)
    assert gaps == {insertion_gap(original, position)}


@pytest.mark.parametrize("position", POSITIONS)
def test_insertions_stay_inside_a_token_window(position: str) -> None:
    window = 20
    model = KeywordSpamFilter(max_length=window)
    # A subject line longer than the window: "after-first-line" must move inside it.
    subject = "free money winner" + " very" * 25 if position == "after-first-line" else "free"
    text = f"Subject: {subject}\n\nClick to claim free money now. " + "filler " * 40
    attack = _spam_attack(HAM_WORDS + NEUTRAL, position=position)
    result = attack.attack(model, text, 1)
    assert result.words_out_of_reach > 0
    assert result.status == "succeeded" and result.words_added >= 1
    rebuilt = AttackText.from_text(text)
    for gap, piece in result.insertions:
        rebuilt = rebuilt.insert(gap, piece)
    # The victim reads every inserted word: the block ends inside its window.
    assert len(re.findall(r"\w+", rebuilt.prefix_through_insertions())) < window


def test_greedy_insertion_needs_an_insertion_transformation() -> None:
    attack = TextAttack(
        TargetedClassification(0), WordSwapSynonym(StubSynonyms()), [], GreedyInsertion()
    )
    with pytest.raises(TypeError, match="insertion transformation"):
        attack.attack(KeywordSpamFilter(), SPAM, 1)
    for bad, error in [(0, ValueError), (2.5, TypeError), (True, TypeError)]:
        with pytest.raises(error, match="max_steps"):
            GreedyInsertion(bad)  # type: ignore[arg-type]


def test_search_context_counts_tokens_only_for_windowed_victims() -> None:
    original = AttackText.from_text(SPAM)
    for model, expected in [(KeywordSpamFilter(), None), (KeywordSpamFilter(max_length=8), 8)]:
        state = TargetedClassification(0).start(model, 1)
        context = SearchContext(original, state, InsertWords(["x"]), [])
        window = context.window
        assert (window and window[1]) == expected
        long = original.insert(len(original), "thanks")
        assert context.read_whole([long]) == ([long] if expected is None else [])
        assert model.calls == 0  # counting tokens is no query
