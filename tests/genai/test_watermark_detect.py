"""The detector: z-score formula, vectorized == per-token, null calibration, bad input."""

from __future__ import annotations

import math
from typing import Any

import pytest
import torch

from aisec.genai.watermark import (
    NotEnoughTokensError,
    UnigramScheme,
    WatermarkScheme,
    detect,
    detect_text,
    normalize_text,
    z_score,
)

V = 1000
SCHEMES = [
    WatermarkScheme(V, seeding="simple_1"),
    WatermarkScheme(V, gamma=0.5, seeding="selfhash"),
    UnigramScheme(V),
]


def per_token_detect(
    scheme: WatermarkScheme, ids: list[int], ignore_repeated: bool
) -> tuple[int, int, list[bool]]:
    """A straightforward loop like the reference's: one green list per scored token."""
    prefix = scheme.context_width - int(scheme.self_salt)
    seen: set[tuple[int, ...]] = set()
    scored = green = 0
    mask = [False] * len(ids)
    for position in range(prefix, len(ids)):
        gram = tuple(ids[position - prefix : position + 1])
        window = list(gram) if scheme.self_salt else list(gram[:-1])
        is_green = ids[position] in set(scheme.green_list(window).tolist())
        mask[position] = is_green
        if ignore_repeated and gram in seen:
            continue
        seen.add(gram)
        scored += 1
        green += int(is_green)
    return scored, green, mask


@pytest.mark.parametrize("scheme", SCHEMES, ids=lambda s: s.seeding)
@pytest.mark.parametrize("ignore_repeated", [False, True])
def test_vectorized_equals_per_token(scheme: WatermarkScheme, ignore_repeated: bool) -> None:
    generator = torch.Generator().manual_seed(1)
    # Few distinct tokens, so that n-grams repeat.
    ids = torch.randint(0, 12, (150,), generator=generator) * 7
    result = detect(scheme, ids, ignore_repeated)
    scored, green, mask = per_token_detect(scheme, ids.tolist(), ignore_repeated)
    assert result.num_tokens_scored == scored
    assert result.num_green == green
    assert result.green_mask.tolist() == mask
    assert math.isclose(result.z_score, z_score(green, scored, scheme.gamma))
    if ignore_repeated:
        assert scored < len(ids) - scheme.min_prefix
    else:
        assert scored == len(ids) - scheme.min_prefix


def test_z_score_and_p_value_formula() -> None:
    scheme = WatermarkScheme(V, gamma=0.25)
    ids = torch.randint(0, V, (201,), generator=torch.Generator().manual_seed(2))
    result = detect(scheme, ids, ignore_repeated=False)
    t, g = result.num_tokens_scored, result.num_green
    assert t == 200
    direct = (g - 0.25 * t) / math.sqrt(t * 0.25 * 0.75)
    assert math.isclose(result.z_score, direct, rel_tol=1e-12)
    from scipy.stats import norm

    assert math.isclose(result.p_value, float(norm.sf(direct)), rel_tol=1e-9)
    assert result.green_fraction == g / t
    assert result.watermarked == (direct > 4.0)
    assert math.isclose(z_score(50, 100, 0.25), 25 / math.sqrt(18.75))


@pytest.mark.parametrize(
    ("scheme", "trials"),
    [
        (WatermarkScheme(256), 2000),
        (UnigramScheme(256), 2000),
        # selfhash's min-hash seeds repeat across windows, so with a tiny vocabulary the
        # per-token green rate drifts from gamma: test it on a larger one, with fewer trials.
        (WatermarkScheme(4096, seeding="selfhash"), 300),
    ],
    ids=lambda value: getattr(value, "seeding", str(value)),
)
def test_null_is_calibrated(scheme: WatermarkScheme, trials: int) -> None:
    generator = torch.Generator().manual_seed(3)
    length = 60
    zs = torch.tensor(
        [
            detect(
                scheme, torch.randint(0, scheme.vocab_size, (length,), generator=generator)
            ).z_score
            for _ in range(trials)
        ]
    )
    assert int((zs >= 4).sum()) == 0  # no false positive at z >= 4 (rate < 1e-3)
    tolerance = 4 / math.sqrt(trials)  # mean 0 and sd 1 under the null
    assert abs(float(zs.mean())) < tolerance
    assert abs(float(zs.std()) - 1) < 2 * tolerance
    assert float(zs.abs().max()) < 4.5


def test_all_green_text_is_detected_and_all_red_is_not() -> None:
    scheme = WatermarkScheme(V, gamma=0.25)
    ids = [5]
    for _ in range(60):  # greedily follow the green lists
        ids.append(int(scheme.green_list(ids)[0]))
    result = detect(scheme, ids, ignore_repeated=False)
    assert result.num_green == 60 and result.watermarked and result.p_value < 1e-12
    # Following the green lists greedily cycles: the repeats are counted once by default.
    distinct = detect(scheme, ids)
    assert distinct.num_repeats_ignored > 0
    assert distinct.num_tokens_scored + distinct.num_repeats_ignored == 60
    assert distinct.num_green == distinct.num_tokens_scored and distinct.watermarked
    red = [5]
    for _ in range(60):
        green = set(scheme.green_list(red).tolist())
        red.append(next(t for t in range(V) if t not in green))
    counted = detect(scheme, red, ignore_repeated=False)
    assert counted.num_green == 0 and not counted.watermarked


def test_too_short_text_gets_no_verdict(tiny_tokenizer: Any) -> None:
    scheme = WatermarkScheme(V)
    with pytest.raises(NotEnoughTokensError, match="not enough tokens to decide"):
        detect(scheme, [])
    with pytest.raises(NotEnoughTokensError, match="not enough tokens to decide"):
        detect(scheme, list(range(5)))
    with pytest.raises(NotEnoughTokensError, match="not enough tokens to decide"):
        detect(scheme, [7] * 40, ignore_repeated=True)  # one distinct bigram
    tokenizer = tiny_tokenizer
    small = WatermarkScheme(len(tokenizer))
    with pytest.raises(NotEnoughTokensError, match="not enough tokens to decide"):
        detect_text(small, "   ", tokenizer)
    with pytest.raises(NotEnoughTokensError, match="not enough tokens to decide"):
        detect_text(small, "w1 w2 w3", tokenizer)


def test_bad_input_is_rejected(tiny_tokenizer: Any) -> None:
    scheme = WatermarkScheme(V)
    with pytest.raises(ValueError, match="token ids must be in"):
        detect(scheme, list(range(990, 1011)))
    with pytest.raises(TypeError, match="integer token ids"):
        detect(scheme, torch.rand(30))
    with pytest.raises(ValueError, match="must be 1-D"):
        detect(scheme, torch.zeros(2, 30, dtype=torch.long))
    with pytest.raises(ValueError, match="the tokenizer has 384 tokens but the watermark"):
        detect_text(scheme, "w1 w2 w3 " * 10, tiny_tokenizer)


def test_normalizer_undoes_unicode_tricks() -> None:
    text = "The quick brown fox"
    attacked = "Тhe q\u200buick brоwn\u2060 fох"  # Cyrillic T, o, x; zero-width characters
    assert attacked != text
    assert normalize_text(attacked) == text
    assert normalize_text("ｆｕｌｌ ﬁne") == "full fine"


def test_detect_text_on_a_tokenizer(tiny_tokenizer: Any) -> None:
    tokenizer = tiny_tokenizer
    scheme = WatermarkScheme(len(tokenizer))
    ids = [1]
    for _ in range(30):
        ids.append(int(scheme.green_list(ids)[0]))
    text = " ".join(f"w{i}" for i in ids)
    result, scored = detect_text(scheme, text, tokenizer)
    assert scored.tolist() == ids and result.num_green == 30
    assert result.to_dict()["watermarked"] is True
