"""Randomness that belongs to an example, not to a batch: draws keyed by (seed, example index).

An evaluation split into batches, shards or workers must give every example the same random
draws however the work was split, or its result depends on the split. Every per-example draw
is therefore a pure function of ``(seed, example index, counters...)``:

- :func:`example_seed` mixes them into one 63-bit integer (the seed of a ``torch.Generator``
  that draws a whole tensor for one example, e.g. a random start);
- :func:`example_ints` and :func:`example_bits` draw, for many examples at once, small random
  integers keyed by ``(seed, id, counters...)``: a counter-based generator (SplitMix64's
  finaliser applied to a key), vectorised in NumPy's wrapping ``uint64`` arithmetic, for loops
  such as Square's that draw a little for every example at every iteration.

Reference:
    G. L. Steele, D. Lea, C. H. Flood, "Fast splittable pseudorandom number generators",
    OOPSLA 2014 (SplitMix64); J. K. Salmon et al., "Parallel random numbers: as easy as
    1, 2, 3", SC 2011 (counter-based generators).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

__all__ = [
    "check_ids",
    "example_bits",
    "example_generator",
    "example_ints",
    "example_seed",
    "ids_or_range",
]

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MUL_1 = np.uint64(0xBF58476D1CE4E5B9)
_MUL_2 = np.uint64(0x94D049BB133111EB)


def _mix(z: np.ndarray) -> np.ndarray:
    """SplitMix64's finaliser on ``uint64`` values (wrapping arithmetic, logical shifts)."""
    with np.errstate(over="ignore"):
        z = (z ^ (z >> np.uint64(30))) * _MUL_1
        z = (z ^ (z >> np.uint64(27))) * _MUL_2
        mixed: np.ndarray = z ^ (z >> np.uint64(31))
    return mixed


def _check_key(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise ValueError(f"{name} must be an int >= 0, got {value!r}")
    return int(value)


def _keys(seed: int, ids: np.ndarray, counters: tuple[int, ...]) -> np.ndarray:
    """The mixed key of ``(seed, id, *counters)`` for every id (``uint64``)."""
    state = _mix(np.full(ids.shape, _check_key("seed", seed) % 2**64, dtype=np.uint64) + _GOLDEN)
    with np.errstate(over="ignore"):
        state = _mix(state ^ (ids.astype(np.uint64) + _GOLDEN))
        for counter in counters:
            state = _mix(state ^ (np.uint64(_check_key("counter", counter) % 2**64) + _GOLDEN))
    return state


def _ids_array(ids: Tensor) -> np.ndarray:
    if not isinstance(ids, Tensor) or ids.ndim != 1 or ids.dtype != torch.long:
        raise TypeError(f"ids must be a 1-D int64 tensor of example indices, got {ids!r}")
    array = ids.detach().cpu().numpy()
    if array.size and int(array.min()) < 0:
        raise ValueError("ids must be >= 0")
    return array


def example_seed(seed: int, index: int, *counters: int) -> int:
    """A 63-bit seed for example ``index`` under ``seed`` (and optional ``counters``).

    Different ``(seed, index, counters)`` give unrelated seeds; the same give the same seed on
    every machine.
    """
    key = _keys(seed, np.array([_check_key("index", index)], dtype=np.uint64), counters)
    return int(key[0] >> np.uint64(1))


def example_generator(
    seed: int, index: int, *counters: int, device: torch.device | None = None
) -> torch.Generator:
    """A ``torch.Generator`` on ``device`` seeded with :func:`example_seed`."""
    generator = torch.Generator(device=device if device is not None else "cpu")
    generator.manual_seed(example_seed(seed, index, *counters))
    return generator


def example_ints(seed: int, ids: Tensor, high: Tensor | int, *counters: int) -> Tensor:
    """One integer in ``[0, high)`` for each example id, keyed by ``(seed, id, *counters)``.

    Args:
        seed: the run's seed.
        ids: ``(m,)`` int64 example indices.
        high: ``(m,)`` or one exclusive upper bound (``>= 1``).
        counters: what else the draw depends on (an iteration, a purpose).

    Returns:
        ``(m,)`` int64 on ``ids``' device (the bias of the modulo is below ``high / 2⁶⁴``).
    """
    keys = _keys(seed, _ids_array(ids), counters)
    bounds = high.detach().cpu().numpy() if isinstance(high, Tensor) else np.asarray(high)
    if np.any(bounds < 1):
        raise ValueError(f"high must be >= 1, got {high!r}")
    draws = keys % bounds.astype(np.uint64)
    return torch.from_numpy(draws.astype(np.int64)).to(ids.device)


def example_bits(seed: int, ids: Tensor, count: int, *counters: int) -> Tensor:
    """``count`` random booleans for each example id, keyed by ``(seed, id, *counters)``.

    Returns:
        ``(m, count)`` bool on ``ids``' device.
    """
    count = _check_key("count", count)
    array = _ids_array(ids)
    words = [_keys(seed, array, (*counters, block)) for block in range((count + 63) // 64)]
    if not words:
        return torch.zeros(array.shape[0], 0, dtype=torch.bool, device=ids.device)
    stacked = np.stack(words, axis=1)  # (m, blocks) uint64
    shifts = np.arange(64, dtype=np.uint64)
    bits = ((stacked[:, :, None] >> shifts) & np.uint64(1)).reshape(array.shape[0], -1)
    return torch.from_numpy(bits[:, :count].astype(np.bool_)).to(ids.device)


def check_ids(ids: object, n: int, device: torch.device) -> Tensor | None:
    """``ids`` if it is ``None`` or ``(n,)`` distinct int64 indices ``>= 0``; else a clear error.

    Returns:
        ``None``, or the indices on ``device``.

    Raises:
        TypeError: for something other than a tensor of int64.
        ValueError: for a wrong shape, a negative index or a repeated one.
    """
    if ids is None:
        return None
    if not isinstance(ids, Tensor) or ids.dtype != torch.long:
        raise TypeError(f"ids must be an int64 tensor of example indices, got {ids!r}")
    if ids.shape != (n,):
        raise ValueError(
            f"ids must have shape ({n},), one index per example, got {tuple(ids.shape)}"
        )
    if n and (int(ids.min()) < 0 or ids.unique().numel() != n):
        raise ValueError("ids must be distinct example indices >= 0")
    return ids.to(device)


def ids_or_range(ids: object, n: int, device: torch.device) -> Tensor:
    """:func:`check_ids`'s ``ids``, or ``0 … n−1`` when none are given (on ``device``)."""
    checked = check_ids(ids, n, device)
    return torch.arange(n, device=device) if checked is None else checked
