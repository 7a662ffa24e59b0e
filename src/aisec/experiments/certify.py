"""Certify a model's test points with randomized smoothing: plan in, result out.

A :class:`CertifyPlan` names the base model (a zoo ``*-noise`` entry, trained with the same
Gaussian noise) and holds every size and setting of CERTIFY and PREDICT (Cohen, Rosenfeld &
Kolter, ICML 2019); :func:`run` loads the model and its test points by name and measures the
certified accuracy against L2 radius with :func:`aisec.evaluate.certify.evaluate_smoothing`.
Each certificate holds with probability at least ``1 − alpha``: the smoothed classifier keeps its
class within the certified L2 radius.

Example::

    from aisec.experiments import certify

    result = certify.run(certify.CertifyPlan(model="digits-cnn-noise", n_points=20, n=200))
    result.rows()        # certified accuracy at a few radii, as rates with their n
    result.to_dict()     # the metrics.json record of ``aisec certify``
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
from torch import Tensor

from aisec.defenses.certify.curve import CertifiedAccuracyCurve
from aisec.defenses.certify.smoothing import Certificate, SmoothedPrediction
from aisec.evaluate.certify import (
    SmoothingEvaluation,
    evaluate_smoothing,
    merge_smoothing_evaluations,
)
from aisec.experiments.base import check_int
from aisec.experiments.sharded import Execution, ExecutionRecord, run_sharded
from aisec.experiments.shards import ShardOutput, TensorTask
from aisec.experiments.targets import ModelOptions, check_target, load_target
from aisec.models.plumbing import Model

__all__ = ["CertifyPlan", "CertifyResult", "CertifyTask", "run"]

_SHARD_POINTS = 10
"""Points per shard by default (each costs ``n0 + n`` forward copies)."""
_CERT_TENSORS = ("prediction", "radius", "p_a_lower", "abstained", "counts")
_PREDICT_TENSORS = ("prediction", "abstained", "counts", "p_value")


@dataclass(frozen=True)
class CertifyPlan:
    """What to certify and how: the defaults are those of ``aisec certify``.

    Attributes:
        model: the base classifier: a zoo name, or a model source with ``options`` (smoothing
            only queries it, so a black-box ``onnxrt:`` model works too).
        sigma: the smoothing noise level σ (inputs in [0, 1]).
        n_points: test points to certify (fewer if the test set is smaller).
        data_seed: seed of the test-point sample.
        n0: CERTIFY's noisy copies to select the class.
        n: CERTIFY's noisy copies to bound ``p_A`` (and PREDICT's copies).
        alpha: the error probability of each certificate and prediction.
        batch_size: noisy copies per forward pass.
        seed: seed of the noise (CERTIFY uses ``seed``, PREDICT ``seed + 1``).
        predict: also run PREDICT.
        radius_steps: the curve has ``radius_steps + 1`` radii from 0 to the largest radius
            CERTIFY can return with ``n`` and ``alpha``.
        options: what a model source needs, and other data to certify.

    Raises:
        ValueError, TypeError: for a bad setting, when the plan is made (before anything
            loads).
    """

    model: str = "digits-cnn-noise"
    sigma: float = 0.25
    n_points: int = 100
    data_seed: int = 0
    n0: int = 100
    n: int = 1000
    alpha: float = 0.001
    batch_size: int = 1000
    seed: int = 0
    predict: bool = True
    radius_steps: int = 50
    options: ModelOptions = field(default_factory=ModelOptions)

    def __post_init__(self) -> None:
        if not isinstance(self.model, str) or not self.model:
            raise ValueError(f"model must be a zoo name or a model source, got {self.model!r}")
        check_target(self.model, self.options)  # before anything loads
        if isinstance(self.sigma, bool) or not isinstance(self.sigma, (int, float)):
            raise TypeError(f"sigma must be a float, got {type(self.sigma).__name__}")
        if not (math.isfinite(self.sigma) and self.sigma > 0):
            raise ValueError(f"sigma must be a finite float > 0, e.g. 0.25, got {self.sigma}")
        if isinstance(self.alpha, bool) or not isinstance(self.alpha, (int, float)):
            raise TypeError(f"alpha must be a float, got {type(self.alpha).__name__}")
        if not 0 < self.alpha < 1:
            raise ValueError(f"alpha must be in (0, 1), e.g. 0.001, got {self.alpha}")
        check_int("n_points", self.n_points, 1)
        check_int("n0", self.n0, 1)
        check_int("n", self.n, 1)
        check_int("batch_size", self.batch_size, 1)
        check_int("radius_steps", self.radius_steps, 1)
        check_int("data_seed", self.data_seed, 0)
        check_int("seed", self.seed, 0)
        if not isinstance(self.predict, bool):
            raise TypeError(f"predict must be a bool, got {type(self.predict).__name__}")


@dataclass(frozen=True)
class CertifyResult:
    """Certificates of a smoothed zoo model and its certified accuracy against L2 radius.

    Attributes:
        plan: the plan that was run.
        evaluation: CERTIFY and PREDICT results, the base model's accuracies and times.
    """

    plan: CertifyPlan
    evaluation: SmoothingEvaluation
    execution: ExecutionRecord | None = None

    @property
    def curve(self) -> CertifiedAccuracyCurve:
        """Certified accuracy against L2 radius."""
        return self.evaluation.curve

    def to_dict(self) -> dict[str, Any]:
        """The JSON record: :meth:`SmoothingEvaluation.to_dict` (``metrics.json``) and
        ``execution`` (the shards: :class:`~aisec.experiments.sharded.ExecutionRecord`)."""
        return {
            **self.evaluation.to_dict(),
            "execution": None if self.execution is None else self.execution.to_dict(),
        }

    def rows(self, points: int = 6) -> list[dict[str, Any]]:
        """Certified accuracy at ``points`` evenly spaced radii of the curve's grid.

        Args:
            points: how many radii, from 0 to the largest certifiable radius (at least 2).

        Returns:
            Rows ``{"L2 radius": float, "certified accuracy": Rate}``; the rate counts the
            points certified correct at that radius out of the points certified.
        """
        if isinstance(points, bool) or not isinstance(points, int) or points < 2:
            raise ValueError(f"points must be an int >= 2, got {points!r}")
        last = len(self.curve.radii) - 1
        shown = sorted({round(i * last / (points - 1)) for i in range(points)})
        return [
            {
                "L2 radius": self.curve.radii[index],
                "certified accuracy": self.curve.certified_accuracy_at(self.curve.radii[index]),
            }
            for index in shown
        ]


@dataclass
class CertifyTask(TensorTask):
    """CERTIFY (and PREDICT) on points ``start … stop−1``, each point's noise keyed by
    ``(seed, its index)`` (a shard task, see :mod:`aisec.experiments.sharded`)."""

    kind: ClassVar[str] = "certify"
    model: Model
    x: Tensor
    y: Tensor
    plan: CertifyPlan

    def run_shard(self, start: int, stop: int) -> ShardOutput:
        """Certify points ``start … stop−1``."""
        plan = self.plan
        part = evaluate_smoothing(
            self.model,
            self.x[start:stop],
            self.y[start:stop],
            sigma=plan.sigma,
            n0=plan.n0,
            n=plan.n,
            alpha=plan.alpha,
            batch_size=plan.batch_size,
            seed=plan.seed,
            predict=plan.predict,
            radius_steps=plan.radius_steps,
            name=plan.model,
            ids=torch.arange(start, stop, device=self.x.device),
        )
        tensors = {"labels": part.labels}
        tensors |= {f"cert.{k}": getattr(part.certificate, k) for k in _CERT_TENSORS}
        if part.prediction is not None:
            tensors |= {f"predict.{k}": getattr(part.prediction, k) for k in _PREDICT_TENSORS}
        meta = {
            "base_clean_accuracy": part.base_clean_accuracy,
            "base_noisy_accuracy": part.base_noisy_accuracy,
            "settings": part.settings,
            "radii": list(part.curve.radii),
            "certify_time_s": part.certificate.time_s,
            "predict_time_s": None if part.prediction is None else part.prediction.time_s,
            "time_s": part.time_s,
        }
        return ShardOutput(tensors=tensors, meta=meta)

    def evaluation_of(self, output: ShardOutput) -> SmoothingEvaluation:
        """The :class:`SmoothingEvaluation` of one shard's output (to merge)."""
        from aisec.defenses.certify.curve import certified_accuracy_curve

        plan, tensors, meta = self.plan, output.tensors, output.meta
        cert = Certificate(
            **{k: tensors[f"cert.{k}"] for k in _CERT_TENSORS},
            sigma=plan.sigma,
            n0=plan.n0,
            n=plan.n,
            alpha=plan.alpha,
            time_s=float(meta["certify_time_s"]),
        )
        prediction = None
        if plan.predict:
            prediction = SmoothedPrediction(
                **{k: tensors[f"predict.{k}"] for k in _PREDICT_TENSORS},
                sigma=plan.sigma,
                n=plan.n,
                alpha=plan.alpha,
                time_s=float(meta["predict_time_s"]),
            )
        labels = tensors["labels"]
        return SmoothingEvaluation(
            name=plan.model,
            labels=labels,
            certificate=cert,
            prediction=prediction,
            curve=certified_accuracy_curve(cert, labels, meta["radii"]),
            base_clean_accuracy=float(meta["base_clean_accuracy"]),
            base_noisy_accuracy=float(meta["base_noisy_accuracy"]),
            settings=dict(meta["settings"]),
            time_s=float(meta["time_s"]),
        )


def run(plan: CertifyPlan, *, execution: Execution | None = None) -> CertifyResult:
    """Certify ``plan.n_points`` test points of ``plan.model`` with randomized smoothing.

    The model and its test points come from :func:`aisec.experiments.targets.load_target` (a
    zoo model through :func:`aisec.experiments.names.load_task`, so a test can replace
    :func:`aisec.experiments.names.zoo_model`); an unknown model name raises
    before anything loads. The points are certified in shards (10 points each by default),
    each point's noise keyed by ``(plan.seed, its index)``, so the result does not depend on
    ``execution``.

    Args:
        plan: the settings.
        execution: executor, shards and checkpoints (default: this process, no checkpoints).

    Returns:
        The :class:`CertifyResult`.
    """
    if not isinstance(plan, CertifyPlan):
        raise TypeError(f"plan must be a CertifyPlan, got {type(plan).__name__}")
    task = load_target(plan.model, plan.options, n=plan.n_points, seed=plan.data_seed)
    work = CertifyTask(task.model, task.x, task.y, plan)
    outputs, record = run_sharded(
        work,
        len(task.y),
        kind="certify",
        execution=execution,
        default_shard_size=_SHARD_POINTS,
    )
    evaluation = merge_smoothing_evaluations([work.evaluation_of(o) for o in outputs])
    return CertifyResult(plan=plan, evaluation=evaluation, execution=record)
