"""Green lists: deterministic, of size int(gamma V), and equal to the reference algorithm."""

from __future__ import annotations

import functools

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from aisec.genai.watermark import UnigramScheme, WatermarkScheme

V = 1000


def _wrap64(value: int) -> int:
    """Two's-complement int64 wrap-around of a Python int."""
    return (value + 2**63) % 2**64 - 2**63


@functools.cache
def _hash_table() -> list[int]:
    table_rng = torch.Generator()
    table_rng.manual_seed(2971215073)
    return torch.randperm(1_000_003, generator=table_rng).tolist()


def reference_green_list(
    context: list[int], vocab_size: int, gamma: float, seeding: str, key: int
) -> list[int]:
    """The reference's per-token computation, written out plainly (the test oracle).

    simple_1: seed = key * previous token. selfhash: hashint(x) = table[x % 1000003] + 1 with
    table = randperm(1000003) from a generator seeded 2971215073, seed = min_i
    int64(key * hashint(w_i) * hashint(w_last)) over the last 4 tokens; then
    randperm(V, generator seeded with seed mod (2**64 - 1)) and the first int(gamma V) ids.
    """
    if seeding == "simple_1":
        seed = key * context[-1]
    else:
        table = _hash_table()
        window = context[-4:]
        hashed = [table[token % 1_000_003] + 1 for token in window]
        seed = min(_wrap64(_wrap64(key * h) * hashed[-1]) for h in hashed)
    rng = torch.Generator()
    rng.manual_seed(seed % (2**64 - 1))
    return torch.randperm(vocab_size, generator=rng)[: int(vocab_size * gamma)].tolist()


@pytest.mark.parametrize("seeding", ["simple_1", "selfhash"])
@pytest.mark.parametrize("gamma", [0.25, 0.5, 0.1])
def test_green_list_size_and_determinism(seeding: str, gamma: float) -> None:
    scheme = WatermarkScheme(V, gamma=gamma, seeding=seeding)
    context = [3, 17, 512, 999, 42]
    green = scheme.green_list(context)
    assert green.dtype == torch.long
    assert green.shape == (int(gamma * V),)
    assert len(set(green.tolist())) == green.numel()
    assert torch.equal(green, WatermarkScheme(V, gamma=gamma, seeding=seeding).green_list(context))
    # Only the last context_width tokens matter.
    longer = [7, 8, 9, *context]
    assert torch.equal(green, scheme.green_list(longer))
    # Another key or another last token gives another list.
    other_key = WatermarkScheme(V, gamma=gamma, seeding=seeding, key=15485867)
    assert not torch.equal(green, other_key.green_list(context))
    assert not torch.equal(green, scheme.green_list([*context[:-1], 43]))


@settings(max_examples=25, deadline=None)
@given(
    context=st.lists(st.integers(0, V - 1), min_size=4, max_size=8),
    seeding=st.sampled_from(["simple_1", "lefthash", "selfhash", "algorithm-3"]),
    key=st.sampled_from([15485863, 1, 2**31 - 1, 7919]),
)
def test_green_list_equals_reference(context: list[int], seeding: str, key: int) -> None:
    scheme = WatermarkScheme(V, gamma=0.25, seeding=seeding, key=key)
    canonical = {"lefthash": "simple_1", "algorithm-3": "selfhash"}.get(seeding, seeding)
    expected = reference_green_list(context, V, 0.25, canonical, key)
    assert scheme.green_list(context).tolist() == expected


def test_selfhash_overflow_matches_reference() -> None:
    # Large hashed values make key * h * h exceed int64: both must wrap identically.
    scheme = WatermarkScheme(50_000, seeding="selfhash")
    for context in ([49_999, 48_000, 47_000, 46_000], [1, 2, 3, 4], [31_000, 0, 31_000, 9]):
        expected = reference_green_list(context, 50_000, 0.25, "selfhash", 15485863)
        assert scheme.green_list(context).tolist() == expected


def test_unigram_list_is_fixed_by_the_key() -> None:
    scheme = UnigramScheme(V)
    assert scheme.green_list().shape == (V // 2,)
    assert torch.equal(scheme.green_list([1]), scheme.green_list([2, 3]))
    assert not torch.equal(scheme.green_list(), UnigramScheme(V, key=3).green_list())


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"gamma": 0.0}, "gamma must be in the open interval"),
        ({"gamma": 1.0}, "gamma must be in the open interval"),
        ({"gamma": -0.2}, "gamma must be in the open interval"),
        ({"delta": -1.0}, "delta must be a finite number >= 0"),
        ({"seeding": "skipgram7"}, "unknown seeding scheme"),
        ({"key": 0}, "key must be an int"),
    ],
)
def test_bad_parameters(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        WatermarkScheme(V, **kwargs)  # type: ignore[arg-type]
    if "seeding" not in kwargs:
        with pytest.raises(ValueError, match=match):
            UnigramScheme(V, **kwargs)  # type: ignore[arg-type]


def test_bad_context() -> None:
    scheme = WatermarkScheme(V, seeding="selfhash")
    with pytest.raises(ValueError, match="needs at least 4 context"):
        scheme.green_list([1, 2])
    with pytest.raises(ValueError, match=r"token ids must be in \[0, 1000\)"):
        scheme.green_list([1, 2, 3, V])
    with pytest.raises(TypeError, match="tokenize the text first"):
        scheme.green_list("hello")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="vocab_size must be an int"):
        WatermarkScheme(1)
