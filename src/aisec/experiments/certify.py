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
from typing import Any

from aisec.defenses.certify.curve import CertifiedAccuracyCurve
from aisec.evaluate.certify import SmoothingEvaluation, evaluate_smoothing
from aisec.experiments.base import check_int
from aisec.experiments.targets import ModelOptions, check_target, load_target

__all__ = ["CertifyPlan", "CertifyResult", "run"]


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

    @property
    def curve(self) -> CertifiedAccuracyCurve:
        """Certified accuracy against L2 radius."""
        return self.evaluation.curve

    def to_dict(self) -> dict[str, Any]:
        """The JSON record: :meth:`SmoothingEvaluation.to_dict` (``metrics.json``)."""
        return self.evaluation.to_dict()

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


def run(plan: CertifyPlan) -> CertifyResult:
    """Certify ``plan.n_points`` test points of ``plan.model`` with randomized smoothing.

    The model and its test points come from :func:`aisec.experiments.targets.load_target` (a
    zoo model through :func:`aisec.experiments.names.load_task`, so a test can replace
    :func:`aisec.experiments.names.zoo_model`); an unknown model name raises
    before anything loads.

    Args:
        plan: the settings.

    Returns:
        The :class:`CertifyResult`.
    """
    if not isinstance(plan, CertifyPlan):
        raise TypeError(f"plan must be a CertifyPlan, got {type(plan).__name__}")
    task = load_target(plan.model, plan.options, n=plan.n_points, seed=plan.data_seed)
    evaluation = evaluate_smoothing(
        task.model,
        task.x,
        task.y,
        sigma=plan.sigma,
        n0=plan.n0,
        n=plan.n,
        alpha=plan.alpha,
        batch_size=plan.batch_size,
        seed=plan.seed,
        predict=plan.predict,
        radius_steps=plan.radius_steps,
        name=plan.model,
    )
    return CertifyResult(plan=plan, evaluation=evaluation)
