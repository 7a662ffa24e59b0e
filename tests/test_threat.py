"""ThreatModel: validation, eps parsing, and the projection's guarantees (property-based)."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from aisec.threat import ThreatModel, largest_eps, lp_norms, parse_eps

NORMS = ("linf", "l2", "l1")


def _problem(
    seed: int, n: int, d: int, lo: float, width: float, spread: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Clean points ``x`` inside ``[lo, lo + width]`` and arbitrary points ``z`` around them."""
    g = torch.Generator().manual_seed(seed)
    x = lo + width * torch.rand(n, d, generator=g, dtype=torch.float64)
    # Put some coordinates exactly on the bounds, where the box constraint is active.
    edge = torch.rand(n, d, generator=g) < 0.2
    x = torch.where(edge, torch.full_like(x, lo), x)
    z = x + spread * torch.randn(n, d, generator=g, dtype=torch.float64)
    return x.float(), z.float()


problems = st.builds(
    lambda seed, n, d, lo, width, spread: (_problem(seed, n, d, lo, width, spread), (lo, width)),
    seed=st.integers(0, 2**31 - 1),
    n=st.integers(1, 4),
    d=st.integers(1, 40),
    lo=st.sampled_from([0.0, -1.0, 0.25]),
    width=st.sampled_from([1.0, 0.5, 2.0]),
    spread=st.floats(0.0, 3.0),
)


def _budget(norm: str, fraction: float, x: torch.Tensor, width: float) -> float:
    """``fraction`` of the largest meaningful budget (the box's diameter) for inputs like ``x``."""
    return fraction * largest_eps(norm, (0.0, width), int(x[0].numel()))


@settings(max_examples=60, deadline=None)
@given(problem=problems, norm=st.sampled_from(NORMS), fraction=st.floats(0.0, 1.0))
def test_projection_is_contained_and_idempotent(
    problem: tuple[tuple[torch.Tensor, torch.Tensor], tuple[float, float]],
    norm: str,
    fraction: float,
) -> None:
    (x, z), (lo, width) = problem
    eps = _budget(norm, fraction, x, width)
    threat = ThreatModel(norm, eps, (lo, lo + width))  # type: ignore[arg-type]
    p = threat.project(z, x)
    assert p.shape == z.shape and p.dtype == z.dtype
    assert bool(threat.contains(p, x).all())
    # Exactly inside (float64 check of the float32 result), not just within the tolerance.
    assert bool((lp_norms(p.double() - x.double(), norm) <= eps + 1e-12).all())
    assert torch.equal(threat.project(p, x), p)


@settings(max_examples=60, deadline=None)
@given(problem=problems, norm=st.sampled_from(NORMS), fraction=st.floats(0.01, 1.0))
def test_projection_is_the_closest_point(
    problem: tuple[tuple[torch.Tensor, torch.Tensor], tuple[float, float]],
    norm: str,
    fraction: float,
) -> None:
    """The variational inequality of a Euclidean projection onto a convex set C:
    ``<z − p, q − p> <= 0`` for every ``q`` in C (it fails for any other point ``p``)."""
    (x, z), (lo, width) = problem
    eps = _budget(norm, fraction, x, width)
    threat = ThreatModel(norm, eps, (lo, lo + width))  # type: ignore[arg-type]
    p = threat.project(z, x).double()
    g = torch.Generator().manual_seed(1)
    for _ in range(10):
        q = threat.project(x + 2.0 * torch.randn(x.shape, generator=g), x).double()
        inner = ((z.double() - p) * (q - p)).sum(dim=1)
        assert bool((inner <= 1e-5 * (1 + z.double().abs().sum(dim=1))).all())
    # And no feasible point is closer than p.
    q = threat.project(x + 0.1 * torch.randn(x.shape, generator=g), x).double()
    assert bool(((z.double() - p).norm(dim=1) <= (z.double() - q).norm(dim=1) + 1e-5).all())


@pytest.mark.parametrize("norm", NORMS)
def test_points_inside_are_unchanged(norm: str) -> None:
    g = torch.Generator().manual_seed(0)
    x = torch.rand(8, 3, 4, 4, generator=g) * 0.5 + 0.25
    threat = ThreatModel(norm, 0.5)  # type: ignore[arg-type]
    z = x + 1e-3 * (torch.rand(x.shape, generator=g) - 0.5)
    assert torch.equal(threat.project(z, x), z)


def test_linf_projection_is_a_clamp() -> None:
    g = torch.Generator().manual_seed(0)
    x = torch.rand(5, 10, generator=g)
    z = x + torch.randn(5, 10, generator=g)
    threat = ThreatModel("linf", 0.1)
    expected = torch.minimum(torch.maximum(z, x - 0.1), x + 0.1).clamp(0, 1)
    assert torch.allclose(threat.project(z, x), expected)


def test_l1_projection_matches_the_simplex_solution_when_the_box_is_inactive() -> None:
    """Far from the bounds the box is inactive and the answer is Duchi et al.'s soft threshold:
    ``sign(v)·max(|v| − θ, 0)`` with ``Σ max(|v| − θ, 0) = eps``."""
    x = torch.full((1, 4), 0.5, dtype=torch.float64)
    v = torch.tensor([[0.3, -0.2, 0.05, 0.0]], dtype=torch.float64)
    p = ThreatModel("l1", 0.3, (-10.0, 10.0)).project(x + v, x) - x
    # theta = 0.1: (0.3 - 0.1) + (0.2 - 0.1) = 0.3
    assert torch.allclose(p, torch.tensor([[0.2, -0.1, 0.0, 0.0]], dtype=torch.float64))


def test_contains_rejects_points_outside_the_ball_or_the_box() -> None:
    x = torch.full((3, 4), 0.5)
    threat = ThreatModel("l2", 0.1)
    inside = x + 0.04
    outside_ball = x + 0.06  # L2 norm 0.12
    outside_box = inside.clone()
    outside_box[:, 0] = 1.2
    z = torch.cat([inside[:1], outside_ball[:1], outside_box[:1]])
    assert threat.contains(z, x).tolist() == [True, False, False]


@pytest.mark.parametrize(
    ("text", "value"),
    [("8/255", 8 / 255), (" 0.5 ", 0.5), ("1e-3", 1e-3), ("0", 0.0), (2, 2.0), (0.25, 0.25)],
)
def test_parse_eps(text: str | float, value: float) -> None:
    assert math.isclose(parse_eps(text), value)


@pytest.mark.parametrize("text", ["", "abc", "8/", "/255", "1/0", "1/2/3", "-1", "inf", "nan"])
def test_parse_eps_rejects_garbage(text: str) -> None:
    with pytest.raises(ValueError, match="eps"):
        parse_eps(text)


def test_threat_model_accepts_eps_strings_and_normalises_bounds() -> None:
    threat = ThreatModel("linf", "8/255", (0, 1))  # type: ignore[arg-type]
    assert math.isclose(threat.eps, 8 / 255)
    assert threat.bounds == (0.0, 1.0)
    assert threat.to_dict() == {"norm": "linf", "eps": threat.eps, "bounds": [0.0, 1.0]}


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"norm": "l3", "eps": 0.1}, ValueError),
        ({"norm": "linf", "eps": -0.1}, ValueError),
        ({"norm": "linf", "eps": float("nan")}, ValueError),
        ({"norm": "linf", "eps": float("inf")}, ValueError),
        ({"norm": "linf", "eps": None}, TypeError),
        ({"norm": "linf", "eps": True}, TypeError),
        ({"norm": "linf", "eps": "300/255"}, ValueError),
        ({"norm": "linf", "eps": 1.5}, ValueError),
        ({"norm": "linf", "eps": 0.6, "bounds": (0.0, 0.5)}, ValueError),
        ({"norm": "linf", "eps": 0.1, "bounds": (1.0, 0.0)}, ValueError),
        ({"norm": "linf", "eps": 0.1, "bounds": (0.0, float("inf"))}, ValueError),
        ({"norm": "linf", "eps": 0.1, "bounds": (0.0,)}, TypeError),
        ({"norm": "linf", "eps": 0.1, "bounds": ("0", "1")}, TypeError),
    ],
)
def test_invalid_threat_models_raise(kwargs: dict[str, object], error: type[Exception]) -> None:
    with pytest.raises(error):
        ThreatModel(**kwargs)  # type: ignore[arg-type]


def test_project_checks_its_inputs() -> None:
    threat = ThreatModel("l2", 0.1)
    with pytest.raises(ValueError, match="same shape"):
        threat.project(torch.zeros(2, 3), torch.zeros(2, 4))
    with pytest.raises(ValueError, match="inside the bounds"):
        threat.project(torch.zeros(2, 3), torch.full((2, 3), 2.0))


def test_linf_eps_up_to_the_width_of_the_bounds_is_accepted() -> None:
    assert ThreatModel("linf", 1.0).eps == 1.0
    assert ThreatModel("linf", "255/255").eps == 1.0
    assert ThreatModel("linf", 2.0, (-1.0, 1.0)).eps == 2.0
    with pytest.raises(ValueError, match=r"larger than the width 1 .* use an eps in \[0, 1\]"):
        ThreatModel("linf", "300/255")


@pytest.mark.parametrize(("norm", "limit"), [("linf", 1.0), ("l2", 4.0), ("l1", 16.0)])
def test_l2_and_l1_budgets_are_checked_against_the_input_size(norm: str, limit: float) -> None:
    x = torch.full((2, 1, 4, 4), 0.5)  # 16 coordinates: L2 diameter 4, L1 diameter 16
    assert largest_eps(norm, (0.0, 1.0), 16) == limit
    fits = ThreatModel(norm, limit)  # type: ignore[arg-type]
    fits.check_input(x)
    assert torch.equal(fits.project(x, x), x)
    if norm == "linf":
        return
    too_big = ThreatModel(norm, limit * 1.01)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=f"larger than the {norm} diameter"):
        too_big.check_input(x)
    with pytest.raises(ValueError, match="diameter"):
        too_big.project(x, x)


def test_parse_eps_with_a_maximum() -> None:
    assert parse_eps("8/255", maximum=1.0) == 8 / 255
    assert parse_eps(1.0, maximum=1.0) == 1.0
    with pytest.raises(ValueError, match=r"eps '300/255' \(1.17647\) is larger than"):
        parse_eps("300/255", maximum=1.0)
