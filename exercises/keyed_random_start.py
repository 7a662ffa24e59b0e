"""Exercise ``keyed_random_start`` (chapter 6, docs/06-your-own-model.md): a split-proof start.

aisec's shards give the same answer however a run is split because every random draw of an
example comes from (seed, its index), never from its batch. Write PGD's L∞ random start that way:
x0 = clip(x + δ, 0, 1) with δ uniform in [−ε, ε] per pixel, drawn for row i from a generator
seeded by (seed, ids[i]) only (e.g. aisec.seeding.example_generator, or your own mix of the two
numbers). Splitting the batch or reordering it must not change any example's start.

Check it:  aisec exercise check keyed_random_start
"""

from torch import Tensor


def random_start(x: Tensor, ids: Tensor, eps: float, seed: int) -> Tensor:
    """x0 (N, ...) = clip(x + δ, 0, 1), δ uniform in [−eps, eps], row i keyed by (seed, ids[i])."""
    raise NotImplementedError
