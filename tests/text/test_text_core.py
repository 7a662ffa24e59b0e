"""Word slots, goal functions and query counting, with a stub victim."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from text_stubs import LexiconModel

from aisec.attacks.text.core import (
    AttackText,
    QueryBudgetExhaustedError,
    TargetedClassification,
    UntargetedClassification,
)


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_slots_reassemble_the_text(text: str) -> None:
    assert AttackText.from_text(text).text == text


def test_slots_keep_named_tokens_whole() -> None:
    slots = AttackText.from_text("@united flight #fail http://t.co/x1 at 5:30").words
    assert slots[:4] == ("@united", "flight", "#fail", "http://t.co/x1")


def test_replace_word_marks_modified_and_counts_changes() -> None:
    original = AttackText.from_text("a good movie")
    changed = original.replace_word(1, "fine")
    assert changed.text == "a fine movie"
    assert changed.modified == {1}
    assert changed.changed_indices(original) == [1]
    assert original.replace_word(1, "good").changed_indices(original) == []


def test_untargeted_goal_scores_and_success() -> None:
    goal = UntargetedClassification()
    probs = torch.tensor([[0.9, 0.1], [0.3, 0.7]])
    assert torch.allclose(goal.score(probs, 0), torch.tensor([0.1, 0.7]))
    assert goal.is_success(probs, 0).tolist() == [False, True]


def test_targeted_goal_scores_and_success() -> None:
    goal = TargetedClassification(1)
    probs = torch.tensor([[0.9, 0.1, 0.0], [0.2, 0.3, 0.5], [0.1, 0.8, 0.1]])
    assert torch.allclose(goal.score(probs, 0), torch.tensor([0.1, 0.3, 0.8]))
    assert goal.is_success(probs, 0).tolist() == [False, False, True]
    with pytest.raises(ValueError, match="target"):
        TargetedClassification(-1)


def test_goal_state_caches_and_counts_queries(lexicon_model: LexiconModel) -> None:
    state = UntargetedClassification().start(lexicon_model, 1)
    first = state.evaluate(["good movie", "bad movie", "good movie"])
    assert state.queries == 2 and lexicon_model.calls == 2
    assert first[0].prediction == 1 and not first[0].success and first[1].success
    state.evaluate(["bad movie"])
    assert state.queries == 2


def test_query_budget_is_enforced(lexicon_model: LexiconModel) -> None:
    state = UntargetedClassification(query_budget=2).start(lexicon_model, 1)
    state.evaluate(["a", "b"])
    with pytest.raises(QueryBudgetExhaustedError):
        state.evaluate(["c"])
    assert state.queries == 2
    with pytest.raises(ValueError, match="query_budget"):
        UntargetedClassification(query_budget=0)
