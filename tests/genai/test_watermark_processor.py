"""The logits processor adds delta to green tokens only; watermarked generations are detected."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from aisec.genai.watermark import (
    UnigramScheme,
    WatermarkLogitsProcessor,
    WatermarkScheme,
    detect,
)
from aisec.genai.watermark.processor import SELFHASH_CANDIDATES

V = 384


@pytest.mark.parametrize("scheme", [WatermarkScheme(V, delta=2.0), UnigramScheme(V, delta=1.5)])
def test_adds_delta_to_green_tokens_only(scheme: WatermarkScheme) -> None:
    generator = torch.Generator().manual_seed(0)
    input_ids = torch.randint(0, V, (5, 7), generator=generator)
    input_ids[3, -1] = input_ids[1, -1]  # two rows share a context
    scores = torch.randn(5, V, generator=generator)
    before = scores.clone()
    out = WatermarkLogitsProcessor(scheme)(input_ids, scores)
    assert torch.equal(scores, before)  # not modified in place
    for row in range(5):
        expected = torch.zeros(V)
        expected[scheme.green_list(input_ids[row])] = scheme.delta
        assert torch.allclose(out[row] - scores[row], expected)


def test_selfhash_biases_only_self_consistent_top_candidates() -> None:
    scheme = WatermarkScheme(V, seeding="selfhash", delta=3.0)
    generator = torch.Generator().manual_seed(1)
    input_ids = torch.randint(0, V, (3, 6), generator=generator)
    scores = torch.randn(3, V, generator=generator)
    out = WatermarkLogitsProcessor(scheme)(input_ids, scores)
    for row in range(3):
        top = scores[row].topk(SELFHASH_CANDIDATES).indices.tolist()
        expected = torch.zeros(V)
        for token in top:
            window = [*input_ids[row, -3:].tolist(), token]
            if token in scheme.green_list(window).tolist():
                expected[token] = scheme.delta
        assert torch.allclose(out[row] - scores[row], expected)
        assert 0 < int((expected > 0).sum()) < SELFHASH_CANDIDATES


def test_padded_logits_and_bad_shapes() -> None:
    scheme = WatermarkScheme(V)
    processor = WatermarkLogitsProcessor(scheme)
    ids = torch.tensor([[1, 2]])
    out = processor(ids, torch.zeros(1, V + 16))
    assert torch.all(out[0, V:] == 0)  # padded ids are never green
    with pytest.raises(ValueError, match="the model scores 100 tokens but the watermark"):
        processor(ids, torch.zeros(1, 100))
    with pytest.raises(ValueError, match="needs a prompt of at least 3"):
        WatermarkLogitsProcessor(WatermarkScheme(V, seeding="selfhash"))(ids, torch.zeros(1, V))
    with pytest.raises(TypeError, match="scheme must be a WatermarkScheme"):
        WatermarkLogitsProcessor("simple_1")  # type: ignore[arg-type]


@pytest.mark.parametrize("seeding", ["simple_1", "selfhash", "unigram"])
def test_watermarked_generation_is_detected(tiny_lm: Any, seeding: str) -> None:
    if seeding == "unigram":
        scheme: WatermarkScheme = UnigramScheme(V, gamma=0.25, delta=2.0)
    else:
        scheme = WatermarkScheme(V, gamma=0.25, delta=2.0, seeding=seeding)
    prompts = torch.randint(0, V, (2, 4), generator=torch.Generator().manual_seed(2))
    processor = WatermarkLogitsProcessor(scheme)
    # selfhash biases only the 41 best candidates: sample among them (its intended regime).
    top_k = 40 if seeding == "selfhash" else 0
    options = {"max_new_tokens": 80, "seed": 1, "top_k": top_k}
    marked = tiny_lm.generate(prompts, logits_processors=[processor], **options)
    plain = tiny_lm.generate(prompts, **options)
    for row, out in enumerate(marked):
        assert torch.equal(out.prompt_ids, prompts[row])
        assert len(out.new_ids) == 80
        assert detect(scheme, out.new_ids).z_score >= 4
    for out in plain:
        assert detect(scheme, out.new_ids).z_score < 4
