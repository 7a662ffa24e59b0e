"""The z-test of the green-list watermark (``simple_1`` seeding) on token ids.

Quoted in docs/04-generative-ai.md ("The z-test, written yourself");
tests/docs/test_from_scratch.py checks that the quote is this file and that it gives the same
z-score as ``aisec.genai.watermark.detect``.

Reference: J. Kirchenbauer, J. Geiping, Y. Wen, J. Katz, I. Miers, T. Goldstein, "A Watermark
for Large Language Models", ICML 2023 (Section 3 and Algorithm 2).
"""

import itertools
import math
from collections.abc import Sequence

import torch


def watermark_z(
    ids: Sequence[int], vocab_size: int, gamma: float = 0.25, key: int = 15485863
) -> float:
    """z = (|s|_G − γT) / √(Tγ(1 − γ)) over the distinct (previous, token) pairs of ``ids``."""
    pairs = list(dict.fromkeys(itertools.pairwise(ids)))  # each pair counted once
    green = 0
    for previous, token in pairs:
        generator = torch.Generator().manual_seed(key * previous)  # the key and the context
        green_list = torch.randperm(vocab_size, generator=generator)[: int(gamma * vocab_size)]
        green += int(token in green_list.tolist())
    t = len(pairs)
    return (green - gamma * t) / math.sqrt(t * gamma * (1 - gamma))
