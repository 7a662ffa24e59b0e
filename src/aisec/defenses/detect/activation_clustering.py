"""Activation clustering (Chen et al., 2018): a backdoored class splits into two clusters.

A network classifies a poisoned sample as the target for a different reason (the trigger) than
a genuine target-class sample (its content), so the last hidden layer's activations of a
poisoned class form two clusters, while a clean class's activations form one. For each class:

1. reduce the activations to 10 dimensions with independent component analysis (ICA; the
   paper's choice — PCA is offered as an alternative);
2. split them with 2-means (k-means++ initialisation, the best of several runs);
3. decide whether the split is real: the class is called poisoned when the smaller cluster holds
   at most ``max_size`` of the class *and* the silhouette score of the split is at least
   ``min_silhouette`` (two of the paper's analyses, "relative size" and "silhouette score");
   its smaller cluster is then flagged.

Chen et al. suggest ``max_size ≈ 0.35``. Here the default is 0.5 (any minority cluster): a poison
rate is usually quoted for the whole training set, and an all-to-one poison at 5% of a
12-class dataset already fills 38% of its target class. The silhouette test then carries the
decision (clean classes rarely split into well-separated halves).

ICA (FastICA with the log-cosh contrast and symmetric decorrelation, Hyvärinen 1999), k-means and
the silhouette score are implemented here in torch (float64, seeded), which is deterministic and
much faster on a few thousand samples than a general-purpose library.

Reference:
    B. Chen, W. Carvalho, N. Baracaldo, H. Ludwig, B. Edwards, T. Lee, I. Molloy, B. Srivastava,
    "Detecting Backdoor Attacks on Deep Neural Networks by Activation Clustering",
    SafeAI workshop at AAAI 2019 (arXiv:1811.03728, 2018).
"""

from __future__ import annotations

import math
from typing import Any, Literal

import torch
from torch import Tensor

from aisec.defenses.detect.backdoor import BackdoorDetection, check_features

__all__ = ["activation_clustering", "reduce_dimensions", "silhouette_score", "two_means"]

Reduction = Literal["ica", "pca"]


def activation_clustering(
    features: Tensor,
    labels: Tensor,
    *,
    dims: int = 10,
    reduction: Reduction = "ica",
    max_size: float = 0.5,
    min_silhouette: float = 0.2,
    silhouette_samples: int = 2000,
    seed: int = 0,
) -> BackdoorDetection:
    """Flag the smaller 2-means cluster of each class whose activations split cleanly in two.

    Args:
        features: ``(N, D)`` penultimate activations of the training samples (see
            :func:`~aisec.defenses.detect.penultimate_features`).
        labels: ``(N,)`` the training labels (as the model was trained on them).
        dims: dimensions kept by the reduction (10 in the paper), at least 1.
        reduction: ``"ica"`` (the paper) or ``"pca"``.
        max_size: largest fraction of its class the smaller cluster may hold to be flagged,
            in ``(0, 0.5]``.
        min_silhouette: smallest silhouette score (in ``[-1, 1]``) of the 2-means split for
            the smaller cluster to be flagged.
        silhouette_samples: the silhouette score is computed on at most this many samples of
            a class (it costs ``O(n²)``), chosen at random (seeded).
        seed: seeds ICA, k-means and the silhouette subsample.

    Returns:
        A :class:`~aisec.defenses.detect.BackdoorDetection`. ``scores`` are the class's
        silhouette score for samples in its smaller cluster and 0 elsewhere; ``per_class``
        holds each class's size, relative size of the smaller cluster, silhouette score and
        whether it was called poisoned. Classes with fewer than ``dims + 2`` samples are
        skipped.

    Reference:
        Chen et al., "Detecting Backdoor Attacks on Deep Neural Networks by Activation
        Clustering", arXiv:1811.03728.
    """
    feats, y = check_features(features, labels)
    if isinstance(dims, bool) or not isinstance(dims, int) or dims < 1:
        raise ValueError(f"dims must be an int >= 1, got {dims!r}")
    if reduction not in ("ica", "pca"):
        raise ValueError(f"reduction must be 'ica' or 'pca', got {reduction!r}")
    if not 0.0 < max_size <= 0.5:
        raise ValueError(f"max_size must be in (0, 0.5], got {max_size!r}")
    if not -1.0 <= min_silhouette <= 1.0:
        raise ValueError(f"min_silhouette must be in [-1, 1], got {min_silhouette!r}")
    if isinstance(silhouette_samples, bool) or silhouette_samples < 4:
        raise ValueError(f"silhouette_samples must be an int >= 4, got {silhouette_samples!r}")
    n = y.shape[0]
    flagged = torch.zeros(n, dtype=torch.bool)
    scores = torch.zeros(n, dtype=torch.float32)
    per_class: dict[int, dict[str, Any]] = {}
    for c in [int(v) for v in torch.unique(y).tolist()]:
        members = (y == c).nonzero().squeeze(1)
        n_c = members.numel()
        if n_c < dims + 2:
            per_class[c] = {"n": n_c, "skipped": f"fewer than {dims + 2} samples"}
            continue
        generator = torch.Generator().manual_seed(seed * 1_000_003 + c)
        reduced = reduce_dimensions(feats[members], dims, reduction, generator)
        assignment = two_means(reduced, generator)
        sizes = torch.bincount(assignment, minlength=2)
        small = int(torch.argmin(sizes))
        relative = float(sizes[small]) / n_c
        silhouette = silhouette_score(reduced, assignment, silhouette_samples, generator)
        poisoned = relative <= max_size and silhouette >= min_silhouette
        in_small = assignment == small
        scores[members[in_small]] = silhouette
        if poisoned:
            flagged[members[in_small]] = True
        per_class[c] = {
            "n": n_c,
            "smaller_cluster_fraction": relative,
            "silhouette": silhouette,
            "poisoned": poisoned,
            "flagged": int(sizes[small]) if poisoned else 0,
        }
    return BackdoorDetection("activation_clustering", flagged, scores, per_class)


def reduce_dimensions(
    x: Tensor, dims: int, reduction: Reduction, generator: torch.Generator
) -> Tensor:
    """``(n, D)`` -> ``(n, k)``, ``k = min(dims, rank)``: whitened PCA, then FastICA for "ica".

    Args:
        x: ``(n, D)`` float64 activations.
        dims: components to keep.
        reduction: ``"pca"`` (whitened principal components) or ``"ica"``.
        generator: seeds ICA's initial unmixing matrix.

    Returns:
        ``(n, k)`` float64 components with unit variance.
    """
    centred = x - x.mean(0, keepdim=True)
    u, s, _ = torch.linalg.svd(centred, full_matrices=False)
    rank = int((s > s[0] * 1e-7).sum()) if s.numel() and float(s[0]) > 0 else 0
    k = max(1, min(dims, rank))
    whitened: Tensor = u[:, :k] * math.sqrt(max(1, x.shape[0] - 1))  # unit-variance components
    if reduction == "pca" or k == 1:
        return whitened
    unmixed: Tensor = whitened @ _fast_ica(whitened, generator).T
    return unmixed


def _fast_ica(
    z: Tensor, generator: torch.Generator, max_iter: int = 200, tol: float = 1e-4
) -> Tensor:
    """Unmixing matrix ``W (k, k)`` of whitened ``z (n, k)``: symmetric FastICA, log-cosh."""
    k = z.shape[1]
    w = _symmetric_decorrelation(torch.randn(k, k, generator=generator, dtype=z.dtype))
    for _ in range(max_iter):
        projected = z @ w.T  # (n, k)
        g = torch.tanh(projected)
        g_prime = 1.0 - g**2
        w_new = (g.T @ z) / z.shape[0] - g_prime.mean(0).unsqueeze(1) * w
        w_new = _symmetric_decorrelation(w_new)
        change = float((torch.abs((w_new * w).sum(1)) - 1.0).abs().max())
        w = w_new
        if change < tol:
            break
    return w


def _symmetric_decorrelation(w: Tensor) -> Tensor:
    """``(W Wᵀ)^(-1/2) W``: the closest matrix with orthonormal rows."""
    values, vectors = torch.linalg.eigh(w @ w.T)
    inv_sqrt: Tensor = vectors @ torch.diag(values.clamp_min(1e-12).rsqrt()) @ vectors.T
    result: Tensor = inv_sqrt @ w
    return result


def two_means(
    x: Tensor, generator: torch.Generator, restarts: int = 5, max_iter: int = 100
) -> Tensor:
    """2-means clustering (k-means++ initialisation, the best of ``restarts`` runs).

    Args:
        x: ``(n, d)`` points, ``n >= 2``.
        generator: seeds the initialisations.
        restarts: independent runs; the one with the lowest inertia wins.
        max_iter: Lloyd iterations per run.

    Returns:
        ``(n,)`` int64 cluster assignment in ``{0, 1}``.
    """
    best, best_inertia = torch.zeros(x.shape[0], dtype=torch.long), math.inf
    for _ in range(restarts):
        first = x[torch.randint(x.shape[0], (1,), generator=generator)]
        weights = ((x - first) ** 2).sum(1)
        if float(weights.sum()) <= 0:
            return best  # all points coincide: one cluster
        second = x[torch.multinomial(weights / weights.sum(), 1, generator=generator)]
        centres = torch.cat([first, second])
        assignment = torch.zeros(x.shape[0], dtype=torch.long)
        for iteration in range(max_iter):
            new = torch.cdist(x, centres).argmin(1)
            if iteration and bool((new == assignment).all()):
                break
            assignment = new
            for j in range(2):
                if bool((assignment == j).any()):
                    centres[j] = x[assignment == j].mean(0)
        inertia = float(((x - centres[assignment]) ** 2).sum())
        if inertia < best_inertia:
            best, best_inertia = assignment, inertia
    return best


def silhouette_score(
    x: Tensor, assignment: Tensor, max_samples: int, generator: torch.Generator
) -> float:
    """Mean silhouette ``(b − a) / max(a, b)`` of a 2-cluster assignment (0 if one cluster).

    Args:
        x: ``(n, d)`` points.
        assignment: ``(n,)`` cluster of each point, in ``{0, 1}``.
        max_samples: at most this many points (chosen at random) are scored, against each other.
        generator: seeds the subsample.

    Returns:
        The mean silhouette in ``[-1, 1]``.
    """
    if x.shape[0] > max_samples:
        chosen = torch.randperm(x.shape[0], generator=generator)[:max_samples]
        x, assignment = x[chosen], assignment[chosen]
    counts = torch.bincount(assignment, minlength=2).double()
    if bool((counts < 2).any()):
        return 0.0
    distances = torch.cdist(x, x)
    one_hot = torch.nn.functional.one_hot(assignment, 2).double()  # (n, 2)
    sums = distances @ one_hot  # (n, 2): total distance to each cluster
    own = one_hot.bool()
    # Mean distance to the other members of one's own cluster (excluding oneself), and to the
    # other cluster.
    a = sums[own] / (counts[assignment] - 1)
    b = sums[~own] / counts[1 - assignment]
    return float(((b - a) / torch.maximum(a, b).clamp_min(1e-12)).mean())
