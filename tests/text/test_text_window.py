"""Attacks edit only the words inside the victim's token window, and say how many they left."""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
import torch
from text_stubs import LexiconModel, StubSynonyms, white_box_lexicon
from torch import Tensor

from aisec.attacks.text import TextAttack, UntargetedClassification
from aisec.attacks.text.constraints import RepeatModification
from aisec.attacks.text.core import AttackText
from aisec.attacks.text.search import (
    PWWS,
    BeamSearch,
    GradientGuidedGreedy,
    GreedyWordImportance,
    SearchContext,
    SearchMethod,
)
from aisec.attacks.text.transformations import WordSwapSynonym
from aisec.attacks.text.window import readable_slots
from aisec.defenses.text import SanitizedClassifier

WINDOW = 20
WORDS = 300
# Every word has stub synonyms, so that every slot is a candidate for every search.
LONG_TEXT = " ".join(
    itertools.islice(itertools.cycle(["good", "movie", "love", "flight", "great"]), WORDS)
)
SEARCHES: list[SearchMethod] = [
    GreedyWordImportance(),
    PWWS(),
    BeamSearch(width=2),
    GradientGuidedGreedy(),
]
MAX_SYNONYMS = max(len(v) for v in StubSynonyms.TABLE.values())


@pytest.fixture
def windowed_victim() -> Iterator[Any]:
    model = white_box_lexicon()
    model.max_length = WINDOW
    with warnings.catch_warnings():  # the victim warns that it truncates, on every query
        warnings.simplefilter("ignore")
        yield model


def _attack(search: SearchMethod) -> TextAttack:
    return TextAttack(
        UntargetedClassification(),
        WordSwapSynonym(StubSynonyms()),
        [RepeatModification()],
        search,
    )


@pytest.mark.parametrize("search", SEARCHES, ids=lambda s: type(s).__name__)
def test_no_edit_beyond_the_window_and_queries_bounded(
    search: SearchMethod, windowed_victim: Any
) -> None:
    result = _attack(search).attack(windowed_victim, LONG_TEXT, 1)
    assert result.num_words == WORDS
    assert result.words_out_of_reach == WORDS - WINDOW
    assert result.words_changed >= 1
    assert all(index < WINDOW for index in result.changed_indices)
    assert result.adversarial.split()[WINDOW:] == LONG_TEXT.split()[WINDOW:]
    # Every search queries at most a few texts per slot it may change: the window's slots.
    per_slot = 1 + MAX_SYNONYMS
    bound = 1 + WINDOW * per_slot * (WINDOW if isinstance(search, BeamSearch) else 1)
    assert result.queries <= bound


def test_a_run_records_the_words_out_of_reach(windowed_victim: Any) -> None:
    short = "a good movie and a great flight"
    run = _attack(PWWS()).run(windowed_victim, [LONG_TEXT, short], [1, 1])
    assert [r.words_out_of_reach for r in run.results] == [WORDS - WINDOW, 0]
    assert run.summary is not None
    assert run.summary.texts_beyond_window == 1
    assert run.summary.words_out_of_reach == WORDS - WINDOW
    assert run.to_dict()["results"][0]["words_out_of_reach"] == WORDS - WINDOW


class StubTokenizer:
    """Two tokens per word (a word piece and its end), like a subword tokenizer."""

    def __call__(
        self, texts: Sequence[str], truncation: bool = False, max_length: int | None = None
    ) -> dict[str, list[list[int]]]:
        rows = [[1, 2] * len(AttackText.from_text(t)) for t in texts]
        if truncation and max_length is not None:
            rows = [row[:max_length] for row in rows]
        return {"input_ids": rows}


class HFLikeVictim(LexiconModel):
    """A black-box victim that exposes its tokenizer and window, as HFTextClassifier does."""

    def __init__(self, max_length: int) -> None:
        super().__init__()
        self.tokenizer = StubTokenizer()
        self.max_length = max_length


def test_the_window_comes_from_the_victims_tokenization(windowed_victim: Any) -> None:
    text = AttackText.from_text(LONG_TEXT)
    assert readable_slots(windowed_victim, text) == WINDOW
    assert readable_slots(SanitizedClassifier(windowed_victim), text) == WINDOW
    # "lo\u200bve" is two slots of the attack but one word of the sanitized victim: its
    # window of 20 words holds 24 slots.
    hidden = AttackText.from_text(LONG_TEXT.replace("love", "lo\u200bve"))
    assert readable_slots(SanitizedClassifier(windowed_victim), hidden) == WINDOW + 4
    assert readable_slots(windowed_victim, hidden) == WINDOW
    assert readable_slots(HFLikeVictim(max_length=9), text) == 5  # 2 tokens a word: 4.5 words
    assert readable_slots(HFLikeVictim(max_length=1000), text) == WORDS
    assert readable_slots(LexiconModel(), text) is None  # no known window
    short = AttackText.from_text("good movie")
    assert readable_slots(windowed_victim, short) == 2


def test_reach_is_validated() -> None:
    class Victim:
        class_names = ("negative", "positive")

        def predict_proba(self, texts: Sequence[str], batch_size: int = 256) -> Tensor:
            return torch.full((len(texts), 2), 0.5)

    state = UntargetedClassification().start(Victim(), 1)
    text = AttackText.from_text("good movie")
    transformation = WordSwapSynonym(StubSynonyms())
    with pytest.raises(ValueError, match="reach must be >= 0"):
        SearchContext(text, state, transformation, [], reach=-1)
    context = SearchContext(text, state, transformation, [], reach=1)
    assert context.modifiable(text) == [0]
