"""Poisoned-data detectors: they find a planted cluster of poisons, follow their published
rules (budget per class, minority cluster), score flags correctly and reject bad input."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pytest
import torch
from torch import Tensor, nn

from aisec.defenses.detect import (
    BackdoorDetection,
    activation_clustering,
    detection_metrics,
    penultimate_features,
    spectral_signatures,
)
from aisec.defenses.detect.activation_clustering import silhouette_score, two_means
from aisec.models import SmallCNN

CLEAN, POISON, DIM = 300, 60, 32
SHARE = POISON / (CLEAN + POISON)


def _planted() -> tuple[Tensor, Tensor, Tensor]:
    """Three Gaussian classes; class 0 also holds a tight, shifted cluster of poisons."""
    generator = torch.Generator().manual_seed(0)
    clean = torch.randn(3 * CLEAN, DIM, generator=generator)
    labels = torch.arange(3 * CLEAN) // CLEAN
    direction = torch.randn(DIM, generator=generator)
    poison = 0.3 * torch.randn(POISON, DIM, generator=generator) + 8 * direction / direction.norm()
    features = torch.cat([clean, poison])
    labels = torch.cat([labels, torch.zeros(POISON, dtype=torch.long)])
    order = torch.randperm(features.shape[0], generator=generator)
    inverse = torch.argsort(order)
    poisoned_indices = inverse[3 * CLEAN :].sort().values
    return features[order], labels[order], poisoned_indices


def _blobs() -> tuple[Tensor, Tensor, Tensor]:
    """One class made of two tight, distant blobs (80% / 20%) in 4 dimensions."""
    generator = torch.Generator().manual_seed(2)
    clean = 0.2 * torch.randn(240, 4, generator=generator)
    poison = 0.2 * torch.randn(60, 4, generator=generator) + torch.tensor([4.0, -3.0, 2.0, 0.0])
    return (
        torch.cat([clean, poison]),
        torch.zeros(300, dtype=torch.long),
        torch.arange(240, 300),
    )


# Each detector with the planted data it must solve. Spectral signatures find a mean shift in
# a high-dimensional class; activation clustering works in a whitened 10-d (here 4-d) space,
# where a single shifted direction is not a clear cluster, so it gets two distinct blobs.
DETECTORS: dict[str, tuple[Callable[[Tensor, Tensor], BackdoorDetection], Callable[[], Any]]] = {
    "spectral": (lambda f, y: spectral_signatures(f, y, expected_fraction=SHARE), _planted),
    "spectral-signed": (
        lambda f, y: spectral_signatures(f, y, expected_fraction=SHARE, score="signed"),
        _planted,
    ),
    "spectral-gap": (
        lambda f, y: spectral_signatures(
            f, y, expected_fraction=SHARE, score="signed", select="gap"
        ),
        _planted,
    ),
    "activation-clustering-ica": (lambda f, y: activation_clustering(f, y), _blobs),
    "activation-clustering-pca": (
        lambda f, y: activation_clustering(f, y, reduction="pca"),
        _blobs,
    ),
}


@pytest.mark.parametrize("name", list(DETECTORS))
def test_detector_recovers_planted_poisons(name: str) -> None:
    detector, planted = DETECTORS[name]
    features, labels, poisoned = planted()
    result = detector(features, labels)
    assert result.flagged.shape == labels.shape and result.flagged.dtype == torch.bool
    assert result.scores.shape == labels.shape
    metrics = detection_metrics(result.flagged & (labels == 0), poisoned)
    assert metrics.recall >= 0.95
    assert metrics.precision >= 0.6
    # Poisons score higher than the clean samples of their class.
    truth = torch.zeros_like(result.flagged)
    truth[poisoned] = True
    in_class = labels == 0
    assert float(result.scores[truth].mean()) > float(result.scores[in_class & ~truth].mean())


@pytest.mark.parametrize("score", ["squared", "signed"])
def test_spectral_flags_one_and_a_half_eps_of_every_class(score: str) -> None:
    features, labels, _ = _planted()
    eps = 0.1
    result = spectral_signatures(features, labels, expected_fraction=eps, score=score)  # type: ignore[arg-type]
    for c in range(3):
        n_c = int((labels == c).sum())
        expected = math.ceil(1.5 * eps * n_c - 1e-9)
        assert int(result.flagged[labels == c].sum()) == expected
        assert result.per_class[c]["flagged"] == expected
        # The flagged ones are the highest-scoring of their class.
        scores = result.scores[labels == c]
        flagged = result.flagged[labels == c]
        assert float(scores[flagged].min()) >= float(scores[~flagged].max())


def test_spectral_per_class_fractions_inspect_only_the_given_classes() -> None:
    features, labels, poisoned = _planted()
    result = spectral_signatures(features, labels, expected_fraction={0: SHARE})
    assert not bool(result.flagged[labels != 0].any())
    assert detection_metrics(result.flagged, poisoned).recall >= 0.95
    none = spectral_signatures(features, labels, expected_fraction=0.0)
    assert not bool(none.flagged.any())


@pytest.mark.parametrize("score", ["squared", "signed"])
def test_spectral_gap_selection_removes_the_poisons_not_the_budget(score: str) -> None:
    features, labels, poisoned = _planted()
    # A generous budget: 1.5·0.5 = 75% of every class.
    budget = spectral_signatures(features, labels, expected_fraction=0.5, score=score)  # type: ignore[arg-type]
    gap = spectral_signatures(
        features,
        labels,
        expected_fraction=0.5,
        score=score,  # type: ignore[arg-type]
        select="gap",
    )
    assert gap.method.endswith("_gap")
    # The paper's rule spends the budget in every class.
    sizes = [int((labels == c).sum()) for c in range(3)]
    assert int(budget.flagged.sum()) == sum(math.ceil(0.75 * n) for n in sizes)
    assert not bool(gap.flagged[labels != 0].any())  # clean classes keep every sample
    metrics = detection_metrics(gap.flagged, poisoned)
    assert metrics.recall >= 0.95 and metrics.flagged <= 2 * POISON
    assert gap.per_class[0]["valley"] <= 0.85 < min(gap.per_class[c]["valley"] for c in (1, 2))
    assert gap.per_class[0]["flagged"] == metrics.flagged
    assert all(gap.per_class[c]["flagged"] == 0 for c in (1, 2))


@pytest.mark.parametrize("tail", ["exponential", "lognormal", "pareto"])
def test_spectral_gap_selection_leaves_a_skewed_clean_class_alone(tail: str) -> None:
    """One skewed, even heavy-tailed population (ReLU features, one long-tailed direction) has
    no trough: nothing is flagged, where the paper's rule removes its whole budget."""
    labels = torch.zeros(600, dtype=torch.long)
    for seed in range(5):
        generator = torch.Generator().manual_seed(seed)
        features = torch.relu(torch.randn(600, 16, generator=generator) + 0.3)
        uniform = torch.rand(600, generator=generator)
        features[:, 0] = {
            "exponential": -torch.log(uniform) * 3,
            "lognormal": torch.exp(torch.randn(600, generator=generator)) * 2,
            "pareto": uniform ** (-1 / 3) * 2,
        }[tail]
        gap = spectral_signatures(
            features, labels, expected_fraction=0.3, score="signed", select="gap"
        )
        assert not bool(gap.flagged.any()), (seed, gap.per_class[0]["valley"])
        assert gap.per_class[0]["valley"] > 0.85
        budget = spectral_signatures(features, labels, expected_fraction=0.3, score="signed")
        assert int(budget.flagged.sum()) == 270  # ⌈1.5 · 0.3 · 600⌉


def test_activation_clustering_flags_a_minority_cluster_only_when_the_split_is_real() -> None:
    features, labels, poisoned = _blobs()
    result = activation_clustering(features, labels)
    info = result.per_class[0]
    assert info["poisoned"] is True and info["silhouette"] > 0.3
    assert info["smaller_cluster_fraction"] == pytest.approx(0.2)
    assert detection_metrics(result.flagged, poisoned).precision == 1.0
    again = activation_clustering(features, labels)
    assert torch.equal(result.flagged, again.flagged)  # seeded: deterministic
    # A Gaussian class splits into two halves with a low silhouette: nothing is flagged.
    gaussian = torch.randn(400, 32, generator=torch.Generator().manual_seed(3))
    unsplit = activation_clustering(gaussian, torch.zeros(400, dtype=torch.long))
    assert unsplit.per_class[0]["poisoned"] is False and not bool(unsplit.flagged.any())
    # The thresholds decide: a too-large minority or a too-low silhouette is not flagged.
    strict = activation_clustering(features, labels, max_size=0.1)
    assert not bool(strict.flagged.any())
    lax = activation_clustering(gaussian, torch.zeros(400, dtype=torch.long), min_silhouette=-1)
    assert 0 < int(lax.flagged.sum()) <= 200


def test_two_means_and_silhouette_on_separated_blobs() -> None:
    generator = torch.Generator().manual_seed(1)
    a = torch.randn(80, 3, generator=generator, dtype=torch.float64)
    b = torch.randn(20, 3, generator=generator, dtype=torch.float64) + 10
    x = torch.cat([a, b])
    assignment = two_means(x, generator)
    assert len(set(assignment[:80].tolist())) == 1 and len(set(assignment[80:].tolist())) == 1
    assert assignment[0] != assignment[-1]
    assert silhouette_score(x, assignment, 1000, generator) > 0.7
    single = torch.zeros(100, dtype=torch.long)
    assert silhouette_score(x, single, 1000, generator) == 0.0


def test_detection_metrics_counts() -> None:
    flagged = torch.tensor([True, True, False, False, True])
    metrics = detection_metrics(flagged, torch.tensor([0, 2]))
    assert metrics.true_positives == 1 and metrics.flagged == 3 and metrics.poisoned == 2
    assert metrics.precision == pytest.approx(1 / 3) and metrics.recall == pytest.approx(1 / 2)
    assert detection_metrics(torch.zeros(3, dtype=torch.bool), torch.tensor([1])).precision == 1.0
    with pytest.raises(ValueError, match=r"poisoned indices must be in \[0, 5\)"):
        detection_metrics(flagged, torch.tensor([5]))


def test_penultimate_features_by_method_and_by_layer_agree() -> None:
    torch.manual_seed(0)
    model = SmallCNN(3, 4, widths=(8,), hidden=6)
    model.train()
    x = torch.rand(10, 3, 8, 8)
    by_method = penultimate_features(model, x, batch_size=3)
    by_layer = penultimate_features(model, x, layer="head.3", batch_size=4)
    assert by_method.shape == (10, 6)
    assert torch.allclose(by_method, by_layer)
    assert model.training, "the model's mode is restored"


def test_penultimate_features_needs_a_layer_without_a_penultimate_method() -> None:
    model = nn.Sequential(nn.Flatten(), nn.Linear(12, 5), nn.ReLU(), nn.Linear(5, 2))
    x = torch.rand(4, 3, 2, 2)
    with pytest.raises(TypeError, match="has no penultimate"):
        penultimate_features(model, x)
    with pytest.raises(ValueError, match="no sub-module 'head'"):
        penultimate_features(model, x, layer="head")
    assert penultimate_features(model, x, layer="2").shape == (4, 5)


@pytest.mark.parametrize("name", list(DETECTORS))
def test_detectors_reject_malformed_input(name: str) -> None:
    detector, _ = DETECTORS[name]
    features = torch.randn(40, 8)
    labels = torch.arange(40) % 2
    with pytest.raises(ValueError, match="mismatched lengths: 40 and 39"):
        detector(features, labels[:-1])
    with pytest.raises(ValueError, match="NaN or infinite"):
        detector(torch.full((40, 8), float("nan")), labels)
    with pytest.raises(ValueError, match=r"float \(N, D\)"):
        detector(features[0], labels)
    with pytest.raises(ValueError, match="integer"):
        detector(features, labels.float())
    with pytest.raises(TypeError, match="torch tensors"):
        detector(features.numpy(), labels)  # type: ignore[arg-type]


@pytest.mark.parametrize("eps", [-0.1, 1.5])
def test_spectral_rejects_a_fraction_outside_the_unit_interval(eps: float) -> None:
    with pytest.raises(ValueError, match=r"expected_fraction must be a fraction in \[0, 1\]"):
        spectral_signatures(
            torch.randn(10, 3), torch.zeros(10, dtype=torch.long), expected_fraction=eps
        )


def test_detector_options_are_checked() -> None:
    features, labels = torch.randn(40, 8), torch.arange(40) % 2
    with pytest.raises(ValueError, match="score must be"):
        spectral_signatures(features, labels, expected_fraction=0.1, score="abs")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="multiplier must be"):
        spectral_signatures(features, labels, expected_fraction=0.1, multiplier=0)
    with pytest.raises(ValueError, match="select must be 'budget' or 'gap'"):
        spectral_signatures(features, labels, expected_fraction=0.1, select="otsu")  # type: ignore[arg-type]
    for valley in (0, 1.0, True, "0.5"):
        with pytest.raises(ValueError, match=r"max_valley must be a number in \(0, 1\)"):
            spectral_signatures(
                features,
                labels,
                expected_fraction=0.1,
                select="gap",
                max_valley=valley,  # type: ignore[arg-type]
            )
    with pytest.raises(ValueError, match="max_size must be"):
        activation_clustering(features, labels, max_size=0.7)
    with pytest.raises(ValueError, match="reduction must be"):
        activation_clustering(features, labels, reduction="tsne")  # type: ignore[arg-type]
    small = activation_clustering(features[:10], labels[:10])
    assert small.per_class[0]["skipped"].startswith("fewer than")
    assert not bool(small.flagged.any())
