"""Watermark attacks, zero-shot detectors and the evaluation helpers, on tiny models."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pytest
import torch

from aisec.evaluate.genai import detection_vs_length, generate_watermarked, watermark_robustness
from aisec.genai import attacks
from aisec.genai.detect import DETECTORS, roc_auc, score_ids
from aisec.genai.watermark import (
    WatermarkLogitsProcessor,
    WatermarkScheme,
    normalize_text,
)

V = 384


def test_token_attacks_edit_at_the_rate() -> None:
    ids = torch.arange(2000) % V
    changed = attacks.substitute_tokens(ids, 0.3, V, seed=1)
    assert changed.shape == ids.shape
    assert 0.25 < float((changed != ids).float().mean()) < 0.32  # a few draws hit the same id
    kept = attacks.delete_tokens(ids, 0.3, seed=1)
    assert 1300 < len(kept) < 1500
    assert torch.equal(attacks.substitute_tokens(ids, 0.0, V), ids)
    assert torch.equal(attacks.substitute_tokens(ids, 0.3, V, seed=1), changed)  # seeded
    with pytest.raises(ValueError, match=r"rate must be in \[0, 1\]"):
        attacks.delete_tokens(ids, 1.5)


def test_text_attacks_and_the_normalizer() -> None:
    text = "The car is very fast and people often help each other in the city."
    swapped = attacks.swap_synonyms(text, seed=0)
    assert swapped != text and len(swapped.split()) >= len(text.split())
    for attack in (attacks.insert_homoglyphs, attacks.insert_zero_width):
        attacked = attack(text, 0.5, seed=0)
        assert attacked != text
        assert normalize_text(attacked) == text
    emojis = attacks.insert_emojis(text, 1.0, seed=0)
    assert len(emojis.split()) == 2 * len(text.split())
    assert torch.equal(attacks.strip_token(torch.tensor([1, 9, 2, 9]), 9), torch.tensor([1, 2]))


def test_emoji_interleave_forces_every_other_token(tiny_lm: Any) -> None:
    prompt = torch.tensor([[5, 6, 7]])
    out = tiny_lm.generate(
        prompt,
        max_new_tokens=12,
        logits_processors=[attacks.EmojiInterleaveProcessor(99, prompt_length=3)],
    )[0].new_ids
    assert out[1::2].tolist() == [99] * 6


def test_attacks_weaken_detection(tiny_lm: Any) -> None:
    scheme = WatermarkScheme(V, delta=4.0)
    prompts = torch.randint(0, V, (2, 3), generator=torch.Generator().manual_seed(0))
    samples = [
        out.new_ids
        for out in tiny_lm.generate(
            prompts, max_new_tokens=80, logits_processors=[WatermarkLogitsProcessor(scheme)]
        )
    ]
    curve = detection_vs_length(scheme, samples, [16, 40, 80]).to_dict()
    assert curve["detection_rate"][-1] == 1.0
    assert curve["mean_z"][0] < curve["mean_z"][-1]
    robustness = watermark_robustness(tiny_lm, scheme, samples, rates=(0.1, 0.5))
    result = robustness.to_dict()
    assert result["clean"]["detection_rate"] == 1.0
    assert result["substitution"]["0.5"]["mean_z"] < result["substitution"]["0.1"]["mean_z"]
    assert result["deletion"]["0.5"]["mean_z"] < result["clean"]["mean_z"]
    assert robustness.clean.rate is not None and robustness.clean.rate.total == 2
    assert [row["attack"] for row in robustness.rows()][:3] == [
        "none",
        "substitution 10%",
        "substitution 50%",
    ]
    import json

    json.dumps(result)  # JSON-serialisable


def test_roc_auc() -> None:
    assert roc_auc([0, 1, 2], [3, 4]) == 1.0
    assert roc_auc([3, 4], [0, 1, 2]) == 0.0
    assert roc_auc([1, 1], [1, 1]) == 0.5
    rng = np.random.default_rng(0)
    from sklearn.metrics import roc_auc_score

    h, m = rng.normal(size=50), rng.normal(0.5, size=40)
    expected = roc_auc_score(np.r_[np.zeros(50), np.ones(40)], np.r_[h, m])
    assert abs(roc_auc(h, m) - expected) < 1e-12
    with pytest.raises(ValueError, match="at least one human"):
        roc_auc([], [1.0])


def test_zero_shot_detectors_separate_model_text(tiny_lm: Any) -> None:
    """Greedy text of a model is far more likely under it than uniformly random tokens."""
    generator = torch.Generator().manual_seed(0)
    prompts = torch.randint(0, V, (6, 2), generator=generator)
    machine = [
        torch.cat([p, o.new_ids])
        for p, o in zip(
            prompts, tiny_lm.generate(prompts, max_new_tokens=30, do_sample=False), strict=True
        )
    ]
    human = [torch.randint(0, V, (32,), generator=generator) for _ in range(6)]
    h = score_ids(tiny_lm.model, human, batch_size=4)
    m = score_ids(tiny_lm.model, machine, batch_size=4)
    for name in DETECTORS:
        assert roc_auc(h.get(name), m.get(name)) > 0.9, name
    assert h.num_tokens.tolist() == [31] * 6
    # Padding does not change a score: one batch vs one at a time.
    single = score_ids(tiny_lm.model, machine[:1], batch_size=1)
    assert np.allclose(single.fast_detectgpt, m.fast_detectgpt[:1], atol=1e-4)
    with pytest.raises(ValueError, match="not enough tokens to decide"):
        score_ids(tiny_lm.model, [torch.tensor([1, 2, 3])])
    with pytest.raises(ValueError, match="unknown detector"):
        h.get("gptzero")


def test_a_prefix_is_context_only(tiny_lm: Any) -> None:
    """Scoring ``prefix + continuation`` with the prefix as context scores only the continuation."""
    generator = torch.Generator().manual_seed(1)
    prefixes = [torch.randint(0, V, (n,), generator=generator) for n in (3, 7, 10)]
    continuations = [torch.randint(0, V, (n,), generator=generator) for n in (12, 5, 20)]
    joined = [torch.cat([p, c]) for p, c in zip(prefixes, continuations, strict=True)]
    given = score_ids(tiny_lm.model, joined, context_lengths=[3, 7, 10], batch_size=2)
    assert given.num_tokens.tolist() == [12, 5, 20]
    # Padding and batching do not change a conditioned score.
    alone = score_ids(tiny_lm.model, joined[2:], context_lengths=[10], batch_size=1)
    assert np.allclose(alone.log_likelihood, given.log_likelihood[2:], atol=1e-5)
    # The prefix changes the scores of the same continuation.
    bare = score_ids(tiny_lm.model, continuations, batch_size=2)
    assert not np.allclose(bare.log_likelihood, given.log_likelihood, atol=1e-4)
    # The default context is the first token.
    default = score_ids(tiny_lm.model, joined)
    ones = score_ids(tiny_lm.model, joined, context_lengths=[1, 1, 1])
    assert np.array_equal(default.fast_detectgpt, ones.fast_detectgpt)
    with pytest.raises(ValueError, match="not enough tokens to decide"):
        score_ids(tiny_lm.model, joined[1:2], context_lengths=[9])  # 3 tokens left, 4 needed
    with pytest.raises(ValueError, match="context length 0 must be an int >= 1"):
        score_ids(tiny_lm.model, joined[:1], context_lengths=[0])
    with pytest.raises(ValueError, match="entries for 3 sequences"):
        score_ids(tiny_lm.model, joined, context_lengths=[1])


def test_raw_prefixes_are_continued_as_they_are(tiny_lm: Any) -> None:
    generator = torch.Generator().manual_seed(2)
    prefixes = [torch.randint(1, V, (n,), generator=generator) for n in (5, 9, 5)]
    out = generate_watermarked(tiny_lm, None, prefixes, max_new_tokens=6, seed=2, batch_size=2)
    assert [len(ids) for ids in out] == [6, 6, 6]
    # Sorted by length: the two 5-token prefixes share the first batch (seed 2).
    direct = tiny_lm.generate(
        [prefixes[0], prefixes[2]], max_new_tokens=6, min_new_tokens=6, top_k=50, seed=2
    )
    assert torch.equal(out[0], direct[0].new_ids) and torch.equal(out[2], direct[1].new_ids)


class _Templated:
    """The tiny whitespace tokenizer with a chat template that adds a word on each side."""

    eos_token_id = None
    pad_token_id = 0
    chat_template = "wrap"

    def __len__(self) -> int:
        return V

    def __call__(self, text: str, add_special_tokens: bool = False) -> dict[str, list[int]]:
        return {"input_ids": [int(word[1:]) for word in text.split()]}

    def decode(self, ids: list[int], skip_special_tokens: bool = True) -> str:
        return " ".join(f"w{i}" for i in ids)

    def apply_chat_template(self, messages: Any, **options: Any) -> str:
        return f"w1 {messages[0]['content']} w2"


def test_text_prompts_go_through_the_chat_template_and_ids_do_not(tiny_lm: Any) -> None:
    lm = dataclasses.replace(tiny_lm, tokenizer=_Templated())
    prompt = "w5 w6 w7 w8"
    assert lm.chat_prompt(prompt).tolist() == [1, 5, 6, 7, 8, 2]
    templated = generate_watermarked(lm, None, [prompt], max_new_tokens=4, seed=1)
    wrapped = generate_watermarked(lm, None, [lm.chat_prompt(prompt)], max_new_tokens=4, seed=1)
    raw = generate_watermarked(lm, None, [lm.encode(prompt)], max_new_tokens=4, seed=1)
    assert torch.equal(templated[0], wrapped[0])
    assert not torch.equal(templated[0], raw[0])
