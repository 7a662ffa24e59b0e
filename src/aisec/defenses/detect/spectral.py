"""Spectral signatures (Tran et al., 2018): poisoned samples stand out along one direction.

A backdoor makes the network represent its poisoned samples with a strong extra feature (the
trigger). Within the poisoned class, the centred representations of the two sub-populations
then differ along one direction, which the top singular vector of the class's centred
activation matrix picks up. For each class ``c`` with activations ``R`` (rows ``r_i``):

1. centre: ``r̂_i = r_i − mean(R)``;
2. ``v`` = the top right-singular vector of the matrix of the ``r̂_i``;
3. outlier score ``τ_i = (r̂_i · v)²``;
4. flag the ``⌈1.5 · ε · n_c⌉`` samples with the highest scores,

where ``ε`` is the defender's upper bound on the fraction of poisoned samples in a class
(the 1.5 leaves a margin, as in the paper). The defender must know ``ε``: with too small a
value poisons survive, with too large a value clean samples are removed.

The squared score assumes that poisons are a small share ``ε`` of the class: the class mean
then sits in the clean cluster, and clean samples project near zero. When poisons are a large
share (a whole-set rate of 5% fills 38% of the target class of 12 balanced classes), the mean
moves towards them and the far tail of the *clean* side competes with the poisons.
``score="signed"`` (an option of this implementation, not of the paper) keeps the side: it
orients ``v`` towards the minority — the side with the positive third moment of ``r̂_i · v``,
where the smaller, farther cluster lies — and scores ``τ_i = r̂_i · v``.

The budget ``1.5·ε`` is spent in *every* class, poisoned or not, so the paper's rule removes
``1.5·ε·N`` samples whatever the number of poisons (at a 5% all-to-one poison of 12 classes,
more than eleven clean samples per poison). ``select="gap"`` (also an option of this
implementation) spends the budget only where the scores show a second population: within the
budget it splits the class's sorted scores where Otsu's between-group variance
``k·(n−k)·(μ_top − μ_rest)²`` is largest, and flags the ``k`` top samples only if the split
lies in a trough of the scores' density — the density there at most ``max_valley`` of the lower
of the two sides' peaks. The upper group holds at least 5% of the class
(:data:`MIN_GROUP_SHARE`): a heavy tail's few extremes would otherwise open spurious troughs,
and poisons below that share are not found this way. Otsu's split of one skewed population
lies on its slope (valley ≈ 1), so a clean class loses nothing; a poisoned class loses the
poisons' cluster, not ``1.5·ε`` of itself. Every class's valley is reported, so a near miss is
visible. Use it with the signed score: squaring folds both sides into one long tail, where
spurious troughs are likelier.

Reference:
    B. Tran, J. Li, A. Madry, "Spectral Signatures in Backdoor Attacks", NeurIPS 2018.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Literal

import torch
from torch import Tensor

from aisec.defenses.detect.backdoor import BackdoorDetection, check_features

__all__ = ["spectral_signatures"]

Score = Literal["squared", "signed"]
Selection = Literal["budget", "gap"]

MAX_VALLEY = 0.85
"""``select="gap"``: the largest valley (density at the split over the lower side's peak) at
which a class's top group is flagged."""
MIN_GROUP_SHARE = 0.05
"""``select="gap"``: the smallest upper group, as a share of the class. Otsu's criterion can
split a heavy tail's few extremes from the rest, and the sparse tail then shows a spurious
trough; a group this large is a population, and poisons fewer than this are left alone."""
_GRID = 512


def spectral_signatures(
    features: Tensor,
    labels: Tensor,
    *,
    expected_fraction: float | Mapping[int, float],
    multiplier: float = 1.5,
    score: Score = "squared",
    select: Selection = "budget",
    max_valley: float = MAX_VALLEY,
) -> BackdoorDetection:
    """Flag the samples of each class with the largest spectral outlier scores.

    Args:
        features: ``(N, D)`` penultimate activations of the training samples (see
            :func:`~aisec.defenses.detect.penultimate_features`).
        labels: ``(N,)`` the training labels (as poisoned: the labels the model was trained on).
        expected_fraction: ``ε``, the upper bound on the poisoned fraction of a class, in
            ``[0, 1]``: one value for every class, or a mapping from label to value (classes
            not in the mapping are not inspected).
        multiplier: the margin on ``ε`` (1.5 in the paper); at most ``n_c`` samples of a class
            are flagged.
        score: ``"squared"`` (the paper: ``(r̂·v)²``) or ``"signed"`` (``r̂·v`` with ``v``
            oriented towards the class's minority side; see the module docstring).
        select: ``"budget"`` (the paper: flag the ``⌈multiplier·ε·n_c⌉`` top scores of every
            class) or ``"gap"`` (flag a class's top group only where it is separated from the
            rest; at most the same budget; see the module docstring).
        max_valley: ``select="gap"``: flag a class's top group only when the density of the
            scores at the split is at most this fraction of the lower of the two sides' peaks.

    Returns:
        A :class:`~aisec.defenses.detect.BackdoorDetection`; ``scores`` are the outlier
        scores ``τ``; ``per_class`` holds each class's size, number flagged, ``ε``, the
        ratio of its top two singular values and, with ``select="gap"``, its ``valley``.

    Reference:
        Tran, Li, Madry, "Spectral Signatures in Backdoor Attacks", NeurIPS 2018.
    """
    feats, y = check_features(features, labels)
    classes = [int(c) for c in torch.unique(y).tolist()]
    fractions = _fractions(expected_fraction, classes)
    if isinstance(multiplier, bool) or not isinstance(multiplier, (int, float)) or multiplier <= 0:
        raise ValueError(f"multiplier must be a number > 0, got {multiplier!r}")
    if score not in ("squared", "signed"):
        raise ValueError(f"score must be 'squared' or 'signed', got {score!r}")
    if select not in ("budget", "gap"):
        raise ValueError(f"select must be 'budget' or 'gap', got {select!r}")
    if (
        isinstance(max_valley, bool)
        or not isinstance(max_valley, (int, float))
        or not 0 < max_valley < 1
    ):
        raise ValueError(f"max_valley must be a number in (0, 1), got {max_valley!r}")
    scores = torch.zeros(y.shape[0], dtype=torch.float64)
    flagged = torch.zeros(y.shape[0], dtype=torch.bool)
    per_class: dict[int, dict[str, float | int]] = {}
    for c in classes:
        if c not in fractions:
            continue
        members = (y == c).nonzero().squeeze(1)
        n_c = members.numel()
        eps = fractions[c]
        count = min(n_c, math.ceil(multiplier * eps * n_c - 1e-9)) if eps > 0 else 0
        info: dict[str, float | int] = {"n": n_c, "expected_fraction": eps, "flagged": count}
        if n_c >= 2:
            centred = feats[members] - feats[members].mean(0, keepdim=True)
            _, singular, vh = torch.linalg.svd(centred, full_matrices=False)
            projection = centred @ vh[0]
            if score == "squared":
                tau = projection**2
            else:
                tau = projection if float((projection**3).sum()) >= 0 else -projection
            scores[members] = tau
            if singular.numel() > 1 and float(singular[1]) > 0:
                info["singular_value_ratio"] = float(singular[0] / singular[1])
            if select == "gap":
                count, valley = _separated_top(tau, count, max_valley)
                info["valley"] = valley
                info["flagged"] = count
            top = torch.topk(tau, count).indices if count else members[:0]
            flagged[members[top]] = True
        elif count and select == "budget":
            flagged[members] = True
        else:
            info["flagged"] = 0
        per_class[c] = info
    method = "spectral_signatures" if score == "squared" else "spectral_signatures_signed"
    if select == "gap":
        method = f"{method}_gap"
    return BackdoorDetection(method, flagged, scores.float(), per_class)


def _separated_top(tau: Tensor, limit: int, max_valley: float) -> tuple[int, float]:
    """How many top scores of ``tau`` to flag, and the valley at the best split.

    The split ``k ≤ limit`` (and ``≤ n − 2``, and at least :data:`MIN_GROUP_SHARE` of the
    class) maximises Otsu's between-group variance of the sorted scores. The valley is the
    scores' density at the split point over the smaller of the two sides' peak densities (a
    Gaussian kernel density with Silverman's bandwidth, on a grid of :data:`_GRID` points):
    about 1 for one population, whose Otsu split lies on a slope, and below 1 where the split
    lies in a trough between two. The top ``k`` are flagged when the valley is at most
    ``max_valley``, else none.
    """
    n = tau.numel()
    limit = min(limit, n - 2)
    smallest = max(1, math.ceil(MIN_GROUP_SHARE * n))
    if limit < smallest:
        return 0, 1.0
    ranked = tau.sort(descending=True).values
    sizes = torch.arange(1, limit + 1, dtype=ranked.dtype)
    top_sums = ranked.cumsum(0)[:limit]
    gaps = top_sums / sizes - (ranked.sum() - top_sums) / (n - sizes)
    between = sizes * (n - sizes) * gaps**2
    between[: smallest - 1] = -1.0  # a few extremes of a heavy tail are not a population
    k = int(between.argmax()) + 1
    spread = float(ranked.std())
    if not spread > 0:
        return 0, 1.0
    bandwidth = 1.06 * spread * n ** (-0.2)
    split = (ranked[k - 1] + ranked[k]) / 2
    grid = torch.linspace(float(ranked[-1]), float(ranked[0]), _GRID, dtype=ranked.dtype)
    density = _kernel_density(ranked, torch.cat([grid, split.reshape(1)]), bandwidth)
    above, below = density[:-1][grid > split], density[:-1][grid < split]
    if above.numel() == 0 or below.numel() == 0:
        return 0, 1.0
    valley = float(density[-1] / torch.minimum(above.max(), below.max()))
    return (k if valley <= max_valley else 0), valley


def _kernel_density(samples: Tensor, points: Tensor, bandwidth: float) -> Tensor:
    """Gaussian kernel density of ``samples`` at ``points`` (up to a constant factor)."""
    density = torch.zeros_like(points)
    for start in range(0, samples.numel(), 4096):  # bounded memory for large classes
        chunk = samples[start : start + 4096]
        density += torch.exp(-0.5 * ((points[:, None] - chunk[None, :]) / bandwidth) ** 2).sum(1)
    return density


def _fractions(value: float | Mapping[int, float], classes: list[int]) -> dict[int, float]:
    """Per-class ``ε`` from one value or a mapping; ``ValueError`` outside ``[0, 1]``."""
    if isinstance(value, Mapping):
        items = {int(k): v for k, v in value.items()}
    else:
        items = {c: value for c in classes}
    result = {}
    for c, v in items.items():
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0.0 <= float(v) <= 1.0:
            raise ValueError(
                f"expected_fraction must be a fraction in [0, 1] (per class), got {v!r} "
                f"for class {c}"
            )
        result[c] = float(v)
    return result
