"""Building blocks shared by the gradient attacks: random starts, steps and projections."""

from __future__ import annotations

from typing import Protocol

import torch
from torch import Tensor

from aisec.seeding import example_generator
from aisec.threat import ThreatModel, linf_box

__all__ = [
    "BallProjector",
    "ExactProjector",
    "Projection",
    "ascent_direction",
    "batch_view",
    "make_generator",
    "random_start",
    "random_start_per_example",
]


def batch_view(values: Tensor, like: Tensor) -> Tensor:
    """Reshape ``(N,)`` values to ``(N, 1, ..., 1)`` so they broadcast against ``like``."""
    return values.view(-1, *([1] * (like.ndim - 1)))


def make_generator(seed: int, device: torch.device) -> torch.Generator:
    """A ``torch.Generator`` on ``device`` seeded with ``seed``."""
    generator = torch.Generator(device=device)
    generator.manual_seed(seed)
    return generator


def random_start(x: Tensor, threat: ThreatModel, generator: torch.Generator) -> Tensor:
    """A uniformly random point of the threat model's ball around each ``x``, clipped to bounds.

    Args:
        x: ``(N, ...)`` clean inputs.
        threat: the threat model (``"linf"`` or ``"l2"``).
        generator: the source of randomness, on ``x``'s device.

    Returns:
        ``(N, ...)`` starting points inside the threat model.
    """
    lo, hi = threat.bounds
    eps = threat.eps
    if threat.norm == "linf":
        noise = torch.rand(x.shape, generator=generator, device=x.device, dtype=x.dtype)
        return (x + (2.0 * noise - 1.0) * eps).clamp_(lo, hi)
    direction = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
    flat = direction.reshape(x.shape[0], -1)
    direction = direction / batch_view(flat.norm(dim=1).clamp(min=1e-12), x)
    u = torch.rand(x.shape[0], generator=generator, device=x.device, dtype=x.dtype)
    radius = eps * u.pow(1.0 / flat.shape[1])
    return (x + direction * batch_view(radius, x)).clamp_(lo, hi)


def random_start_per_example(
    x: Tensor, threat: ThreatModel, seed: int, ids: Tensor, *counters: int
) -> Tensor:
    """:func:`random_start` with each row's draws keyed by ``(seed, ids[i], *counters)``.

    Row ``i``'s start is the same whatever other rows share the batch (a shard, a worker),
    because its noise comes from its own generator (:func:`aisec.seeding.example_generator`).

    Args:
        x: ``(N, ...)`` clean inputs.
        threat: the threat model (``"linf"`` or ``"l2"``).
        seed: the attack's seed.
        ids: ``(N,)`` int64 example indices.
        counters: what else the start depends on (a restart or target-class run).

    Returns:
        ``(N, ...)`` starting points inside the threat model.
    """
    lo, hi = threat.bounds
    eps = threat.eps
    shape = x.shape[1:]
    noises = []
    for index in ids.tolist():
        generator = example_generator(seed, index, *counters, device=x.device)
        if threat.norm == "linf":
            noise = torch.rand(shape, generator=generator, device=x.device, dtype=x.dtype)
            noises.append((2.0 * noise - 1.0) * eps)
            continue
        direction = torch.randn(shape, generator=generator, device=x.device, dtype=x.dtype)
        u = torch.rand((), generator=generator, device=x.device, dtype=x.dtype)
        radius = eps * u.pow(1.0 / direction.numel())
        noises.append(direction * (radius / direction.norm().clamp(min=1e-12)))
    if not noises:
        return x.clone()
    return (x + torch.stack(noises)).clamp_(lo, hi)


def ascent_direction(grad: Tensor, norm: str) -> Tensor:
    """The steepest-ascent direction of unit ``norm``-length: ``sign(g)`` or ``g/‖g‖₂``."""
    if norm == "linf":
        return grad.sign()
    flat = grad.reshape(grad.shape[0], -1)
    return grad / batch_view(flat.norm(dim=1).clamp(min=1e-12), grad)


class BallProjector:
    """A fast, feasible projection onto the threat model around fixed clean points.

    L∞ is exact (a clamp against precomputed per-coordinate bounds). L2 scales the perturbation
    into the ball and then clips to the box (the usual PGD step of Madry et al.); the result is
    inside the threat model because clipping towards ``x`` only shrinks the perturbation. The
    exact projection is :meth:`aisec.threat.ThreatModel.project`.

    Args:
        x: ``(N, ...)`` clean inputs.
        threat: the threat model.
    """

    def __init__(self, x: Tensor, threat: ThreatModel) -> None:
        self.x = x
        self.norm = threat.norm
        self.eps = threat.eps
        self.bounds = threat.bounds
        if self.norm == "linf":
            self.lower, self.upper = linf_box(x, threat.eps, threat.bounds)

    def __call__(self, x_new: Tensor) -> Tensor:
        """Project ``x_new`` ``(N, ...)`` (modified in place for L∞) into the threat model."""
        if self.norm == "linf":
            return x_new.clamp_(min=self.lower, max=self.upper)
        delta = x_new - self.x
        norms = delta.reshape(delta.shape[0], -1).norm(dim=1)
        factor = (self.eps / norms.clamp(min=1e-12)).clamp(max=1.0)
        lo, hi = self.bounds
        return (self.x + delta * batch_view(factor, delta)).clamp_(lo, hi)

    def select(self, keep: Tensor) -> BallProjector:
        """The projector for the rows ``keep`` (an index or bool mask)."""
        other = BallProjector.__new__(BallProjector)
        other.x = self.x[keep]
        other.norm = self.norm
        other.eps = self.eps
        other.bounds = self.bounds
        if self.norm == "linf":
            other.lower = self.lower[keep]
            other.upper = self.upper[keep]
        return other


class ExactProjector:
    """The exact projection onto the threat model around fixed clean points.

    :meth:`aisec.threat.ThreatModel.project` (the closest point of the ball ∩ box) without its
    input checks; for L∞ it equals :class:`BallProjector`, for L2 it is slower but exact.

    Args:
        x: ``(N, ...)`` clean inputs inside the threat model's bounds.
        threat: the threat model.
    """

    def __init__(self, x: Tensor, threat: ThreatModel) -> None:
        self.x = x
        self.threat = threat

    def __call__(self, x_new: Tensor) -> Tensor:
        """The projection of ``x_new`` ``(N, ...)`` (a new tensor)."""
        return self.threat._project(x_new, self.x)

    def select(self, keep: Tensor) -> ExactProjector:
        """The projector for the rows ``keep`` (an index or bool mask)."""
        return ExactProjector(self.x[keep], self.threat)


class Projection(Protocol):
    """A projection onto the threat model around a batch of clean points, row-selectable.

    :class:`BallProjector` and :class:`ExactProjector` are projections.
    """

    def __call__(self, x_new: Tensor, /) -> Tensor:
        """Project ``x_new`` ``(N, ...)`` (possibly in place) and return the result."""
        ...

    def select(self, keep: Tensor, /) -> Projection:
        """The projection for the rows ``keep`` (an index or bool mask)."""
        ...
