"""Bit-depth reduction: quantize every pixel to ``2**bits`` levels.

The rounding has a zero gradient almost everywhere, so a naive attack sees no gradient; the
BPDA view is the straight-through estimator (identity backward).

References:
    W. Xu, D. Evans, Y. Qi, "Feature Squeezing: Detecting Adversarial Examples in Deep Neural
    Networks", NDSS 2018; A. Athalye et al., ICML 2018 (BPDA).
"""

from __future__ import annotations

from torch import Tensor

from aisec.defenses.preprocess._checks import check_int
from aisec.defenses.preprocess.base import Preprocessor

__all__ = ["BitDepthReduction"]


class BitDepthReduction(Preprocessor):
    """Round pixels in ``[0, 1]`` to ``2**bits`` evenly spaced levels.

    Args:
        bits: bits per pixel, 1 to 8.
        bpda: straight-through gradient (see :class:`Preprocessor`).

    Reference:
        W. Xu, D. Evans, Y. Qi, "Feature Squeezing", NDSS 2018 (arXiv:1704.01155).
    """

    name = "bits"
    differentiable = False
    randomized = False

    def __init__(self, bits: int = 4, *, bpda: bool = False) -> None:
        super().__init__(bpda=bpda)
        self.bits = check_int("bits", bits, 1, 8)

    def spec(self) -> str:
        return f"bits:{self.bits}"

    def defend(self, x: Tensor) -> Tensor:
        """``round(x·(2^b − 1)) / (2^b − 1)`` of ``(N, C, H, W)`` images."""
        levels = float(2**self.bits - 1)
        out: Tensor = (x.clamp(0, 1) * levels).round() / levels
        return out
