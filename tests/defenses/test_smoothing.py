"""Randomized smoothing: certificates hold against attacks, abstentions, bounds, batching."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy import stats
from torch import Tensor, nn

from aisec.attacks import PGD
from aisec.defenses.certify import (
    ABSTAIN,
    Certificate,
    NoisyEnsemble,
    RandomizedSmoothing,
    binomial_p_value,
    certified_accuracy_curve,
    clopper_pearson_lower,
    max_certifiable_radius,
    radius_grid,
)
from aisec.report.figures import plot_certified_accuracy
from aisec.stats import Rate
from aisec.threat import ThreatModel

SIGMA = 0.25


class NearestCentroid(nn.Module):
    """Logits ``x·c_k − ‖c_k‖²/2``: the nearest class mean of the digits (a linear classifier)."""

    def __init__(self, centroids: Tensor) -> None:
        super().__init__()
        self.register_buffer("centroids", centroids.flatten(1))

    def forward(self, x: Tensor) -> Tensor:
        c: Tensor = self.centroids
        return x.flatten(1) @ c.T - 0.5 * (c * c).sum(dim=1)


class Constant(nn.Module):
    """Always votes for class ``label`` of ``classes``."""

    def __init__(self, label: int, classes: int = 4) -> None:
        super().__init__()
        self.label, self.classes = label, classes

    def forward(self, x: Tensor) -> Tensor:
        logits = torch.zeros(x.shape[0], self.classes, dtype=x.dtype)
        logits[:, self.label] = 1.0
        return logits


class CoinFlip(nn.Module):
    """Class 0 if the first pixel exceeds 1/2, else class 1: a fair coin on inputs at 1/2."""

    def forward(self, x: Tensor) -> Tensor:
        first = x.flatten(1)[:, :1] - 0.5
        return torch.cat([first, -first], dim=1)


@pytest.fixture(scope="module")
def digits() -> tuple[Tensor, Tensor, nn.Module]:
    from aisec.data import load

    train = load("digits", "train")
    centroids = torch.stack([train.images[train.labels == c].mean(0) for c in range(10)])
    test = load("digits", "test").subset(12, seed=0)
    return test.images, test.labels, NearestCentroid(centroids).eval()


def _tiny_cnn() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 64, 5)
    ).eval()


def test_certificates_hold_against_an_adaptive_l2_attack(
    digits: tuple[Tensor, Tensor, nn.Module],
) -> None:
    """No PGD point inside the certified radius changes the smoothed prediction (Theorem 1).

    PGD attacks the smoothed classifier itself through a noise-averaged surrogate (EOT); the
    attacked points are judged by PREDICT with fresh noise, which may abstain but (at level
    alpha) never returns another class. The same attack with a larger budget does change the
    prediction, so the attack is strong enough for the check to mean something.
    """
    x, _, model = digits
    smoothed = RandomizedSmoothing(model, SIGMA)
    cert = smoothed.certify(x, n0=100, n=2000, alpha=0.001, seed=0)
    certified = (~cert.abstained & (cert.radius > 0.05)).nonzero().squeeze(1)
    assert certified.numel() >= 6
    surrogate = NoisyEnsemble(model, SIGMA, samples=64, seed=1)
    changed_outside = 0
    for i in certified.tolist():
        label = cert.prediction[i : i + 1]
        for factor, inside in ((0.99, True), (3.0, False)):
            eps = float(cert.radius[i]) * factor
            attack = PGD(ThreatModel("l2", eps), steps=30, random_start=False)
            x_adv = attack(surrogate, x[i : i + 1], label).x_adv
            assert float((x_adv - x[i : i + 1]).norm()) <= eps + 1e-5
            check = smoothed.predict(x_adv, n=2000, alpha=0.001, seed=100 + i)
            if inside:
                assert int(check.prediction[0]) in (int(label[0]), ABSTAIN), (i, eps)
            else:
                changed_outside += int(check.prediction[0]) != int(label[0])
    assert changed_outside >= certified.numel() // 4


def test_a_coin_flip_base_model_makes_both_procedures_abstain() -> None:
    x = torch.full((40, 1, 4, 4), 0.5)
    smoothed = RandomizedSmoothing(CoinFlip(), SIGMA)
    prediction = smoothed.predict(x, n=500, alpha=0.01, seed=0)
    cert = smoothed.certify(x, n0=50, n=500, alpha=0.01, seed=0)
    assert prediction.abstained.all() and (prediction.prediction == ABSTAIN).all()
    assert cert.abstained.all() and (cert.prediction == ABSTAIN).all()
    assert (cert.radius == 0).all() and (cert.p_a_lower < 0.5).all()
    assert (prediction.counts.sum(dim=1) == 500).all()
    # Moving the input off the boundary makes the coin unfair: then both answer class 0.
    sure = RandomizedSmoothing(CoinFlip(), SIGMA).certify(x + 0.4, n0=50, n=500, alpha=0.01)
    assert (sure.prediction == 0).all() and (sure.radius > 0).all()


def test_a_constant_base_model_is_certified_at_the_largest_possible_radius() -> None:
    x = torch.rand(3, 3, 4, 4, generator=torch.Generator().manual_seed(0))
    smoothed = RandomizedSmoothing(Constant(2), 0.5)
    cert = smoothed.certify(x, n0=10, n=300, alpha=0.01, batch_size=64)
    expected = 0.5 * stats.norm.ppf(0.01 ** (1 / 300))
    assert (cert.prediction == 2).all() and not cert.abstained.any()
    assert torch.allclose(cert.radius, torch.full((3,), expected, dtype=torch.float64), rtol=1e-12)
    assert math.isclose(max_certifiable_radius(0.5, 300, 0.01), expected)
    prediction = smoothed.predict(x, n=300, alpha=0.01)
    assert (prediction.prediction == 2).all() and (prediction.p_value < 1e-50).all()


def test_clopper_pearson_lower_bound_matches_its_definition_and_known_values() -> None:
    n, alpha = 100, 0.001
    k = torch.arange(0, n + 1)
    lower = clopper_pearson_lower(k, n, alpha)
    assert lower[0] == 0
    assert math.isclose(float(lower[-1]), alpha ** (1 / n), rel_tol=1e-9)  # 0.93325...
    assert (lower.diff() > 0).all() and (lower < k.double() / n + 1e-12).all()
    # The bound p solves P(Bin(n, p) >= k) = alpha.
    tail = stats.binom.sf(k[1:].numpy() - 1, n, lower[1:].numpy())
    np.testing.assert_allclose(tail, alpha, rtol=1e-6)
    # Known value: 50 of 100 at one-sided 97.5% is the two-sided 95% Clopper–Pearson interval's
    # lower end, 0.3983 (tables of exact binomial intervals).
    value = float(clopper_pearson_lower(torch.tensor([50]), 100, 0.025)[0])
    assert abs(value - 0.3983) < 5e-5


def test_clopper_pearson_lower_bound_covers_the_true_proportion() -> None:
    rng = np.random.default_rng(0)
    n, alpha = 200, 0.05
    for p in (0.3, 0.9, 0.99):
        k = torch.from_numpy(rng.binomial(n, p, size=4000))
        misses = float((clopper_pearson_lower(k, n, alpha) > p).double().mean())
        assert misses <= alpha + 0.01, (p, misses)


def test_binomial_p_value_matches_scipy_binomtest() -> None:
    pairs = [(10, 0), (7, 3), (60, 40), (55, 45), (5, 5), (1, 0), (900, 80)]
    a = torch.tensor([p[0] for p in pairs])
    b = torch.tensor([p[1] for p in pairs])
    expected = [stats.binomtest(i, i + j, 0.5).pvalue for i, j in pairs]
    np.testing.assert_allclose(binomial_p_value(a, b).numpy(), expected, rtol=1e-9)


@pytest.mark.parametrize("batch_size", [1, 3, 10, 25, 1000])
def test_batched_sampling_equals_a_loop_over_single_noisy_copies(batch_size: int) -> None:
    """The vectorized counts equal one-copy-at-a-time classification with the same draws.

    On the CPU, consecutive draws of a generator for tensors whose size is a multiple of 16 are
    the same numbers however they are batched, so a plain loop reproduces the counts exactly.
    """
    model = _tiny_cnn()
    x = torch.rand(7, 1, 8, 8, generator=torch.Generator().manual_seed(1))
    num = 10
    counts = RandomizedSmoothing(model, SIGMA).sample_counts(
        x, num, batch_size=batch_size, generator=torch.Generator().manual_seed(3)
    )
    generator = torch.Generator().manual_seed(3)
    expected = torch.zeros(7, 5, dtype=torch.int64)
    with torch.no_grad():
        for i in range(7):
            for _ in range(num):
                noise = torch.empty(1, 8, 8).normal_(0.0, SIGMA, generator=generator)
                expected[i, int(model((x[i] + noise).unsqueeze(0)).argmax())] += 1
    assert torch.equal(counts, expected)


def test_results_are_reproducible_from_the_seed_and_restore_the_model_mode() -> None:
    model = _tiny_cnn().train()
    x = torch.rand(4, 1, 8, 8, generator=torch.Generator().manual_seed(2))
    smoothed = RandomizedSmoothing(model, SIGMA, num_classes=5)
    first = smoothed.certify(x, n0=20, n=200, seed=5)
    again = smoothed.certify(x, n0=20, n=200, seed=5)
    other = smoothed.certify(x, n0=20, n=200, seed=6)
    assert model.training and all(module.training for module in model.modules())
    assert torch.equal(first.counts, again.counts) and torch.equal(first.radius, again.radius)
    assert not torch.equal(first.counts, other.counts)
    assert first.to_dict()["n"] == 200 and len(first.to_dict()["radius"]) == 4


def test_certified_accuracy_curve_counts_correct_points_with_enough_radius(tmp_path: Path) -> None:
    cert = Certificate(
        prediction=torch.tensor([0, 1, ABSTAIN, 3]),
        radius=torch.tensor([0.5, 0.2, 0.0, 0.9], dtype=torch.float64),
        p_a_lower=torch.tensor([0.9, 0.8, 0.3, 0.99], dtype=torch.float64),
        abstained=torch.tensor([False, False, True, False]),
        counts=torch.zeros(4, 4, dtype=torch.int64),
        sigma=SIGMA,
        n0=10,
        n=100,
        alpha=0.001,
        time_s=0.0,
    )
    labels = torch.tensor([0, 1, 2, 2])  # the last point is certified, but wrongly
    curve = certified_accuracy_curve(cert, labels, [0.0, 0.2, 0.3, 0.6])
    assert curve.certified_accuracy == (0.5, 0.5, 0.25, 0.0)
    assert curve.clean_accuracy == 0.5 and curve.abstain_rate == 0.25
    assert curve.to_dict()["curve"][1] == {"radius": 0.2, "certified_accuracy": 0.5}
    # At a radius between grid points: the next grid radius (never over-stated); 0 beyond.
    assert curve.certified_accuracy_at(0.25) == Rate(1, 4)
    assert curve.certified_accuracy_at(0.0) == Rate(2, 4)
    assert curve.certified_accuracy_at(0.7) == Rate(0, 4)
    grid = radius_grid(max_certifiable_radius(SIGMA, 100, 0.001), 4)
    assert grid[0] == 0 and len(grid) == 5
    path = plot_certified_accuracy({"toy": curve}, tmp_path / "curve.png", title="toy")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(TypeError, match="float labels are not rounded"):
        certified_accuracy_curve(cert, torch.tensor([0.0, 1.0, 2.0, 2.9]), [0.0])
    with pytest.raises(ValueError, match="increasing"):
        certified_accuracy_curve(cert, labels, [0.3, 0.1])
    with pytest.raises(ValueError, match="shape"):
        certified_accuracy_curve(cert, labels[:2], [0.0])


def test_noisy_ensemble_averages_probabilities_and_passes_gradients() -> None:
    model = _tiny_cnn()
    x = torch.rand(3, 1, 8, 8, generator=torch.Generator().manual_seed(4)).requires_grad_(True)
    log_probs = NoisyEnsemble(model, SIGMA, samples=8)(x)
    assert log_probs.shape == (3, 5)
    assert torch.allclose(log_probs.exp().sum(dim=1), torch.ones(3), atol=1e-5)
    (grad,) = torch.autograd.grad(log_probs[:, 0].sum(), x)
    assert grad.abs().sum() > 0


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"sigma": 0.0}, ValueError, "sigma"),
        ({"sigma": float("nan")}, ValueError, "sigma"),
        ({"sigma": "0.25"}, TypeError, "sigma"),
        ({"num_classes": 1}, ValueError, "num_classes"),
    ],
)
def test_bad_construction_is_a_clear_error(
    kwargs: dict[str, object], error: type[Exception], match: str
) -> None:
    arguments: dict[str, object] = {"sigma": SIGMA, **kwargs}
    with pytest.raises(error, match=match):
        RandomizedSmoothing(Constant(0), **arguments)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("x", "kwargs", "error", "match"),
    [
        (torch.zeros(2, 1, 4, 4, dtype=torch.int64), {}, TypeError, "floating-point"),
        (torch.zeros(4), {}, ValueError, "shape"),
        (torch.full((2, 1, 4, 4), float("nan")), {}, ValueError, "NaN"),
        ([[0.0]], {}, TypeError, "tensor"),
        (torch.zeros(2, 1, 4, 4), {"n": 0}, ValueError, "n must be >= 1"),
        (torch.zeros(2, 1, 4, 4), {"n0": 0}, ValueError, "n0"),
        (torch.zeros(2, 1, 4, 4), {"alpha": 1.0}, ValueError, "alpha"),
        (torch.zeros(2, 1, 4, 4), {"batch_size": 0}, ValueError, "batch_size"),
        (torch.zeros(2, 1, 4, 4), {"generator": 3}, TypeError, "Generator"),
    ],
)
def test_bad_certify_input_is_a_clear_error(
    x: object, kwargs: dict[str, object], error: type[Exception], match: str
) -> None:
    smoothed = RandomizedSmoothing(Constant(0), SIGMA)
    with pytest.raises(error, match=match):
        smoothed.certify(x, **{"n0": 5, "n": 10, **kwargs})  # type: ignore[arg-type]


def test_a_model_with_the_wrong_output_is_a_clear_error() -> None:
    x = torch.zeros(2, 1, 4, 4)
    with pytest.raises(ValueError, match="num_classes=6"):
        RandomizedSmoothing(Constant(0, classes=4), SIGMA, num_classes=6).predict(x, n=10)
    with pytest.raises(ValueError, match="shape"):
        RandomizedSmoothing(lambda t: t.sum(dim=(1, 2, 3)), SIGMA).predict(x, n=10)
