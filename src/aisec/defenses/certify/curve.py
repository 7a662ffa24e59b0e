"""Certified accuracy against L2 radius: the curve of Cohen et al. (2019), as data.

The certified accuracy at radius ``r`` is the fraction of test points whose CERTIFY answer is
their true label with a certified radius of at least ``r`` (abstentions count as wrong). It is
a lower bound, holding with probability ``1 − α`` per point, on the smoothed classifier's
robust accuracy against every L2 attack of size below ``r``. The report draws the curve
(:func:`aisec.report.figures.plot_certified_accuracy`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from scipy import stats
from torch import Tensor

from aisec.defenses.certify.smoothing import Certificate
from aisec.stats import Rate

__all__ = [
    "CertifiedAccuracyCurve",
    "certified_accuracy_curve",
    "max_certifiable_radius",
    "radius_grid",
]


@dataclass(frozen=True)
class CertifiedAccuracyCurve:
    """Certified accuracy of a smoothed classifier on a grid of L2 radii.

    Attributes:
        radii: the grid of radii ``r`` (increasing, starting at 0).
        certified_accuracy: per radius, the fraction of points predicted correctly with a
            certified radius ``>= r``.
        n_points: the number of test points.
        abstain_rate: fraction of points CERTIFY abstained on.
        clean_accuracy: the certified accuracy at radius 0 (CERTIFY's class is the label).
        sigma: the smoothing noise level.
        n0, n, alpha: the CERTIFY settings.
    """

    radii: tuple[float, ...]
    certified_accuracy: tuple[float, ...]
    n_points: int
    abstain_rate: float
    clean_accuracy: float
    sigma: float
    n0: int
    n: int
    alpha: float

    def certified_accuracy_at(self, radius: float) -> Rate:
        """Certified accuracy at ``radius``, with the number of points.

        The value is the curve's at the first grid radius ``>= radius`` (certified accuracy
        only falls with the radius, so this never over-states it), and 0 beyond the grid.

        Args:
            radius: an L2 radius ``>= 0``.

        Returns:
            The points certified correct at that radius, out of :attr:`n_points`.
        """
        if not radius >= 0:
            raise ValueError(f"radius must be >= 0, got {radius}")
        for r, accuracy in zip(self.radii, self.certified_accuracy, strict=True):
            if r >= radius:
                return Rate.from_fraction(accuracy, self.n_points)
        return Rate(0, self.n_points)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: the settings and ``curve``, a list of ``{radius, certified_accuracy}``."""
        return {
            "sigma": self.sigma,
            "n0": self.n0,
            "n": self.n,
            "alpha": self.alpha,
            "n_points": self.n_points,
            "abstain_rate": self.abstain_rate,
            "clean_accuracy": self.clean_accuracy,
            "curve": [
                {"radius": r, "certified_accuracy": a}
                for r, a in zip(self.radii, self.certified_accuracy, strict=True)
            ],
        }


def max_certifiable_radius(sigma: float, n: int, alpha: float) -> float:
    """The largest radius CERTIFY can return: ``σ · Φ⁻¹(α^(1/n))`` (all ``n`` votes agree)."""
    if not sigma > 0 or n < 1 or not 0 < alpha < 1:
        raise ValueError(f"need sigma > 0, n >= 1 and alpha in (0, 1); got {sigma}, {n}, {alpha}")
    p_lower = alpha ** (1.0 / n)
    return float(sigma * stats.norm.ppf(p_lower)) if p_lower > 0.5 else 0.0


def radius_grid(max_radius: float, steps: int = 50) -> tuple[float, ...]:
    """``steps + 1`` evenly spaced radii from 0 to ``max_radius`` (both included)."""
    if not max_radius >= 0 or steps < 1:
        raise ValueError(f"need max_radius >= 0 and steps >= 1, got {max_radius}, {steps}")
    return tuple(float(r) for r in np.linspace(0.0, max_radius, steps + 1))


def certified_accuracy_curve(
    certificate: Certificate, labels: Tensor, radii: Sequence[float]
) -> CertifiedAccuracyCurve:
    """Certified accuracy of ``certificate`` against the true ``labels`` at each radius.

    Args:
        certificate: CERTIFY's result on ``N`` test points.
        labels: ``(N,)`` true classes.
        radii: the radii ``r >= 0`` at which to evaluate, increasing.

    Returns:
        A :class:`CertifiedAccuracyCurve`.
    """
    if not isinstance(labels, Tensor) or labels.shape != certificate.prediction.shape:
        raise ValueError(
            f"labels must be a tensor of shape {tuple(certificate.prediction.shape)}, got "
            f"{tuple(labels.shape) if isinstance(labels, Tensor) else type(labels).__name__}"
        )
    if labels.dtype == torch.bool or labels.is_floating_point() or labels.is_complex():
        raise TypeError(
            f"labels must be an integer tensor of class indices, got {labels.dtype}; float "
            "labels are not rounded or truncated"
        )
    grid = tuple(float(r) for r in radii)
    if not grid or any(r < 0 for r in grid) or list(grid) != sorted(grid):
        raise ValueError(f"radii must be a non-empty increasing sequence of values >= 0: {grid}")
    n_points = int(labels.shape[0])
    if n_points == 0:
        raise ValueError("the certificate holds no points")
    correct = (certificate.prediction.cpu() == labels.cpu().to(torch.int64)) & ~(
        certificate.abstained.cpu()
    )
    radius = certificate.radius.cpu()
    accuracy = tuple(float((correct & (radius >= r)).double().mean()) for r in grid)
    return CertifiedAccuracyCurve(
        radii=grid,
        certified_accuracy=accuracy,
        n_points=n_points,
        abstain_rate=float(certificate.abstained.double().mean()),
        clean_accuracy=float(correct.double().mean()),
        sigma=certificate.sigma,
        n0=certificate.n0,
        n=certificate.n,
        alpha=certificate.alpha,
    )
