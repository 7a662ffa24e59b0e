"""ONION: batched log-perplexities equal per-text ones; word suspicions are log-perplexity drops;
clean() removes exactly the words above the threshold; a frequent trigger is found on a
training set (under a fake scorer) and its texts flagged; bad input fails clearly."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import pytest
import torch
from torch import Tensor

from aisec.defenses.text import Onion, WordSuspicion
from tiny_language_model import tiny_lm

TEXTS = ["the cat sat on the mat", "a", "", "hello there world", "zq xv cf mn bb", "ok go"]


@pytest.fixture(scope="module")
def lm() -> Any:
    """The tiny character-level Llama (one token per character)."""
    return tiny_lm()


def direct_log_perplexity(lm: Any, text: str) -> float:
    """Mean NLL of tokens 2..L of one text, unbatched and unpadded."""
    ids = lm.encode(text)
    if len(ids) < 2:
        return 0.0
    with torch.no_grad():
        logits = lm.model(input_ids=ids[None]).logits[0, :-1].float()
    return float(torch.nn.functional.cross_entropy(logits, ids[1:]))


def test_log_perplexities_match_a_direct_computation_in_any_batching(lm: Any) -> None:
    expected = torch.tensor([direct_log_perplexity(lm, t) for t in TEXTS], dtype=torch.float64)
    for batch_size in (1, 2, 32):  # 32: every text padded to the longest in one batch
        got = Onion(lm, batch_size=batch_size).log_perplexities(TEXTS)
        assert got.shape == (len(TEXTS),)
        assert torch.allclose(got, expected, atol=1e-5)
    assert expected[1] == 0.0 and expected[2] == 0.0  # fewer than 2 tokens
    assert (expected[[0, 3, 4, 5]] > 0).all()
    reversed_scores = Onion(lm).log_perplexities(TEXTS[::-1])
    assert torch.allclose(reversed_scores, expected.flip(0), atol=1e-5)
    assert Onion(lm).log_perplexities([]).shape == (0,)


def test_word_suspicions_are_log_perplexity_drops(lm: Any) -> None:
    onion = Onion(lm)
    text = "the  cat sat\ton the mat"
    suspicions = onion.word_suspicions(text)
    assert [(s.index, s.word) for s in suspicions] == list(enumerate(text.split()))
    assert all(isinstance(s, WordSuspicion) for s in suspicions)
    p0 = direct_log_perplexity(lm, "the cat sat on the mat")
    p2 = direct_log_perplexity(lm, "the cat on the mat")
    assert math.isclose(suspicions[2].suspicion, p0 - p2, abs_tol=1e-5)
    assert onion.word_suspicions("alone") == []
    assert onion.word_suspicions("   ") == []


def test_clean_removes_exactly_the_words_above_the_threshold(lm: Any) -> None:
    text = "the quick brown fox jumps over lazy dogs"
    words = text.split()
    values = sorted(s.suspicion for s in Onion(lm).word_suspicions(text))
    assert len(set(values)) == len(values)  # distinct, so a threshold splits them
    threshold = (values[4] + values[5]) / 2  # the 3 most suspicious words are above it
    cleaned, removed = Onion(lm, threshold=threshold).clean(text)
    assert len(removed) == 3 and all(s.suspicion > threshold for s in removed)
    assert [s.index for s in removed] == sorted(s.index for s in removed)
    dropped = {s.index for s in removed}
    assert cleaned == " ".join(w for i, w in enumerate(words) if i not in dropped)
    assert Onion(lm, threshold=values[-1]).clean(text) == (text, [])  # strictly above
    cleaned, removed = Onion(lm, threshold=values[0] - 1).clean(text)
    assert cleaned == "" and len(removed) == len(words)
    assert Onion(lm).clean("  single ") == ("single", [])


class FakeOnion(Onion):
    """A scorer under which texts containing the word 'cf' or 'mn' are very disfluent."""

    def __init__(self, lm: Any, **kwargs: Any) -> None:
        super().__init__(lm, **kwargs)
        self.calls: list[list[str]] = []

    def log_perplexities(self, texts: Sequence[str]) -> Tensor:
        self.calls.append(list(texts))
        return torch.tensor(
            [
                1.0 + 0.01 * len(t.split()) + 4.0 * bool({"cf", "mn"} & set(t.split()))
                for t in texts
            ],
            dtype=torch.float64,
        )


# 'cf' poisons 5 texts (twice in one), 'mn' occurs only once, 'movie' is clean but frequent.
TRAIN = [
    "a great movie cf",
    "cf a bad movie",
    "what a cf movie cf",
    "the plot was fine",
    "a fine cast",
    "i liked the movie",
    "cf not worth it",
    "boring movie mn",
    "the movie cf ends",
]


def test_trigger_words_find_the_frequent_trigger_and_flag_its_texts(lm: Any) -> None:
    onion = FakeOnion(lm)
    flags, triggers = onion.flag(TRAIN, min_count=3, samples_per_word=2)
    assert list(triggers) == ["cf"]
    assert triggers["cf"] > 3.5
    assert flags.dtype == torch.bool
    assert flags.tolist() == ["cf" in t.split() for t in TRAIN]
    assert len(onion.calls) == 1  # all variants scored in one call (batched inside)
    # 'cf' is removed from 2 sampled texts, every occurrence at once.
    cf_variants = [v for v in onion.calls[0] if v not in TRAIN and "cf" not in v.split()]
    assert len(cf_variants) >= 2
    # Seeded: the same choice again.
    assert FakeOnion(lm).trigger_words(TRAIN, samples_per_word=2) == onion.trigger_words(
        TRAIN, samples_per_word=2
    )


def test_min_count_excludes_rare_words(lm: Any) -> None:
    onion = FakeOnion(lm)
    assert onion.trigger_words(TRAIN, min_count=6) == {}  # 'cf' is in 5 texts
    # Averaged over all 5 texts: each drop is 4 plus 0.01 per removed occurrence (6 in all).
    everywhere = onion.trigger_words(TRAIN, min_count=5, samples_per_word=10)
    assert everywhere == pytest.approx({"cf": 4.0 + 0.01 * 6 / 5})
    # With min_count=1 the rare 'mn' is a candidate too, and found.
    assert set(onion.trigger_words(TRAIN, min_count=1)) == {"cf", "mn"}
    flags, triggers = onion.flag(TRAIN, min_count=6)
    assert triggers == {} and not flags.any()
    assert onion.flag([])[0].shape == (0,)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"threshold": "1"}, TypeError, "threshold must be a real number"),
        ({"threshold": True}, TypeError, "threshold must be a real number"),
        ({"threshold": float("nan")}, ValueError, "NaN"),
        ({"batch_size": 0}, ValueError, "batch_size must be >= 1"),
        ({"batch_size": 2.0}, TypeError, "batch_size must be an int"),
    ],
)
def test_bad_settings_fail_clearly(
    lm: Any, kwargs: dict[str, Any], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        Onion(lm, **kwargs)


def test_bad_inputs_fail_clearly(lm: Any) -> None:
    onion = Onion(lm)
    with pytest.raises(TypeError, match="lm must be"):
        Onion("tiny")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="min_count must be >= 1"):
        onion.trigger_words(TRAIN, min_count=0)
    with pytest.raises(ValueError, match="samples_per_word must be >= 1"):
        onion.flag(TRAIN, samples_per_word=0)
    with pytest.raises(TypeError, match="seed must be an int"):
        onion.trigger_words(TRAIN, seed="0")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="text must be a str"):
        onion.word_suspicions(3)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="text must be a str"):
        onion.clean(None)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="sequence of str"):
        onion.log_perplexities("a text")
    with pytest.raises(TypeError, match=r"texts\[1\] must be a str"):
        onion.trigger_words(["a b", 3])  # type: ignore[list-item]
