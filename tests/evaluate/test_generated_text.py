"""Zero-shot detection on continuations of the same prefixes: pairing, lengths, TPR at 1% FPR."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

from aisec.evaluate.generated_text import (
    MIN_CONTINUATION_TOKENS,
    SamePrefixTexts,
    detector_auc,
    rate_above,
    same_prefix_texts,
    threshold_at_fpr,
)
from aisec.genai.detect import DETECTORS, score_ids
from aisec.models.language import LanguageModel
from aisec.stats import Rate
from tiny_language_model import tiny_lm


@pytest.fixture(scope="module")
def lm() -> Any:
    """The tiny character-level Llama (one token per character)."""
    return tiny_lm()


# --- the threshold at 1% FPR on hand-made scores ----------------------------------------------


def test_with_fewer_than_100_human_texts_no_human_text_is_above_the_threshold() -> None:
    human = [0.3, -1.0, 2.5, 0.7]
    threshold = threshold_at_fpr(human)
    assert threshold == 2.5
    assert rate_above(human, threshold) == Rate(0, 4)
    # A model text must beat the best human text; one equal to it is not detected.
    assert rate_above([2.5, 2.6, 10.0, -3.0], threshold) == Rate(2, 4)


def test_one_percent_of_the_human_texts_may_lie_above_the_threshold() -> None:
    human = np.arange(250, dtype=float)  # floor(1% of 250) = 2 may lie above
    threshold = threshold_at_fpr(human)
    assert threshold == 247.0
    assert rate_above(human, threshold) == Rate(2, 250)
    # Any smaller threshold lets a third human text above it: 247 is the smallest.
    assert rate_above(human, np.nextafter(threshold, -np.inf)).count == 3
    assert threshold_at_fpr(np.arange(100, dtype=float)) == 98.0  # exactly 1 of 100
    assert threshold_at_fpr(np.arange(99, dtype=float)) == 98.0  # 0 of 99: the maximum


def test_ties_at_the_threshold_are_not_above_it() -> None:
    human = [1.0] * 150 + [5.0] * 3  # 3 tied top scores, but only 1 (of 153) may be above
    threshold = threshold_at_fpr(human)
    assert threshold == 5.0
    assert rate_above(human, threshold) == Rate(0, 153)  # the realised FPR is below 1%
    assert threshold_at_fpr([2.0, 2.0, 2.0]) == 2.0
    assert rate_above([2.0, 2.0, 2.0], 2.0) == Rate(0, 3)


@pytest.mark.parametrize(
    ("human", "max_fpr", "error", "message"),
    [
        ([], 0.01, ValueError, "non-empty"),
        ([1.0, float("nan")], 0.01, ValueError, "non-finite"),
        ([1.0], 1.0, ValueError, "max_fpr must be in"),
        ([1.0], -0.1, ValueError, "max_fpr must be in"),
        ([1.0], "1%", TypeError, "max_fpr must be a float"),
    ],
)
def test_bad_threshold_input(human: Any, max_fpr: Any, error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        threshold_at_fpr(human, max_fpr)


# --- the same prefixes on both sides ----------------------------------------------------------


def test_human_and_model_continue_the_same_prefixes(
    lm: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    texts = [
        "short text",  # 10 characters: too short for a prefix and a continuation
        "The quick brown fox jumps over the lazy dog, then runs far into the woods to hide.",
        "a" * 20 + "b" * 15,  # 20 + 15 < 20 + 16: left out
        "x" * 20 + "y" * 16,  # exactly long enough: a 16-token continuation
        "Human continuation texts longer than the cap are cut to max_tokens characters.",
    ]
    prompts: list[torch.Tensor] = []
    generate = LanguageModel.generate

    def record(self: Any, prompt_ids: Any, **options: Any) -> Any:
        prompts.extend(prompt_ids)
        return generate(self, prompt_ids, **options)

    monkeypatch.setattr(LanguageModel, "generate", record)
    pairs = same_prefix_texts(lm, texts, prefix_tokens=20, max_tokens=24, seed=1, batch_size=2)
    counted = [texts[1], texts[3], texts[4]]
    assert len(pairs.prefixes) == len(pairs.human) == len(pairs.machine) == 3
    for text, prefix, human, machine in zip(
        counted, pairs.prefixes, pairs.human, pairs.machine, strict=True
    ):
        ids = lm.encode(text)
        assert torch.equal(prefix, ids[:20])
        assert torch.equal(human, ids[20:44])
        assert len(machine) == len(human) >= MIN_CONTINUATION_TOKENS
    assert [len(h) for h in pairs.human] == [24, 16, 24]
    # The model was given exactly the raw prefixes (no chat template), each once.
    assert sorted(p.tolist() for p in prompts) == sorted(p.tolist() for p in pairs.prefixes)


def test_model_continuations_are_seeded(lm: Any) -> None:
    texts = ["abcdefghij" * 5, "klmnopqrst" * 5]
    first = same_prefix_texts(lm, texts, prefix_tokens=8, max_tokens=16, seed=3)
    again = same_prefix_texts(lm, texts, prefix_tokens=8, max_tokens=16, seed=3)
    other = same_prefix_texts(lm, texts, prefix_tokens=8, max_tokens=16, seed=4)
    assert all(torch.equal(a, b) for a, b in zip(first.machine, again.machine, strict=True))
    assert any(not torch.equal(a, b) for a, b in zip(first.machine, other.machine, strict=True))


@pytest.mark.parametrize(
    ("change", "error", "message"),
    [
        ({"prefix_tokens": 0}, ValueError, "prefix_tokens must be >= 1"),
        ({"prefix_tokens": 2.0}, TypeError, "prefix_tokens must be an int"),
        ({"max_tokens": 8}, ValueError, "max_tokens must be >= 16"),
        ({"prefix_tokens": 500}, ValueError, "no human text has"),
    ],
)
def test_bad_same_prefix_input(lm: Any, change: dict[str, Any], error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        same_prefix_texts(lm, ["some human text " * 5], **change)


def test_pairs_must_line_up() -> None:
    ids = torch.arange(20)
    with pytest.raises(ValueError, match="as many"):
        SamePrefixTexts(prefixes=(ids, ids), human=(ids,), machine=(ids,))


# --- the detectors on the pairs ---------------------------------------------------------------


def _pairs(lm: Any, n: int = 6) -> SamePrefixTexts:
    """Greedy model continuations vs uniformly random 'human' continuations of one prefix each."""
    generator = torch.Generator().manual_seed(0)
    prefixes = tuple(torch.randint(0, 384, (6,), generator=generator) for _ in range(n))
    greedy = lm.generate(list(prefixes), max_new_tokens=24, do_sample=False)
    human = tuple(torch.randint(0, 384, (24,), generator=generator) for _ in range(n))
    return SamePrefixTexts(prefixes, human, tuple(g.new_ids for g in greedy))


def test_scores_are_given_the_same_prefix_on_both_sides(
    lm: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    pairs = _pairs(lm)
    calls: list[tuple[list[torch.Tensor], list[int]]] = []

    def record(model: Any, sequences: Any, **options: Any) -> Any:
        calls.append((list(sequences), list(options["context_lengths"])))
        return score_ids(model, sequences, **options)

    monkeypatch.setattr("aisec.evaluate.generated_text.score_ids", record)
    result = detector_auc(lm, pairs, seed=0)
    assert len(calls) == 1 + len(result.auc) >= 1 + 3  # human, then clean and attacked model text
    human_seqs, human_context = calls[0]
    clean_seqs, clean_context = calls[1]
    assert human_context == clean_context == [6] * 6
    for index, (h, m) in enumerate(zip(human_seqs, clean_seqs, strict=True)):
        assert torch.equal(h[:6], pairs.prefixes[index]) and torch.equal(m[:6], h[:6])
        assert torch.equal(h[6:], pairs.human[index]) and torch.equal(m[6:], pairs.machine[index])
    for sequences, context in calls[2:]:  # attacked variants keep the prefix and the length cap
        assert all(
            torch.equal(s[:c], p)
            for s, c, p in zip(sequences, context, pairs.prefixes, strict=True)
        )
        assert all(len(s) - c <= 24 for s, c in zip(sequences, context, strict=True))


def test_likely_text_is_detected_at_one_percent_fpr(lm: Any) -> None:
    result = detector_auc(lm, _pairs(lm), seed=0)
    assert result.human_texts == result.machine_texts == 6
    assert result.prefix_tokens == 6 and result.max_tokens == 24
    for detector in DETECTORS:
        # Fewer than 100 human texts: the threshold is the best human score, none above it.
        assert result.false_positives[detector] == Rate(0, 6)
        tpr = result.tpr_at_1fpr["clean"][detector]
        assert tpr.total == 6
        assert result.auc["clean"][detector] > 0.9
    assert result.tpr_at_1fpr["clean"]["log_likelihood"].count >= 4
    data = result.to_dict()
    assert set(data) == {
        "human_texts",
        "machine_texts",
        "max_tokens",
        "prefix_tokens",
        "auc",
        "tpr_at_1fpr",
        "threshold_at_1fpr",
        "fpr_at_1fpr",
    }
    assert set(data["tpr_at_1fpr"]) == set(data["auc"]) and "clean" in data["auc"]
    assert data["tpr_at_1fpr"]["clean"]["fast_detectgpt"]["n"] == 6
    assert data["fpr_at_1fpr"]["log_rank"] == Rate(0, 6).to_dict()
    rows = result.rows()
    assert [row["text"] for row in rows] == list(data["auc"])
    assert rows[0]["log_rank TPR@1%FPR"] == result.tpr_at_1fpr["clean"]["log_rank"]
    assert [row["detector"] for row in result.threshold_rows()] == list(DETECTORS)


def test_identical_continuations_are_indistinguishable(lm: Any) -> None:
    pairs = _pairs(lm)
    same = SamePrefixTexts(pairs.prefixes, pairs.human, pairs.human)
    result = detector_auc(lm, same, seed=0)
    for detector in DETECTORS:
        assert result.auc["clean"][detector] == pytest.approx(0.5)
        assert result.tpr_at_1fpr["clean"][detector] == Rate(0, 6)


def test_detector_auc_wants_pairs(lm: Any) -> None:
    with pytest.raises(TypeError, match="SamePrefixTexts"):
        detector_auc(lm, [torch.arange(20)])  # type: ignore[arg-type]
