"""Vision defenses under an adaptive attacker: which defenses hold, measured honestly.

:func:`run` (:class:`DefensesPlan`) is the tour's defenses study:

  1. The defense table (:func:`~aisec.evaluate.compare_defenses`): no defense, each
     preprocessing defense, adversarial training and adversarial training + a preprocessing
     defense, each with its clean accuracy, the accuracy under a *non-adaptive* attack (PGD on
     the bare model, transferred through the defense) and under the *adaptive* attacks
     (APGD-CE, APGD-T and Square through BPDA for non-differentiable steps and EOT for
     randomized ones), worst case per example.
  2. The full evaluation suite (:func:`~aisec.evaluate.evaluate_robustness`) on the undefended
     and the adversarially trained model.
  3. Feature squeezing (:func:`~aisec.evaluate.evaluate_feature_squeezing`): ROC AUC against
     PGD and C&W, and what is left of it against an attack that knows the detector.
  4. Randomized smoothing (:mod:`aisec.experiments.certify`): certified accuracy against L2
     radius.
  5. The physical attack against defenses (:mod:`aisec.experiments.physical`): RP2 stickers
     optimised against the adversarially trained model and against a preprocessing-defended
     model (through BPDA).

  Without a zoo entry for the adversarially trained model (``robust_model=None``) a small
  PGD-trained variant of ``model`` is trained (and cached) with
  :func:`aisec.zoo.train_variant`.

Preprocessing defenses in front of one zoo model (``aisec defend``) are
:mod:`aisec.experiments.defend`.

Every plan is checked when it is built (``ValueError``/``TypeError``), before any model or data
loads. The results keep the evaluation objects for the report's figures, give their table rows
with :class:`~aisec.stats.Rate` for every rate, and their JSON form with ``to_dict()``.

Reference:
    A. Athalye, N. Carlini, D. Wagner, "Obfuscated Gradients Give a False Sense of Security:
    Circumventing Defenses to Adversarial Examples", ICML 2018.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from torch import nn

from aisec.defenses.detect import FeatureSqueezing
from aisec.evaluate import (
    DefenseCase,
    DefenseTable,
    RobustnessReport,
    SqueezingReport,
    compare_defenses,
    default_suite,
    evaluate_feature_squeezing,
    evaluate_robustness,
)
from aisec.experiments import certify, names
from aisec.experiments import physical as physical_experiment
from aisec.experiments.base import check_budget, check_int, check_names
from aisec.stats import Rate
from aisec.threat import ThreatModel, parse_eps
from aisec.zoo import model_spec, train_variant

__all__ = [
    "DefensesPlan",
    "DefensesResult",
    "run",
]

NO_DEFENSE = "no defense"
"""The table's row of the bare model."""

ADVERSARIAL_TRAINING = "adversarial training"
"""The table's (and the physical part's) row of the adversarially trained model."""


# --- plan checks --------------------------------------------------------------------------


def _budget_text(value: float | str) -> str:
    return value.strip() if isinstance(value, str) else f"{value:g}"


# --- the defenses study -------------------------------------------------------------------


@dataclass(frozen=True)
class DefensesPlan:
    """Every size and setting of the defenses study (see the module docstring).

    Attributes:
        model: the undefended zoo model (its test data is used throughout).
        robust_model: the adversarially trained zoo model; ``None`` trains a PGD variant of
            ``model`` at ``eps`` with ``robust_training_steps`` steps (cached by the zoo).
        robust_training_steps: PGD steps of that variant's training.
        eps: the L∞ budget of the table and the suite (a number or a string like ``"8/255"``).
        n: test points of the defense table (seed ``seed``).
        preprocessing: the preprocessing defenses of the table, one row each.
        robust_preprocessing: the defense in front of the adversarially trained model (the
            table's last row).
        steps: PGD (transfer) and APGD (adaptive) steps of the table; also the PGD steps of the
            feature-squeezing evaluation.
        eot_samples: random draws averaged per forward pass (EOT) for randomized defenses.
        square_queries: Square's query budget in the table (0 leaves Square out).
        suite_n: test points of the full suite (seed ``seed + 1``).
        suite_steps: APGD steps of the full suite.
        suite_queries: Square's query budget of the full suite.
        squeezers: feature squeezing's squeezers.
        squeeze_n: calibration points and evaluated points of feature squeezing (each; seed
            ``seed + 2``).
        squeeze_eps: the L∞ budget of PGD and the detector-aware attack.
        cw_iterations: C&W-L2 iterations against feature squeezing.
        smoothing_models: zoo models certified with randomized smoothing (trained with noise).
        sigma: the smoothing noise level.
        smoothing_points: test points certified (seed ``seed + 3``).
        smoothing_n0: CERTIFY's selection copies.
        smoothing_n: CERTIFY's estimation copies (and PREDICT's).
        smoothing_alpha: the certificates' error probability.
        smoothing_batch_size: noisy copies per forward pass.
        physical: run the physical part (needs a model of traffic signs).
        physical_steps: RP2 steps.
        physical_conditions: held-out physical conditions per sign.
        physical_defense: the preprocessing defense attacked through BPDA in the physical part.
        seed: the seed of the data samples, defenses and attacks.

    Raises:
        ValueError, TypeError: for unknown names or bad sizes, when the plan is made.
    """

    model: str = "signs-cnn"
    robust_model: str | None = "signs-cnn-at"
    robust_training_steps: int = 3
    eps: float | str = "8/255"
    n: int = 50
    preprocessing: tuple[str, ...] = (
        "jpeg:75",
        "bits:4",
        "median:3",
        "blur:3:1.0",
        "resize-pad:0.8",
    )
    robust_preprocessing: str = "jpeg:75"
    steps: int = 50
    eot_samples: int = 4
    square_queries: int = 1000
    suite_n: int = 50
    suite_steps: int = 100
    suite_queries: int = 5000
    squeezers: tuple[str, ...] = ("bits:4", "median:2")
    squeeze_n: int = 64
    squeeze_eps: float | str = "8/255"
    cw_iterations: int = 50
    smoothing_models: tuple[str, ...] = ("digits-cnn-noise",)
    sigma: float = 0.25
    smoothing_points: int = 100
    smoothing_n0: int = 100
    smoothing_n: int = 500
    smoothing_alpha: float = 0.001
    smoothing_batch_size: int = 1000
    physical: bool = True
    physical_steps: int = 100
    physical_conditions: int = 100
    physical_defense: str = "jpeg:75"
    seed: int = 0

    def __post_init__(self) -> None:
        check_int("seed", self.seed, 0)
        if not isinstance(self.model, str):
            raise TypeError(f"model must be a zoo model name, got {self.model!r}")
        model_spec(self.model)
        if self.robust_model is not None:
            if not isinstance(self.robust_model, str):
                raise TypeError(f"robust_model must be a zoo model name, got {self.robust_model!r}")
            if self.robust_model == self.model:
                raise ValueError(
                    f"robust_model must differ from model ({self.model!r}): the study compares "
                    "the undefended and the adversarially trained model"
                )
            model_spec(self.robust_model)
        check_int("robust_training_steps", self.robust_training_steps, 1)
        check_budget("eps", self.eps)
        check_budget("squeeze_eps", self.squeeze_eps)
        for name in ("n", "steps", "eot_samples", "suite_n", "suite_steps", "suite_queries"):
            check_int(name, getattr(self, name), 1)
        for name in ("squeeze_n", "cw_iterations"):
            check_int(name, getattr(self, name), 1)
        check_int("square_queries", self.square_queries, 0)
        for spec in check_names("preprocessing", self.preprocessing):
            names.preprocessing_stack(spec, seed=self.seed)
        names.preprocessing_stack(self.robust_preprocessing, seed=self.seed)
        if not check_names("squeezers", self.squeezers):
            raise ValueError("squeezers must name at least one squeezer, e.g. ('bits:4',)")
        for spec in self.squeezers:
            names.preprocessing_defense(spec)
        check_names("smoothing_models", self.smoothing_models)
        self.certify_plans()  # checks the models, sigma, sizes and alpha
        if not isinstance(self.physical, bool):
            raise TypeError(f"physical must be a bool, got {self.physical!r}")
        if self.physical:
            # A variant trained for the plan is named only once trained: check its base.
            robust = self.model if self.robust_model is None else self.robust_model
            for victim, defense in self.physical_victims(robust):
                self.physical_plan(victim, defense)

    @property
    def eps_value(self) -> float:
        """:attr:`eps` as a number."""
        return parse_eps(self.eps)

    @property
    def eps_text(self) -> str:
        """:attr:`eps` for people, as given (``"8/255"``)."""
        return _budget_text(self.eps)

    @property
    def squeeze_eps_value(self) -> float:
        """:attr:`squeeze_eps` as a number."""
        return parse_eps(self.squeeze_eps)

    def certify_plans(self) -> list[certify.CertifyPlan]:
        """The randomized-smoothing experiment of each of :attr:`smoothing_models`."""
        return [
            certify.CertifyPlan(
                model=name,
                sigma=self.sigma,
                n_points=self.smoothing_points,
                data_seed=self.seed + 3,
                n0=self.smoothing_n0,
                n=self.smoothing_n,
                alpha=self.smoothing_alpha,
                batch_size=self.smoothing_batch_size,
                seed=self.seed,
                predict=True,
                radius_steps=50,
            )
            for name in self.smoothing_models
        ]

    def physical_plan(self, model: str, defense: str | None) -> physical_experiment.PhysicalPlan:
        """The physical experiment against ``model`` (behind ``defense``, through BPDA)."""
        return physical_experiment.PhysicalPlan(
            steps=self.physical_steps,
            n_conditions=self.physical_conditions,
            seed=self.seed,
            eval_seed=self.seed + 1,
            dataset_check=False,
            signs_patch=False,
            model=model,
            defense=defense,
        )

    def physical_victims(self, robust_name: str) -> list[tuple[str, str | None]]:
        """``(zoo model, defense)`` of each physical victim, in the order of the table."""
        return [
            (self.model, None),
            (robust_name, None),
            (self.model, self.physical_defense),
        ]


@dataclass(frozen=True)
class DefensesResult:
    """Everything :func:`run` measured.

    Attributes:
        plan: the settings.
        robust_model: the adversarially trained model's zoo name (a derived variant name when
            the plan trained one).
        table: the defense table (one :class:`~aisec.evaluate.DefenseReport` per row).
        table_models: the zoo model behind each row of ``table``, in order.
        suite: the full suite's report per model, the undefended one first.
        squeezing: feature squeezing's evaluation.
        smoothing: the randomized-smoothing result of each of ``plan.smoothing_models``.
        physical: the physical experiment per victim (``"no defense"``, ``"adversarial
            training"``, the defense's spec); empty when not planned.
        time_s: wall-clock seconds.
    """

    plan: DefensesPlan
    robust_model: str
    table: DefenseTable
    table_models: tuple[str, ...]
    suite: dict[str, RobustnessReport]
    squeezing: SqueezingReport
    smoothing: tuple[certify.CertifyResult, ...]
    physical: dict[str, physical_experiment.PhysicalResult]
    time_s: float = 0.0

    def rows(self) -> list[dict[str, Any]]:
        """The defense table: per row the gradient the adaptive attacks used and the clean,
        non-adaptive and adaptive accuracy as :class:`~aisec.stats.Rate` values."""
        return self.table.table_rows()

    def suite_rows(self) -> list[dict[str, Any]]:
        """The full suite per model: points, clean and worst-case robust accuracy (rates),
        seconds and the number of sanity warnings."""
        return [
            {
                "model": name,
                "points": report.n,
                "clean accuracy": report.clean_rate,
                "robust accuracy (worst case)": report.robust_rate,
                "time (s)": round(report.time_s, 1),
                "sanity warnings": len(report.warnings),
            }
            for name, report in self.suite.items()
        ]

    def squeezing_rows(self) -> list[dict[str, Any]]:
        """Feature squeezing per attack: which points it fooled, the ROC AUC, the detection rate
        of the fooling examples and the attacker's real success (fools and evades)."""
        rows = []
        for outcome in self.squeezing.outcomes:
            detected = outcome.detection_rate
            rows.append(
                {
                    "attack": outcome.attack,
                    "knows the detector": outcome.adaptive,
                    "fooled the model": Rate(outcome.fooled, outcome.attacked),
                    "ROC AUC": outcome.auc,
                    "detection rate": None
                    if detected is None
                    else Rate.from_fraction(detected, outcome.fooled),
                    "fools the model and evades": Rate.from_fraction(
                        outcome.fool_and_evade, outcome.attacked
                    ),
                }
            )
        return rows

    def smoothing_rows(self, radii: Sequence[float] = (0.25, 0.5)) -> list[dict[str, Any]]:
        """Randomized smoothing per model: the base model's clean accuracy, certified accuracy
        at radius 0 and at each of ``radii`` (rates of the points), the abstain rate and
        seconds."""
        rows = []
        for item in self.smoothing:
            evaluation, curve = item.evaluation, item.curve
            row: dict[str, Any] = {
                "model": evaluation.name,
                "points": curve.n_points,
                "base clean accuracy": Rate.from_fraction(
                    evaluation.base_clean_accuracy, curve.n_points
                ),
                "certified at r = 0": Rate.from_fraction(curve.clean_accuracy, curve.n_points),
            }
            for radius in radii:
                row[f"certified at r = {radius:g}"] = curve.certified_accuracy_at(radius)
            row["abstain rate"] = Rate.from_fraction(curve.abstain_rate, curve.n_points)
            row["time (s)"] = round(evaluation.time_s, 1)
            rows.append(row)
        return rows

    def physical_rows(self) -> list[dict[str, Any]]:
        """The physical attack per victim: the clean sign read as its class, the targeted
        success of the RP2 and the control sticker, and RP2's misclassification (rates of the
        held-out conditions)."""
        rows = []
        for name, result in self.physical.items():
            clean, rp2 = result.variant_metrics("clean"), result.variant_metrics("rp2")
            control = result.variant_metrics("control")
            rows.append(
                {
                    "victim": name,
                    f"clean sign read as {result.plan.source}": clean.source_rate,
                    "RP2 targeted success": rp2.targeted_rate,
                    "control sticker targeted success": control.targeted_rate,
                    "RP2 misclassification": rp2.misclassification_rate,
                }
            )
        return rows

    def to_dict(self) -> dict[str, Any]:
        """The JSON form: ``settings``, ``table``, ``suite`` (model -> report), ``squeezing``,
        ``smoothing`` (model -> result), ``physical`` (victim -> metrics) and ``time_s``."""
        return {
            "settings": {
                "model": self.plan.model,
                "adversarially_trained_model": self.robust_model,
                "eps": self.plan.eps_value,
                "n": self.plan.n,
                "steps": self.plan.steps,
                "eot_samples": self.plan.eot_samples,
                "square_queries": self.plan.square_queries,
                "seed": self.plan.seed,
            },
            "table": self.table.to_dict(),
            "table_models": list(self.table_models),
            "suite": {name: report.to_dict() for name, report in self.suite.items()},
            "squeezing": self.squeezing.to_dict(),
            "smoothing": {item.evaluation.name: item.to_dict() for item in self.smoothing},
            "physical": {name: result.metrics() for name, result in self.physical.items()},
            "time_s": self.time_s,
        }


def _robust_model(plan: DefensesPlan, progress: bool) -> tuple[str, nn.Module]:
    """The adversarially trained model: the zoo's entry, or a PGD variant trained for the plan."""
    if plan.robust_model is not None:
        return plan.robust_model, names.zoo_model(plan.robust_model)
    variant = train_variant(
        plan.model, "pgd", eps=plan.eps_value, steps=plan.robust_training_steps, progress=progress
    )
    return variant.name, variant.model.eval()


def _defense_table(
    plan: DefensesPlan, models: dict[str, nn.Module], robust_name: str
) -> tuple[DefenseTable, tuple[str, ...]]:
    """Part 1: every defense against a non-adaptive and an adaptive attacker."""
    x, y, _ = names.task_data(plan.model, n=plan.n, seed=plan.seed)
    base, robust = models[plan.model], models[robust_name]
    cases = [DefenseCase(NO_DEFENSE, base)]
    owners = [plan.model]
    for spec in plan.preprocessing:
        cases.append(DefenseCase(spec, base, names.preprocessing_stack(spec, seed=plan.seed)))
        owners.append(plan.model)
    cases.append(DefenseCase(ADVERSARIAL_TRAINING, robust))
    extra = names.preprocessing_stack(plan.robust_preprocessing, seed=plan.seed)
    cases.append(
        DefenseCase(f"{ADVERSARIAL_TRAINING} + {plan.robust_preprocessing}", robust, extra)
    )
    owners += [robust_name, robust_name]
    table = compare_defenses(
        cases,
        x,
        y,
        ThreatModel("linf", plan.eps_value),
        steps=plan.steps,
        eot_samples=plan.eot_samples,
        square_queries=plan.square_queries,
        seed=plan.seed,
    )
    return table, tuple(owners)


def _suite(plan: DefensesPlan, models: dict[str, nn.Module]) -> dict[str, RobustnessReport]:
    """Part 2: the full evaluation suite on the undefended and the adversarially trained model."""
    x, y, class_names = names.task_data(plan.model, n=plan.suite_n, seed=plan.seed + 1)
    threat = ThreatModel("linf", plan.eps_value)
    reports = {}
    for name, model in models.items():
        suite = default_suite(
            threat,
            num_classes=len(class_names),
            steps=plan.suite_steps,
            n_queries=plan.suite_queries,
            seed=plan.seed,
        )
        reports[name] = evaluate_robustness(model, x, y, threat, suite, seed=plan.seed)
    return reports


def _squeezing(plan: DefensesPlan, model: nn.Module) -> SqueezingReport:
    """Part 3: feature squeezing against naive attacks and one that knows the detector."""
    x, y, _ = names.task_data(plan.model, n=2 * plan.squeeze_n, seed=plan.seed + 2)
    detector = FeatureSqueezing(model, [names.preprocessing_defense(s) for s in plan.squeezers])
    x_cal, x_eval = x[: plan.squeeze_n], x[plan.squeeze_n :]
    return evaluate_feature_squeezing(
        detector,
        x_eval,
        y[plan.squeeze_n :],
        ThreatModel("linf", plan.squeeze_eps_value),
        x_calibration=x_cal,
        steps=plan.steps,
        cw_iterations=plan.cw_iterations,
        seed=plan.seed,
    )


def _physical(
    plan: DefensesPlan, models: dict[str, nn.Module], robust_name: str
) -> dict[str, physical_experiment.PhysicalResult]:
    """Part 5: RP2 stickers against each victim, on held-out physical conditions."""
    labels = (NO_DEFENSE, ADVERSARIAL_TRAINING, plan.physical_defense)
    results = {}
    for label, (name, defense) in zip(labels, plan.physical_victims(robust_name), strict=True):
        results[label] = physical_experiment.run_on_model(
            models[name], plan.physical_plan(name, defense)
        )
    return results


def run(plan: DefensesPlan, *, progress: bool = False) -> DefensesResult:
    """Run the defenses study (see the module docstring).

    Args:
        plan: the sizes and settings (checked when the plan was built).
        progress: show a progress bar while a model trains.

    Returns:
        A :class:`DefensesResult`; its ``rows()`` are the defense table.
    """
    if not isinstance(plan, DefensesPlan):
        raise TypeError(f"plan must be a DefensesPlan, got {type(plan).__name__}")
    began = time.perf_counter()
    robust_name, robust = _robust_model(plan, progress)
    models = {plan.model: names.zoo_model(plan.model), robust_name: robust}
    table, owners = _defense_table(plan, models, robust_name)
    suite = _suite(plan, models)
    squeezing = _squeezing(plan, models[plan.model])
    smoothing = tuple(certify.run(item) for item in plan.certify_plans())
    physical = _physical(plan, models, robust_name) if plan.physical else {}
    return DefensesResult(
        plan=plan,
        robust_model=robust_name,
        table=table,
        table_models=owners,
        suite=suite,
        squeezing=squeezing,
        smoothing=smoothing,
        physical=physical,
        time_s=time.perf_counter() - began,
    )
