"""Certify labelled test points with randomized smoothing and measure certified accuracy.

:func:`evaluate_smoothing` runs CERTIFY (and PREDICT) of Cohen, Rosenfeld & Kolter (ICML 2019)
on a base model and labelled points, and returns a :class:`SmoothingEvaluation`: the
certificates, the certified accuracy against L2 radius and the base model's accuracy with and
without the noise. It works on objects only; :mod:`aisec.experiments.certify` loads a zoo model
and its test data by name, and :mod:`aisec.report.certify` writes the result to files.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any

import torch
from torch import Tensor, nn

from aisec.attacks.base import check_labels, check_logits
from aisec.attacks.base import predict as predict_classes
from aisec.defenses.certify.curve import (
    CertifiedAccuracyCurve,
    certified_accuracy_curve,
    max_certifiable_radius,
    radius_grid,
)
from aisec.defenses.certify.smoothing import Certificate, RandomizedSmoothing, SmoothedPrediction
from aisec.models.plumbing import Model, eval_mode
from aisec.seeding import check_ids

__all__ = ["SmoothingEvaluation", "evaluate_smoothing", "merge_smoothing_evaluations"]


class _CheckedLogits(nn.Module):
    """The base model with its logits checked once per forward pass (a batch of noisy copies).

    A NaN row would vote for class 0 (``argmax`` of NaN) and could even be certified; an error
    is the honest outcome.
    """

    def __init__(self, model: Model) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: Tensor) -> Tensor:
        return check_logits(self.model(x), "noisy copies of the test points")


@dataclass(frozen=True)
class SmoothingEvaluation:
    """CERTIFY and PREDICT of a smoothed classifier on labelled test points.

    Attributes:
        name: what was certified (e.g. the zoo model's name).
        labels: ``(N,)`` true classes.
        certificate: CERTIFY's result.
        prediction: PREDICT's result (``None`` when it was not run).
        curve: certified accuracy against L2 radius.
        base_clean_accuracy: the base model's accuracy on the clean points.
        base_noisy_accuracy: the fraction of the ``n`` noisy copies the base model classifies
            correctly (averaged over points).
        settings: the run's settings (sigma, n0, n, alpha, points, batch_size, seed,
            max_certifiable_radius).
        time_s: wall time of the whole evaluation.
    """

    name: str
    labels: Tensor
    certificate: Certificate
    prediction: SmoothedPrediction | None
    curve: CertifiedAccuracyCurve
    base_clean_accuracy: float
    base_noisy_accuracy: float
    settings: dict[str, Any]
    time_s: float

    def to_dict(self) -> dict[str, Any]:
        """The JSON record (``metrics.json`` of ``aisec certify``).

        Keys:

        * ``model``; ``settings``: ``sigma``, ``n0``, ``n``, ``alpha``, ``points``,
          ``batch_size``, ``seed``, ``max_certifiable_radius`` (``σ·Φ⁻¹(α^(1/n))``, the largest
          possible radius);
        * ``certified_accuracy``: a list of ``{radius, certified_accuracy}`` (fraction of points
          certified correct with radius ``>= radius``; abstentions count as wrong);
        * ``clean_accuracy``: the smoothed classifier's accuracy (CERTIFY's class at radius 0);
          ``abstain_rate``: the fraction CERTIFY abstained on;
        * ``smoothed``: those two again plus PREDICT's accuracy and abstain rate (``null`` if
          not run); ``base_model``: the base model's clean accuracy and its accuracy under the
          noise;
        * ``time_s``: ``total``, ``certify``, ``predict`` seconds; ``certify_samples_per_s``;
        * ``per_point``: ``label``, ``prediction`` (-1: abstain), ``radius``, ``p_a_lower``.
        """
        cert = self.certificate
        samples = self.settings["points"] * (cert.n0 + cert.n)
        smoothed: dict[str, Any] = {
            "certified_clean_accuracy": self.curve.clean_accuracy,
            "certify_abstain_rate": self.curve.abstain_rate,
            "predict_accuracy": None,
            "predict_abstain_rate": None,
        }
        if self.prediction is not None:
            smoothed["predict_accuracy"] = self.prediction.accuracy(self.labels)
            smoothed["predict_abstain_rate"] = float(self.prediction.abstained.double().mean())
        return {
            "model": self.name,
            "settings": self.settings,
            "clean_accuracy": smoothed["certified_clean_accuracy"],
            "abstain_rate": smoothed["certify_abstain_rate"],
            "smoothed": smoothed,
            "base_model": {
                "clean_accuracy": self.base_clean_accuracy,
                "noisy_accuracy": self.base_noisy_accuracy,
            },
            "certified_accuracy": [
                {"radius": r, "certified_accuracy": a}
                for r, a in zip(self.curve.radii, self.curve.certified_accuracy, strict=True)
            ],
            "time_s": {
                "total": self.time_s,
                "certify": cert.time_s,
                "predict": None if self.prediction is None else self.prediction.time_s,
            },
            "certify_samples_per_s": samples / cert.time_s if cert.time_s > 0 else None,
            "per_point": {
                "label": self.labels.cpu().tolist(),
                "prediction": cert.prediction.cpu().tolist(),
                "radius": cert.radius.cpu().tolist(),
                "p_a_lower": cert.p_a_lower.cpu().tolist(),
            },
        }


def evaluate_smoothing(
    model: Model,
    x: Tensor,
    y: Tensor,
    *,
    sigma: float,
    n0: int = 100,
    n: int = 1000,
    alpha: float = 0.001,
    batch_size: int = 1000,
    seed: int = 0,
    predict: bool = True,
    radius_steps: int = 50,
    name: str = "model",
    ids: Tensor | None = None,
) -> SmoothingEvaluation:
    """Certify ``x`` with the smoothed ``model`` and measure certified accuracy against radius.

    Args:
        model: the base classifier (trained with the same Gaussian noise, e.g. a zoo
            ``*-noise`` model).
        x: ``(N, C, H, W)`` test images in [0, 1].
        y: ``(N,)`` their labels.
        sigma: the smoothing noise level.
        n0: CERTIFY's selection copies.
        n: CERTIFY's estimation copies (and PREDICT's copies).
        alpha: the error probability of both procedures.
        batch_size: noisy copies per forward pass.
        seed: seed of the noise (CERTIFY uses ``seed``, PREDICT ``seed + 1``).
        predict: also run PREDICT with ``n`` copies.
        radius_steps: the curve's grid has ``radius_steps + 1`` radii from 0 to the largest
            radius CERTIFY can return with ``n`` and ``alpha``.
        name: recorded in the result.
        ids: ``(N,)`` int64 indices of the points in their data set, or ``None``. Given, each
            point's noise is keyed by ``(seed, its index)`` and each point is classified on
            its own, so a shard of the points gives them what the whole set gives them (see
            :func:`merge_smoothing_evaluations`).

    Returns:
        A :class:`SmoothingEvaluation`.

    Raises:
        TypeError: for float labels (they are not truncated to classes).
        ValueError: for bad shapes or settings, or NaN/infinite logits of the base model.

    Reference:
        Cohen, Rosenfeld & Kolter, "Certified Adversarial Robustness via Randomized
        Smoothing", ICML 2019.
    """
    began = time.perf_counter()
    if not isinstance(x, Tensor):
        raise TypeError(f"x must be a torch tensor, got {type(x).__name__}")
    if x.ndim < 1 or x.shape[0] == 0:
        raise ValueError("x must hold at least one test point")
    y = check_labels("y", y, int(x.shape[0]))
    smoothed = RandomizedSmoothing(_CheckedLogits(model), sigma)
    ids = check_ids(ids, int(x.shape[0]), x.device)
    cert = smoothed.certify(x, n0=n0, n=n, alpha=alpha, batch_size=batch_size, seed=seed, ids=ids)
    prediction = None
    if predict:
        prediction = smoothed.predict(
            x, n=n, alpha=alpha, batch_size=batch_size, seed=seed + 1, ids=ids
        )
    grid = radius_grid(max_certifiable_radius(sigma, n, alpha), radius_steps)
    curve = certified_accuracy_curve(cert, y, grid)
    labels = y.to(cert.counts.device, torch.int64)
    rows = 1 if ids is not None else batch_size  # with ids: every point on its own
    with eval_mode(model), torch.inference_mode():
        clean_pred = torch.cat(
            [
                predict_classes(model(x[i : i + rows]), "clean test points")
                for i in range(0, x.shape[0], rows)
            ]
        )
    base_noisy = cert.counts.gather(1, labels.unsqueeze(1)).double().sum() / (n * x.shape[0])
    settings = {
        "sigma": float(sigma),
        "n0": n0,
        "n": n,
        "alpha": alpha,
        "points": int(x.shape[0]),
        "batch_size": batch_size,
        "seed": seed,
        "max_certifiable_radius": grid[-1],
    }
    return SmoothingEvaluation(
        name=name,
        labels=y.cpu(),
        certificate=cert,
        prediction=prediction,
        curve=curve,
        base_clean_accuracy=float((clean_pred.cpu() == y.cpu()).double().mean()),
        base_noisy_accuracy=float(base_noisy),
        settings=settings,
        time_s=time.perf_counter() - began,
    )


def _joined(parts: Sequence[Any], cls: type[Any]) -> Any:
    """Certificates (or predictions) of consecutive shards as one: tensors joined, times
    summed, settings from the first."""
    first = parts[0]
    values: dict[str, Any] = {}
    for field in fields(cls):
        items = [getattr(part, field.name) for part in parts]
        if isinstance(items[0], Tensor):
            values[field.name] = torch.cat(items)
        elif field.name == "time_s":
            values[field.name] = sum(items)
        else:
            values[field.name] = getattr(first, field.name)
    return cls(**values)


def merge_smoothing_evaluations(parts: Sequence[SmoothingEvaluation]) -> SmoothingEvaluation:
    """One evaluation from those of consecutive shards of the points (run with ``ids``).

    Per-point certificates and predictions are joined, the curve is recomputed on the first
    part's radius grid, the base model's accuracies are averaged over all points and times
    are summed.

    Raises:
        ValueError: for no parts, or parts with different settings.
    """
    if not parts:
        raise ValueError("merge_smoothing_evaluations needs at least one evaluation")
    first = parts[0]

    def shared(settings: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in settings.items() if k != "points"}

    if any(shared(part.settings) != shared(first.settings) for part in parts[1:]):
        raise ValueError("the evaluations to merge must share their settings")
    points = [int(part.settings["points"]) for part in parts]
    total = sum(points)
    labels = torch.cat([part.labels for part in parts])
    cert = _joined([part.certificate for part in parts], Certificate)
    prediction = None
    if first.prediction is not None:
        prediction = _joined([part.prediction for part in parts], SmoothedPrediction)
    # The accuracies as counts (exact: c/k·k rounds back to c), then over all the points.
    clean = sum(round(p.base_clean_accuracy * k) for p, k in zip(parts, points, strict=True))
    votes = first.certificate.n
    noisy = sum(
        round(p.base_noisy_accuracy * votes * k) for p, k in zip(parts, points, strict=True)
    )
    return SmoothingEvaluation(
        name=first.name,
        labels=labels,
        certificate=cert,
        prediction=prediction,
        curve=certified_accuracy_curve(cert, labels, list(first.curve.radii)),
        base_clean_accuracy=clean / total,
        base_noisy_accuracy=noisy / (votes * total),
        settings={**first.settings, "points": total},
        time_s=sum(part.time_s for part in parts),
    )
