"""Gaussian blur: a differentiable low-pass filter.

Blurring is differentiable, so an adaptive attack needs no BPDA: it simply differentiates
through the blur.

Reference:
    A. Athalye et al., ICML 2018 (differentiable transformations are no obstacle to attacks).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from aisec.defenses.preprocess._checks import check_float, check_int
from aisec.defenses.preprocess.base import Preprocessor

__all__ = ["GaussianBlur"]


class GaussianBlur(Preprocessor):
    """Convolve each channel with a ``kernel_size × kernel_size`` Gaussian (reflect padding).

    Args:
        kernel_size: odd kernel side, ``>= 3``.
        sigma: the Gaussian's standard deviation in pixels, ``(0, 100]``.
        bpda: identity gradient instead of the exact one (see :class:`Preprocessor`).

    Reference:
        A. Athalye, N. Carlini, D. Wagner, ICML 2018 (arXiv:1802.00420): a differentiable
        transformation is attacked through its exact gradient.
    """

    name = "blur"
    differentiable = True
    randomized = False

    def __init__(self, kernel_size: int = 3, sigma: float = 1.0, *, bpda: bool = False) -> None:
        super().__init__(bpda=bpda)
        self.kernel_size = check_int("kernel_size", kernel_size, 3)
        if self.kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be odd, got {kernel_size}")
        self.sigma = check_float("sigma", sigma, 0.0, 100.0, open_low=True)

    def spec(self) -> str:
        return f"blur:{self.kernel_size}:{self.sigma:g}"

    def _kernel(self, channels: int, like: Tensor) -> Tensor:
        half = self.kernel_size // 2
        t = torch.arange(-half, half + 1, dtype=torch.float64)
        g = torch.exp(-(t**2) / (2 * self.sigma**2))
        g = g / g.sum()
        k2 = (g[:, None] * g[None, :]).to(device=like.device, dtype=like.dtype)
        return k2.expand(channels, 1, -1, -1)

    def defend(self, x: Tensor) -> Tensor:
        """Blurred ``(N, C, H, W)`` images (each channel separately)."""
        half = self.kernel_size // 2
        if min(x.shape[2], x.shape[3]) <= half:
            raise ValueError(
                f"images of size {tuple(x.shape[2:])} are too small for a {self.kernel_size}×"
                f"{self.kernel_size} kernel"
            )
        padded = F.pad(x, (half, half, half, half), mode="reflect")
        return F.conv2d(padded, self._kernel(x.shape[1], x), groups=x.shape[1])
