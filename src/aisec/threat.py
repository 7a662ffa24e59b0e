"""The threat model: which perturbations an adversary may apply to an input.

A :class:`ThreatModel` is a value object ``(norm, eps, bounds)``. It says that an adversarial
example ``x_adv`` for a clean input ``x`` must satisfy ``‖x_adv − x‖ ≤ eps`` in the given norm
and stay inside the box ``bounds`` (the valid pixel range). Attacks, defenses and evaluations all
take one, so that "robust at 8/255 in L∞" means the same thing everywhere.

:meth:`ThreatModel.project` is the exact Euclidean projection onto the intersection of the norm
ball and the box, for every supported norm:

* L∞: the intersection of two boxes, a coordinate-wise clamp.
* L2: ``δ = clip(s·v, box)`` where ``s ∈ (0, 1]`` is found exactly by sorting the coordinates'
  breakpoints (the KKT conditions of the projection are separable once ``s`` is known).
* L1: ``δ = sign(v)·clip(|v| − θ, 0, b)``, the sort-based simplex projection of Duchi et al.
  (2008) extended to the box; ``θ`` is found exactly from the sorted breakpoints.

Reference: J. Duchi, S. Shalev-Shwartz, Y. Singer, T. Chandra, "Efficient Projections onto the
l1-Ball for Learning in High Dimensions", ICML 2008.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, get_args

import torch
from torch import Tensor

__all__ = ["NORMS", "Norm", "ThreatModel", "largest_eps", "linf_box", "lp_norms", "parse_eps"]

Norm = Literal["linf", "l2", "l1"]
NORMS: tuple[str, ...] = get_args(Norm)

_EPS_RTOL = 1e-9
"""Relative slack on the largest budget, so that ``eps`` computed as ``width·√d`` passes."""


def parse_eps(
    value: str | float | int, *, maximum: float | None = None, name: str = "eps"
) -> float:
    """Parse a perturbation budget given as a number or a fraction string such as ``"8/255"``.

    Args:
        value: a number, or a string ``"a"`` or ``"a/b"`` with ``a`` and ``b`` decimal numbers.
        maximum: the largest meaningful budget (e.g. ``hi − lo`` for L∞, see
            :func:`largest_eps`), or ``None`` for no upper limit.
        name: what the value is called in the messages (e.g. ``"--sigma"``).

    Returns:
        The budget as a finite, non-negative float (at most ``maximum``).

    Raises:
        ValueError: if the string is not a number or fraction, divides by zero, or the value is
            negative, not finite or above ``maximum``.
        TypeError: if ``value`` is neither a string nor a real number.
    """
    if isinstance(value, bool) or not isinstance(value, (str, float, int)):
        raise TypeError(
            f"{name} must be a number or a string like '8/255', got {type(value).__name__}"
        )
    if isinstance(value, str):
        text = value.strip()
        parts = text.split("/")
        if len(parts) > 2 or not all(p.strip() for p in parts):
            raise ValueError(f"{name} must be a number or a fraction like '8/255', got {value!r}")
        try:
            numbers = [float(p) for p in parts]
        except ValueError:
            raise ValueError(
                f"{name} must be a number or a fraction like '8/255', got {value!r}"
            ) from None
        if len(numbers) == 2:
            if numbers[1] == 0:
                raise ValueError(f"{name} {value!r} divides by zero")
            result = numbers[0] / numbers[1]
        else:
            result = numbers[0]
    else:
        result = float(value)
    if not math.isfinite(result) or result < 0:
        raise ValueError(f"{name} must be finite and >= 0, got {value!r}")
    if maximum is not None and result > maximum * (1.0 + _EPS_RTOL):
        shown = f"{value!r} ({result:.6g})" if isinstance(value, str) else f"{result:.6g}"
        raise ValueError(
            f"{name} {shown} is larger than the largest meaningful budget {maximum:.6g}; use a "
            f"value in [0, {maximum:.6g}]"
        )
    return result


def largest_eps(norm: str, bounds: tuple[float, float], dim: int = 1) -> float:
    """The largest meaningful budget: the diameter of the box ``[lo, hi]^dim`` in ``norm``.

    A ball of that radius around any point of the box contains the whole box, so a larger
    ``eps`` changes nothing and is almost certainly a mistake (``300/255`` for ``3/255``).

    Args:
        norm: ``"linf"``, ``"l2"`` or ``"l1"``.
        bounds: ``(lo, hi)``.
        dim: coordinates per input (``C·H·W`` for images); only L2 and L1 depend on it.

    Returns:
        ``hi − lo`` (L∞), ``(hi − lo)·√dim`` (L2) or ``(hi − lo)·dim`` (L1).
    """
    width = float(bounds[1]) - float(bounds[0])
    if norm == "linf":
        return width
    if norm == "l2":
        return width * math.sqrt(dim)
    if norm == "l1":
        return width * dim
    raise ValueError(f"norm must be one of {NORMS}, got {norm!r}")


def lp_norms(delta: Tensor, norm: str) -> Tensor:
    """Per-example norms of a batch of perturbations.

    Args:
        delta: ``(N, ...)`` perturbations; each example is flattened.
        norm: ``"linf"``, ``"l2"`` or ``"l1"``.

    Returns:
        ``(N,)`` norms in ``delta``'s dtype.
    """
    flat = delta.reshape(delta.shape[0], -1)
    if flat.shape[1] == 0:
        return flat.new_zeros(flat.shape[0])
    if norm == "linf":
        return flat.abs().amax(dim=1)
    if norm == "l2":
        return flat.square().sum(dim=1).sqrt()
    if norm == "l1":
        return flat.abs().sum(dim=1)
    raise ValueError(f"norm must be one of {NORMS}, got {norm!r}")


@dataclass(frozen=True)
class ThreatModel:
    """An Lp-ball threat model intersected with a box of valid inputs.

    Args:
        norm: ``"linf"``, ``"l2"`` or ``"l1"``.
        eps: the radius of the ball, finite and ``>= 0`` (e.g. ``8/255`` for L∞ on CIFAR-like
            images). A string such as ``"8/255"`` is accepted and parsed with :func:`parse_eps`.
            For L∞ it is at most ``hi − lo``; for L2 and L1 the largest meaningful radius
            depends on the input's size, so :meth:`check_input` (called by :meth:`project` and
            by every attack) refuses an ``eps`` above ``(hi − lo)·√d`` or ``(hi − lo)·d``.
        bounds: ``(lo, hi)`` with ``lo < hi``, the valid range of every input coordinate.

    Raises:
        ValueError: for an unknown norm, a negative, non-finite or (L∞) larger-than-the-box eps,
            or invalid bounds.
        TypeError: for arguments of the wrong type.
    """

    norm: Norm
    eps: float
    bounds: tuple[float, float] = (0.0, 1.0)

    def __post_init__(self) -> None:
        if self.norm not in NORMS:
            raise ValueError(f"norm must be one of {NORMS}, got {self.norm!r}")
        object.__setattr__(self, "eps", parse_eps(self.eps))
        bounds = self.bounds
        if not isinstance(bounds, (tuple, list)) or len(bounds) != 2:
            raise TypeError(f"bounds must be a pair (lo, hi), got {bounds!r}")
        if any(isinstance(b, bool) or not isinstance(b, (int, float)) for b in bounds):
            raise TypeError(f"bounds must be two real numbers, got {bounds!r}")
        lo, hi = float(bounds[0]), float(bounds[1])
        if not (math.isfinite(lo) and math.isfinite(hi)) or not lo < hi:
            raise ValueError(f"bounds must be finite with lo < hi, got {bounds!r}")
        object.__setattr__(self, "bounds", (lo, hi))
        if self.norm == "linf" and self.eps > (hi - lo) * (1.0 + _EPS_RTOL):
            raise ValueError(
                f"eps={self.eps:.6g} is larger than the width {hi - lo:.6g} of the bounds "
                f"{(lo, hi)}: an L∞ ball that wide contains every input, so the budget is a "
                f"mistake; use an eps in [0, {hi - lo:.6g}] (e.g. 8/255 for images in [0, 1])"
            )

    def largest_eps(self, dim: int = 1) -> float:
        """The largest meaningful ``eps`` for inputs of ``dim`` coordinates (see
        :func:`largest_eps`)."""
        return largest_eps(self.norm, self.bounds, dim)

    def check_input(self, x: Tensor) -> None:
        """Refuse an ``eps`` larger than the diameter of the box for inputs shaped like ``x``.

        Args:
            x: ``(N, ...)`` inputs; each example has ``d = x[0].numel()`` coordinates.

        Raises:
            ValueError: if ``eps > (hi − lo)·√d`` (L2) or ``eps > (hi − lo)·d`` (L1): such a
                ball contains the whole box, so the budget is a mistake.
        """
        self.check_dimension(int(x[0].numel()) if x.ndim >= 1 and x.shape[0] else 1)

    def check_dimension(self, dim: int) -> None:
        """:meth:`check_input` for inputs of ``dim`` coordinates (e.g. ``C·H·W``), known before
        any input exists (a zoo model's image size)."""
        dim = max(int(dim), 1)
        limit = self.largest_eps(dim)
        if self.eps > limit * (1.0 + _EPS_RTOL):
            raise ValueError(
                f"eps={self.eps:.6g} is larger than the {self.norm} diameter {limit:.6g} of the "
                f"box {self.bounds} for inputs of {dim} coordinates; use an eps in "
                f"[0, {limit:.6g}]"
            )

    def __str__(self) -> str:
        return f"{self.norm} eps={self.eps:.6g} bounds={self.bounds}"

    def to_dict(self) -> dict[str, object]:
        """A JSON-friendly description: ``{"norm", "eps", "bounds"}``."""
        return {"norm": self.norm, "eps": self.eps, "bounds": list(self.bounds)}

    def norms(self, delta: Tensor) -> Tensor:
        """Per-example norms of perturbations ``delta`` ``(N, ...)`` -> ``(N,)``."""
        return lp_norms(delta, self.norm)

    def contains(self, x_adv: Tensor, x: Tensor, atol: float = 1e-6) -> Tensor:
        """Which points lie inside the threat model.

        Args:
            x_adv: ``(N, ...)`` candidate adversarial examples.
            x: ``(N, ...)`` clean inputs, same shape.
            atol: absolute tolerance on the norm and on the bounds.

        Returns:
            ``(N,)`` bool: ``‖x_adv − x‖ ≤ eps + atol`` and every coordinate within the bounds
            (± ``atol``).
        """
        _check_pair(x_adv, x)
        lo, hi = self.bounds
        n = x.shape[0]
        flat = x_adv.reshape(n, -1)
        if flat.shape[1] == 0:
            return torch.ones(n, dtype=torch.bool, device=x.device)
        in_box = ((flat >= lo - atol) & (flat <= hi + atol)).all(dim=1)
        # In float64, so that rounding in the subtraction and the sum cannot decide the answer.
        in_ball = self.norms(x_adv.double() - x.double()) <= self.eps + atol
        return in_box & in_ball

    def project(self, x_adv: Tensor, x: Tensor) -> Tensor:
        """Project ``x_adv`` onto ``{z : ‖z − x‖ ≤ eps} ∩ [lo, hi]^d``, exactly.

        Points already inside are returned unchanged (bit for bit), so the projection is
        idempotent.

        Args:
            x_adv: ``(N, ...)`` points to project.
            x: ``(N, ...)`` clean inputs (the centres of the balls), inside the bounds.

        Returns:
            ``(N, ...)`` the closest points (in L2 distance) satisfying the threat model.

        Raises:
            ValueError: if the shapes differ, ``x`` is outside the bounds, or ``eps`` is larger
                than the box's diameter (see :meth:`check_input`).
        """
        _check_pair(x_adv, x)
        self.check_input(x)
        lo, hi = self.bounds
        if x.numel() and (x.min() < lo or x.max() > hi):
            raise ValueError(f"x must lie inside the bounds {self.bounds} to be projected around")
        return self._project(x_adv, x)

    def _project(self, x_adv: Tensor, x: Tensor) -> Tensor:
        """:meth:`project` without input checks (used inside attack loops)."""
        lo, hi = self.bounds
        eps = self.eps
        if self.norm == "linf":
            lower, upper = linf_box(x, eps, self.bounds)
            return torch.minimum(torch.maximum(x_adv, lower), upper)
        n = x.shape[0]
        if x_adv.numel() == 0:
            return x_adv.clone()
        # Work in float64 (exact differences of float32 inputs); x is in the box, so the box
        # for delta satisfies neg <= 0 <= pos.
        xd = x.reshape(n, -1).double()
        v = x_adv.reshape(n, -1).double() - xd
        neg = (lo - xd).clamp(max=0.0)
        pos = (hi - xd).clamp(min=0.0)
        inside = (lp_norms(v, self.norm) <= eps) & ((v >= neg) & (v <= pos)).all(dim=1)
        out = x_adv.reshape(n, -1).clone()
        if bool(inside.all()):
            return out.reshape(x_adv.shape)
        rows = (~inside).nonzero().squeeze(1)
        project_rows = _project_l2_box if self.norm == "l2" else _project_l1_box
        delta = project_rows(v[rows], neg[rows], pos[rows], eps)
        out[rows] = _guard_rounding(x.reshape(n, -1)[rows], delta, self.norm, eps, lo, hi)
        return out.reshape(x_adv.shape)


def linf_box(x: Tensor, eps: float, bounds: tuple[float, float]) -> tuple[Tensor, Tensor]:
    """Per-coordinate bounds ``(lower, upper)`` of the L∞ ball around ``x`` within ``bounds``.

    ``x ± eps`` is computed in float64 and rounded towards ``x`` in ``x``'s dtype, so that every
    point between the bounds is exactly inside the threat model.
    """
    lo, hi = bounds
    if x.dtype == torch.float64:
        upper, lower = x + eps, x - eps
    else:
        # Round x ± eps (computed in float64) towards x, so the bounds never exceed the ball.
        xd = x.double()
        upper_d, lower_d = xd + eps, xd - eps
        upper, lower = upper_d.to(x.dtype), lower_d.to(x.dtype)
        upper = torch.where(upper.double() > upper_d, torch.nextafter(upper, x), upper)
        lower = torch.where(lower.double() < lower_d, torch.nextafter(lower, x), lower)
    return lower.clamp_(min=lo), upper.clamp_(max=hi)


def _check_pair(x_adv: Tensor, x: Tensor) -> None:
    if not isinstance(x_adv, Tensor) or not isinstance(x, Tensor):
        raise TypeError("x_adv and x must be torch tensors")
    if x_adv.shape != x.shape:
        raise ValueError(
            f"x_adv and x must have the same shape, got {tuple(x_adv.shape)} and {tuple(x.shape)}"
        )
    if x.ndim < 1:
        raise ValueError("x must have a batch dimension (N, ...)")


def _project_l2_box(v: Tensor, neg: Tensor, pos: Tensor, eps: float) -> Tensor:
    """Exact projection of rows ``v`` onto ``{‖d‖₂ ≤ eps} ∩ [neg, pos]``.

    The minimiser is ``d(s) = clip(s·v, neg, pos)`` for the ``s ∈ [0, 1]`` with
    ``‖d(s)‖ = eps`` (or ``s = 1`` when ``clip(v)`` is already inside): the KKT conditions are
    separable once the multiplier ``s`` is known. ``g(s) = ‖d(s)‖²`` is increasing; from a feasible
    ``s_k`` the bound ``g(s) ≤ S_k + s²F_k`` (``S_k`` the squared sides of the coordinates
    saturated at ``s_k``, ``F_k`` the squared values of the others) gives the next feasible
    ``s_{k+1} = √((eps² − S_k)/F_k) ≥ s_k``; the iteration is exact as soon as the saturated set
    stops growing, usually after a few steps. Rows that have not converged then are solved by
    sorting the breakpoints ``t_i = b_i/|v_i|``.
    """
    absv = v.abs()
    side = torch.where(v >= 0, pos, -neg)
    eps_sq = eps * eps
    with torch.no_grad():
        total = v.square().sum(dim=1, keepdim=True)
        s = (eps / total.sqrt().clamp(min=1e-300)).clamp(max=1.0)
        converged = torch.zeros_like(s, dtype=torch.bool)
        for _ in range(12):
            saturated = s * absv >= side
            sat_sum = torch.where(saturated, side.square(), 0.0).sum(dim=1, keepdim=True)
            free_sum = torch.where(saturated, 0.0, v.square()).sum(dim=1, keepdim=True)
            s_next = ((eps_sq - sat_sum).clamp(min=0.0) / free_sum.clamp(min=1e-300)).sqrt()
            s_next = torch.where(free_sum > 0, s_next.clamp(max=1.0), torch.ones_like(s))
            s_next = torch.maximum(s_next, s)
            # Converged when no further coordinate saturates on the way to s_next.
            converged = ((s_next * absv >= side) == saturated).all(dim=1, keepdim=True)
            s = s_next
            if bool(converged.all()):
                break
        if not bool(converged.all()):
            rows = (~converged).squeeze(1).nonzero().squeeze(1)
            s[rows] = _l2_multiplier_by_sorting(absv[rows], side[rows], eps)
    return torch.minimum(torch.maximum(s * v, neg), pos)


def _l2_multiplier_by_sorting(absv: Tensor, side: Tensor, eps: float) -> Tensor:
    """The exact ``s`` of :func:`_project_l2_box` from the sorted breakpoints, ``(n, 1)``."""
    t = torch.where(absv > 0, side / absv.clamp(min=1e-300), torch.full_like(absv, math.inf))
    t_sorted, order = t.sort(dim=1)
    sat_sq = side.gather(1, order).square()
    free_sq = absv.gather(1, order).square()
    sat_before = torch.cumsum(sat_sq, dim=1) - sat_sq  # saturated sum for s just below t_k
    free_from = free_sq.flip(1).cumsum(1).flip(1)  # free sum for s just below t_k
    # On segment k (between t_{k-1} and t_k): s² = (eps² − sat) / free.
    s_cand = ((eps * eps - sat_before).clamp(min=0.0) / free_from.clamp(min=1e-300)).sqrt()
    lower_t = torch.cat([torch.zeros_like(t_sorted[:, :1]), t_sorted[:, :-1]], dim=1)
    valid = (s_cand >= lower_t) & (s_cand <= t_sorted) & (free_from > 0)
    idx = valid.int().argmax(dim=1, keepdim=True)
    s = s_cand.gather(1, idx).clamp(0.0, 1.0)
    s = torch.where(valid.any(dim=1, keepdim=True), s, torch.zeros_like(s))
    clipped_sq = torch.minimum(absv, side).square().sum(dim=1, keepdim=True)
    return torch.where(clipped_sq <= eps * eps, torch.ones_like(s), s)


def _project_l1_box(v: Tensor, neg: Tensor, pos: Tensor, eps: float) -> Tensor:
    """Exact projection of rows ``v`` onto ``{‖d‖₁ ≤ eps} ∩ [neg, pos]``.

    The minimiser is ``d = sign(v)·clip(|v| − θ, 0, b)`` with ``b`` the box side in the direction
    of ``v`` and ``θ ≥ 0`` the root of ``g(θ) = Σ clip(|v_i| − θ, 0, b_i) = eps`` (Duchi et al.'s
    sort-based simplex projection, with the box). ``g`` is piecewise linear and decreasing with
    breakpoints ``|v_i| − b_i`` (slope −1 starts) and ``|v_i|`` (slope −1 ends).
    """
    absv = v.abs()
    side = torch.where(v >= 0, pos, -neg)
    with torch.no_grad():
        points = torch.cat([absv - side, absv], dim=1)
        slopes = torch.cat([-torch.ones_like(absv), torch.ones_like(absv)], dim=1)
        points, order = points.sort(dim=1)
        slope_after = torch.cumsum(slopes.gather(1, order), dim=1)  # slope right of point k
        gaps = points.diff(dim=1)
        g0 = side.sum(dim=1, keepdim=True)  # g left of all breakpoints: all saturated
        g = torch.cat([g0, g0 + torch.cumsum(slope_after[:, :-1] * gaps, dim=1)], dim=1)
        # First breakpoint where g <= eps; the root lies on the segment ending there.
        below = g <= eps
        k = below.int().argmax(dim=1, keepdim=True).clamp(min=1)
        g_left = g.gather(1, k - 1)
        p_left = points.gather(1, k - 1)
        slope = slope_after.gather(1, k - 1)
        theta = p_left + (g_left - eps) / (-slope).clamp(min=1.0)
        g_at_zero = torch.minimum(absv, side).sum(dim=1, keepdim=True)
        theta = torch.where(g_at_zero <= eps, torch.zeros_like(theta), theta).clamp(min=0.0)
    mag = torch.minimum((absv - theta).clamp(min=0.0), side)
    return torch.sign(v) * mag


def _guard_rounding(
    x: Tensor, delta: Tensor, norm: str, eps: float, lo: float, hi: float
) -> Tensor:
    """Form ``x + delta`` in ``x``'s dtype so that the stored result is inside the ball.

    Rounding ``x + delta`` to ``x``'s dtype moves each coordinate by up to half an ulp, which
    summed over many coordinates can exceed a tight L1 (or L2) budget. Rows that would exceed
    ``eps`` are shrunk towards ``x`` by the measured excess plus a bound on the rounding error
    (``d·u`` in L1, ``√d·u`` in L2); if that still fails, ``x`` itself is returned.
    """
    out = (x.double() + delta).clamp(lo, hi).to(x.dtype)
    unit = torch.finfo(x.dtype).eps * max(abs(lo), abs(hi), 1.0)
    d = x.shape[1]
    margin = unit * (d if norm == "l1" else math.sqrt(d))
    for _ in range(2):
        norms = lp_norms(out.double() - x.double(), norm)
        excess = norms - eps
        bad = excess > 0
        if not bool(bad.any()):
            return out
        scale = ((eps - excess - margin) / norms.clamp(min=1e-300)).clamp(min=0.0)[:, None]
        delta = torch.where(bad[:, None], delta * scale, delta)
        shrunk = (x.double() + delta).clamp(lo, hi).to(x.dtype)
        out = torch.where(bad[:, None], shrunk, out)
        margin *= 2.0
    norms = lp_norms(out.double() - x.double(), norm)
    return torch.where((norms > eps)[:, None], x, out)
