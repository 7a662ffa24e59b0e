"""Gaussian data augmentation for randomized smoothing (Cohen, Rosenfeld & Kolter 2019)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from aisec.defenses.training._common import check_positive

__all__ = ["GaussianNoiseTraining"]


@dataclass(frozen=True)
class GaussianNoiseTraining:
    """The step loss of noise training: the cross-entropy at ``x + N(0, σ²I)``.

    A smoothed classifier ``g(x) = argmax_c P(f(x + ε) = c)``, ``ε ~ N(0, σ²I)``, is only as
    good as the base classifier ``f`` is on noisy inputs, so ``f`` is trained on them: fresh
    noise for every batch, not clipped to the pixel range (the smoothing adds unclipped noise
    too). Train with the σ the model will be smoothed with.

    Args:
        sigma: the noise standard deviation σ > 0 (in pixel units of [0, 1] images).

    Reference:
        J. Cohen, E. Rosenfeld, J. Z. Kolter, "Certified Adversarial Robustness via Randomized
        Smoothing", ICML 2019.
    """

    sigma: float = 0.25
    method: ClassVar[str] = "noise"

    def __post_init__(self) -> None:
        object.__setattr__(self, "sigma", check_positive("sigma", self.sigma))

    def perturb(self, x: Tensor, generator: torch.Generator) -> Tensor:
        """``x + σ·N(0, I)`` ``(B, C, H, W)``, the noise drawn from ``generator``."""
        noise = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
        return x + self.sigma * noise

    def __call__(
        self, model: nn.Module, x: Tensor, y: Tensor, generator: torch.Generator
    ) -> tuple[Tensor, Tensor]:
        """The cross-entropy on the noisy batch and its logits ``(B, K)``."""
        logits = model(self.perturb(x, generator))
        return F.cross_entropy(logits, y), logits
