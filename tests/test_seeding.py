"""Per-example randomness: draws keyed by (seed, example index, counters), never by a batch."""

from __future__ import annotations

import pytest
import torch

from aisec.seeding import check_ids, example_bits, example_generator, example_ints, example_seed


def test_a_seed_is_a_pure_function_of_its_keys() -> None:
    assert example_seed(3, 7) == example_seed(3, 7)
    seeds = {example_seed(s, i, *c) for s in (0, 1) for i in (0, 1, 2) for c in ((), (0,), (1,))}
    assert len(seeds) == 18  # every key gives its own seed
    assert all(0 <= s < 2**63 for s in seeds)  # a valid torch seed
    a = torch.rand(4, generator=example_generator(3, 7, 1))
    assert torch.equal(a, torch.rand(4, generator=example_generator(3, 7, 1)))
    assert not torch.equal(a, torch.rand(4, generator=example_generator(3, 8, 1)))


def test_an_examples_draws_do_not_depend_on_the_others() -> None:
    ids = torch.tensor([4, 11, 2, 30, 7])
    whole = example_ints(5, ids, 1000, 9)
    assert torch.equal(example_ints(5, ids[[3, 1]], 1000, 9), whole[[3, 1]])
    assert torch.equal(example_ints(5, ids.flip(0), 1000, 9), whole.flip(0))
    bits = example_bits(5, ids, 70, 2)
    assert bits.shape == (5, 70) and bits.dtype == torch.bool
    assert torch.equal(example_bits(5, ids[2:], 70, 2), bits[2:])
    # Another counter or seed: other draws.
    assert not torch.equal(example_ints(5, ids, 1000, 10), whole)
    assert not torch.equal(example_ints(6, ids, 1000, 9), whole)


def test_draws_are_in_range_and_balanced() -> None:
    ids = torch.arange(20_000)
    high = torch.arange(20_000) % 7 + 1
    values = example_ints(0, ids, high, 0)
    assert bool(((values >= 0) & (values < high)).all())
    sixes = example_ints(1, ids, 6, 0)
    counts = torch.bincount(sixes, minlength=6).double() / 20_000
    assert float((counts - 1 / 6).abs().max()) < 0.02
    assert abs(float(example_bits(2, ids, 3, 0).double().mean()) - 0.5) < 0.01


def test_bad_keys_are_refused() -> None:
    with pytest.raises(ValueError, match="seed must be an int >= 0"):
        example_seed(-1, 0)
    with pytest.raises(TypeError, match="1-D int64 tensor"):
        example_ints(0, torch.tensor([0.5]), 3)
    with pytest.raises(ValueError, match="ids must be >= 0"):
        example_ints(0, torch.tensor([-2]), 3)
    with pytest.raises(ValueError, match="high must be >= 1"):
        example_ints(0, torch.tensor([1]), 0)
    with pytest.raises(ValueError, match="distinct"):
        check_ids(torch.tensor([1, 1]), 2, torch.device("cpu"))
    with pytest.raises(ValueError, match=r"shape \(3,\)"):
        check_ids(torch.tensor([1, 2]), 3, torch.device("cpu"))
    with pytest.raises(TypeError, match="int64"):
        check_ids([1, 2], 2, torch.device("cpu"))
    assert check_ids(None, 4, torch.device("cpu")) is None
