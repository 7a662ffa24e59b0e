"""Search methods on a stub victim: they reach the goal, respect budgets and constraints."""

from __future__ import annotations

import math
from collections.abc import Sequence

import pytest
from text_stubs import LexiconModel, StubEncoder, StubSynonyms, white_box_lexicon
from torch import Tensor

from aisec.attacks.text import TextAttack, UntargetedClassification
from aisec.attacks.text.constraints import (
    MaxWordsChanged,
    RepeatModification,
    SentenceSimilarity,
    StopwordModification,
    english_stopwords,
)
from aisec.attacks.text.core import AttackText, TargetedClassification
from aisec.attacks.text.gradient import _changed_span
from aisec.attacks.text.search import (
    PWWS,
    BeamSearch,
    GradientGuidedGreedy,
    GreedyWordImportance,
    SearchMethod,
)
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


# --- gradient-guided search (white-box) ---------------------------------------------------


def _gradient_attack(
    candidates_per_slot: int = 1, fraction: float = 0.5, budget: int | None = None
) -> TextAttack:
    return TextAttack(
        UntargetedClassification(query_budget=budget),
        WordSwapSynonym(StubSynonyms()),
        [RepeatModification(), StopwordModification(), MaxWordsChanged(fraction)],
        GradientGuidedGreedy(candidates_per_slot),
    )


def test_gradient_search_queries_the_best_estimated_candidate_first() -> None:
    # "good" -> fine / decent / bad: only "bad" flips the victim, and the gradient says so,
    # so one query after the original's is enough.
    model = white_box_lexicon()
    result = _gradient_attack(1).attack(model, "a good movie", 1)
    assert result.status == "succeeded"
    assert result.adversarial_words == ("bad",)
    assert result.queries == 2
    assert result.gradients == 1
    assert model.predict_proba([result.adversarial]).argmax().item() == 0


def test_gradient_search_bounds_its_queries_and_respects_constraints() -> None:
    model = white_box_lexicon()
    text = "good good great love and the good movie was great"
    original = AttackText.from_text(text)
    for k in (1, 2, 3):
        result = _gradient_attack(k, fraction=0.3).attack(model, text, 1)
        visited_at_most = len(original)  # every slot at most once
        assert result.queries <= 1 + k * visited_at_most
        assert result.words_changed <= MaxWordsChanged(0.3).allowed(original)
        for index in result.changed_indices:
            assert original.words[index] not in english_stopwords()
        assert result.gradients <= result.words_changed + 1


def test_gradient_search_respects_the_query_budget() -> None:
    text = "good good great love and the good movie was great"
    result = _gradient_attack(3, budget=4).attack(white_box_lexicon(), text, 1)
    assert result.queries <= 4


def test_gradient_search_fails_cleanly_without_candidates() -> None:
    result = _gradient_attack(3).attack(white_box_lexicon(), "nice nice nice happy fun", 1)
    assert result.status == "failed" and result.words_changed == 0 and result.gradients == 0


def test_gradient_search_skips_slots_that_cannot_help() -> None:
    # "nice" has no synonyms and "movie" -> film / picture cannot move the victim: their
    # estimated gain is 0, so nothing but the original is queried (min_estimate=None queries
    # both candidates before failing).
    model = white_box_lexicon()
    skipping = _gradient_attack(3).attack(model, "nice movie", 1)
    assert skipping.status == "failed" and skipping.queries == 1
    visiting = TextAttack(
        UntargetedClassification(),
        WordSwapSynonym(StubSynonyms()),
        [RepeatModification()],
        GradientGuidedGreedy(3, min_estimate=None),
    ).attack(model, "nice movie", 1)
    assert visiting.status == "failed" and visiting.queries == 3


def test_first_order_estimate_is_exact_for_a_bag_of_embeddings() -> None:
    # Mean pooling and a linear head: a same-length swap changes the logits linearly, so the
    # estimated change of log(1 - p(true)) matches the real one up to the softmax's curvature,
    # and always in sign and order.
    model = white_box_lexicon(scale=0.5)
    goal = UntargetedClassification()
    state = goal.start(model, 1)
    text = AttackText.from_text("good movie and great fun")
    gradient = state.score_gradient(text.text)
    swaps = [text.replace_word(0, w).text for w in ("bad", "fine", "great", "awful")]
    estimates = gradient.estimate(swaps)
    base = math.log(1 - float(model.predict_proba([text.text])[0, 1]))
    actual = [math.log(1 - float(p[1])) - base for p in model.predict_proba(swaps)]
    assert sorted(range(4), key=lambda i: estimates[i]) == sorted(range(4), key=lambda i: actual[i])
    for estimate, real in zip(estimates, actual, strict=True):
        assert math.copysign(1, estimate) == math.copysign(1, real) or abs(real) < 1e-9
        assert estimate == pytest.approx(real, rel=0.25, abs=1e-6)


def test_changed_span_finds_the_differing_tokens() -> None:
    assert _changed_span([1, 2, 3, 4], [1, 9, 3, 4]) == (1, 2, 2)
    assert _changed_span([1, 2, 3, 4], [1, 7, 8, 3, 4]) == (1, 2, 3)  # one word, two pieces
    assert _changed_span([1, 2, 2, 4], [1, 2, 4]) == (2, 3, 2)
    assert _changed_span([5, 6], [5, 6]) == (2, 2, 2)


def test_gradient_search_needs_a_white_box_victim(lexicon_model: LexiconModel) -> None:
    with pytest.raises(TypeError, match=r"white-box victim.*GreedyWordImportance"):
        _gradient_attack().attack(lexicon_model, "a good movie", 1)


@pytest.mark.parametrize(("value", "error"), [(0, ValueError), (1.5, TypeError), (True, TypeError)])
def test_gradient_search_rejects_bad_settings(value: object, error: type[Exception]) -> None:
    with pytest.raises(error, match="candidates_per_slot"):
        GradientGuidedGreedy(value)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="min_estimate"):
        GradientGuidedGreedy(3, min_estimate="0")  # type: ignore[arg-type]
