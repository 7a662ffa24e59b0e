"""Search methods on a stub victim: they reach the goal, respect budgets and constraints."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from text_stubs import LexiconModel, StubEncoder, StubSynonyms
from torch import Tensor

from aisec.attacks.text import TextAttack, UntargetedClassification
from aisec.attacks.text.constraints import (
    MaxWordsChanged,
    RepeatModification,
    SentenceSimilarity,
    StopwordModification,
)
from aisec.attacks.text.core import AttackText, TargetedClassification
from aisec.attacks.text.search import PWWS, BeamSearch, GreedyWordImportance, SearchMethod
from aisec.attacks.text.transformations import WordSwapSynonym

SEARCHES: list[SearchMethod] = [GreedyWordImportance(), PWWS(), BeamSearch(width=3)]


def _attack(
    search: SearchMethod, budget: int | None = None, target: int | None = None
) -> TextAttack:
    goal = (
        UntargetedClassification(query_budget=budget)
        if target is None
        else TargetedClassification(target, query_budget=budget)
    )
    return TextAttack(
        goal,
        WordSwapSynonym(StubSynonyms()),
        [RepeatModification(), StopwordModification(), MaxWordsChanged(0.5)],
        search,
    )


@pytest.mark.parametrize("search", SEARCHES, ids=lambda s: type(s).__name__)
def test_search_flips_a_stub_prediction(search: SearchMethod, lexicon_model: LexiconModel) -> None:
    result = _attack(search).attack(lexicon_model, "a good movie", 1)
    assert result.status == "succeeded"
    assert result.adversarial_prediction == 0
    assert lexicon_model.predict_proba([result.adversarial]).argmax().item() == 0
    assert result.words_changed == 1 and result.adversarial_words[0] in {"fine", "decent", "bad"}
    assert result.queries >= 2


@pytest.mark.parametrize("search", SEARCHES, ids=lambda s: type(s).__name__)
def test_search_fails_cleanly_without_candidates(
    search: SearchMethod, lexicon_model: LexiconModel
) -> None:
    result = _attack(search).attack(lexicon_model, "nice nice nice happy fun", 1)
    assert result.status == "failed"
    assert result.adversarial == result.original and result.words_changed == 0


@pytest.mark.parametrize("search", SEARCHES, ids=lambda s: type(s).__name__)
def test_search_respects_the_query_budget(
    search: SearchMethod, lexicon_model: LexiconModel
) -> None:
    text = "good good great love and the good movie was great"
    result = _attack(search, budget=4).attack(lexicon_model, text, 1)
    assert result.queries <= 4


def test_greedy_attacks_the_most_important_word_first(lexicon_model: LexiconModel) -> None:
    # "great" has candidates that only neutralise it, "good" can flip to "bad": with one
    # change allowed, the greedy search must spend it on a word whose deletion matters most.
    attack = TextAttack(
        UntargetedClassification(),
        WordSwapSynonym(StubSynonyms()),
        [RepeatModification(), MaxWordsChanged(0.34)],
        GreedyWordImportance(),
    )
    result = attack.attack(lexicon_model, "good movie today", 1)
    assert result.status == "succeeded" and result.changed_indices == (0,)


def test_targeted_search_reaches_the_target(lexicon_model: LexiconModel) -> None:
    result = _attack(GreedyWordImportance(), target=0).attack(lexicon_model, "a good movie", 1)
    assert result.status == "succeeded" and result.adversarial_prediction == 0


def test_similarity_constraint_filters_candidates(lexicon_model: LexiconModel) -> None:
    attack = TextAttack(
        UntargetedClassification(),
        WordSwapSynonym(StubSynonyms()),
        [RepeatModification(), SentenceSimilarity(StubEncoder(), 0.999)],
        GreedyWordImportance(),
    )
    result = attack.attack(lexicon_model, "a good movie", 1)
    assert result.status == "failed" and result.words_changed == 0
    context_text = AttackText.from_text("a good movie")
    assert context_text.words == ("a", "good", "movie")


def test_skipped_when_the_victim_is_already_wrong(lexicon_model: LexiconModel) -> None:
    result = _attack(GreedyWordImportance()).attack(lexicon_model, "a bad movie", 1)
    assert result.status == "skipped" and result.queries == 1


class _RecordingModel(LexiconModel):
    """The lexicon stub, remembering every text it was asked about."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[str] = []

    def predict_proba(self, texts: Sequence[str], batch_size: int = 256) -> Tensor:
        self.seen += list(texts)
        return super().predict_proba(texts, batch_size)


def test_greedy_does_not_rank_words_without_candidates() -> None:
    model = _RecordingModel()
    attack = TextAttack(
        UntargetedClassification(),
        WordSwapSynonym(StubSynonyms()),
        [RepeatModification()],
        GreedyWordImportance(candidate_batch=None),
    )
    result = attack.attack(model, "good movie zebra today", 1)
    assert result.status == "succeeded"
    # "zebra" and "today" have no synonyms: deleting them is never queried.
    assert all("zebra" in t and "today" in t for t in model.seen)
    assert result.queries == len(set(model.seen))


def test_greedy_stops_at_the_first_candidate_batch_that_succeeds() -> None:
    runs = {}
    for batch in (1, None):
        model = _RecordingModel()
        attack = TextAttack(
            UntargetedClassification(),
            WordSwapSynonym(StubSynonyms()),
            [RepeatModification()],
            GreedyWordImportance(candidate_batch=batch),
        )
        runs[batch] = attack.attack(model, "good movie", 1)
        assert runs[batch].status == "succeeded"
        assert model.predict_proba([runs[batch].adversarial]).argmax().item() == 0
    # "good" has three candidates and the first ("fine") already flips the stub.
    assert runs[1].queries < runs[None].queries


def test_greedy_rejects_a_bad_candidate_batch() -> None:
    with pytest.raises(ValueError, match="candidate_batch"):
        GreedyWordImportance(candidate_batch=0)
