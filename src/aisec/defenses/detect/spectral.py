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


def spectral_signatures(
    features: Tensor,
    labels: Tensor,
    *,
    expected_fraction: float | Mapping[int, float],
    multiplier: float = 1.5,
    score: Score = "squared",
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

    Returns:
        A :class:`~aisec.defenses.detect.BackdoorDetection`; ``scores`` are the outlier
        scores ``τ``; ``per_class`` holds each class's size, number flagged, ``ε`` and the
        ratio of its top two singular values.

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
            top = torch.topk(tau, count).indices if count else members[:0]
            flagged[members[top]] = True
        elif count:
            flagged[members] = True
        per_class[c] = info
    method = "spectral_signatures" if score == "squared" else "spectral_signatures_signed"
    return BackdoorDetection(method, flagged, scores.float(), per_class)


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
