"""Reference solution of the ``scrub_watermark`` exercise (chapter 4).

Two passes over the positions, one query per try: the first keeps a random replacement only when
it removes two green tests at once (z falls by about 2/σ, σ = √(Tγ(1 − γ))), the second any
replacement that lowers z; both stop once z is well below the threshold or the edits run out.
"""

import math
import random
from collections.abc import Callable

TARGET = 2.0


def scrub(
    ids: list[int], z_score: Callable[[list[int]], float], vocab_size: int, max_edits: int
) -> list[int]:
    """``ids`` with at most ``max_edits`` tokens replaced, so that ``z_score`` is 4 or less."""
    rng = random.Random(0)
    current = list(ids)
    z = z_score(current)
    one_green = 1 / math.sqrt(len(ids) * 0.25 * 0.75)  # how much z moves per green test
    edited: set[int] = set()
    for needed in (1.5 * one_green, 0.5 * one_green):  # two greens at once, then one
        for position in range(1, len(current)):
            if z <= TARGET or len(edited) >= max_edits:
                return current
            if position in edited:
                continue
            trial = list(current)
            trial[position] = rng.randrange(vocab_size)
            z_trial = z_score(trial)
            if z - z_trial >= needed:
                current, z = trial, z_trial
                edited.add(position)
    return current
