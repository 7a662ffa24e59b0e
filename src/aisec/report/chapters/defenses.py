"""Tour chapter "defenses": which vision defenses hold under an adaptive attacker.

1. The defense table (:func:`~aisec.evaluate.compare_defenses`): no defense, each preprocessing
   defense, adversarial training and adversarial training + JPEG, each with its clean accuracy,
   the accuracy under a *non-adaptive* attack (PGD on the bare model, transferred through the
   defense — what a naive evaluation reports) and under the *adaptive* attacks (APGD-CE, APGD-T
   and Square through BPDA for non-differentiable steps and EOT for randomized ones).
2. The full evaluation suite (:func:`~aisec.evaluate.evaluate_robustness`: APGD-CE, APGD-T and
   Square at AutoAttack's budgets) on the undefended and the adversarially trained model.
3. Feature squeezing (Xu et al., 2018): ROC AUC against PGD and C&W, and what is left of it
   against an attack that knows the detector.
4. Randomized smoothing (Cohen et al., 2019): certified accuracy against L2 radius.
5. The physical attack against defenses: RP2 stickers optimised against the adversarially
   trained model and against the JPEG-defended model (through BPDA), on the same held-out
   conditions as the physical chapter.

Quick mode runs parts 1-4 on the digits models (with a small adversarially trained digits
variant) and leaves out part 5, which needs the signs models.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import nn

from aisec.defenses.certify import evaluate_smoothing, plot_certified_accuracy
from aisec.defenses.detect import FeatureSqueezing
from aisec.defenses.preprocess import PreprocessedModel, parse_defense
from aisec.evaluate import (
    DefenseCase,
    DefenseTable,
    compare_defenses,
    default_suite,
    evaluate_feature_squeezing,
    evaluate_robustness,
    load_task,
)
from aisec.models import load as load_model
from aisec.report.figures import save_figure
from aisec.report.tour import ChapterContext, ChapterResult, Figure, Table
from aisec.threat import ThreatModel

__all__ = ["run_defenses"]

KEY = "defenses"


@dataclass(frozen=True)
class _Plan:
    """Sizes of one run of the chapter (full or quick)."""

    model: str
    robust_model: str | None  # a zoo entry; None: train a small variant (quick mode)
    eps: float
    eps_text: str
    n: int
    preprocessing: tuple[str, ...]
    steps: int
    eot_samples: int
    square_queries: int
    suite_n: int
    suite_steps: int
    suite_queries: int
    squeezers: tuple[str, ...]
    squeeze_n: int
    squeeze_eps: float
    cw_iterations: int
    smoothing_models: tuple[str, ...]
    sigma: float
    smoothing_points: int
    smoothing_n: int
    physical: bool
    physical_steps: int
    physical_conditions: int


_FULL = _Plan(
    model="signs-cnn",
    robust_model="signs-cnn-at",
    eps=8 / 255,
    eps_text="8/255",
    n=50,
    preprocessing=("jpeg:75", "bits:4", "median:3", "blur:3:1.0", "resize-pad:0.8"),
    steps=50,
    eot_samples=4,
    square_queries=1000,
    suite_n=50,
    suite_steps=100,
    suite_queries=5000,
    squeezers=("bits:4", "median:2"),
    squeeze_n=64,
    squeeze_eps=8 / 255,
    cw_iterations=50,
    smoothing_models=("digits-cnn-noise",),
    sigma=0.25,
    smoothing_points=100,
    smoothing_n=500,
    physical=True,
    physical_steps=100,
    physical_conditions=100,
)
_QUICK = _Plan(
    model="digits-cnn",
    robust_model=None,
    eps=0.1,
    eps_text="0.1",
    n=32,
    preprocessing=("jpeg:75", "bits:2", "resize-pad:0.8"),
    steps=10,
    eot_samples=2,
    square_queries=100,
    suite_n=32,
    suite_steps=20,
    suite_queries=200,
    squeezers=("bits:2",),
    squeeze_n=32,
    squeeze_eps=0.2,
    cw_iterations=20,
    smoothing_models=("digits-cnn-noise",),
    sigma=0.25,
    smoothing_points=32,
    smoothing_n=200,
    physical=False,
    physical_steps=0,
    physical_conditions=0,
)


def _robust_model(plan: _Plan, progress: bool) -> tuple[str, nn.Module]:
    """The adversarially trained model: the zoo's entry, or a small digits variant (quick)."""
    if plan.robust_model is not None:
        return plan.robust_model, load_model(plan.robust_model, progress=progress)
    from aisec.defenses.training import train_variant

    variant = train_variant(plan.model, "pgd", eps=plan.eps, steps=3, progress=progress)
    return variant.name, variant.model.eval()


def _table_rows(table: DefenseTable) -> list[dict[str, Any]]:
    return [
        {
            "defense": row.name,
            "gradient": ("EOT" if row.randomized else ("exact" if row.differentiable else "BPDA")),
            "clean accuracy": row.clean_accuracy,
            "non-adaptive (transferred PGD)": row.non_adaptive_accuracy,
            "adaptive (APGD-CE, APGD-T, Square)": row.adaptive_accuracy,
        }
        for row in table.rows
    ]


def _plot_table(table: DefenseTable, path: Path, eps_text: str) -> None:
    """Grouped bars: clean, non-adaptive and adaptive accuracy per defense."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure as MplFigure

    names = [row.name for row in table.rows]
    series = {
        "clean": [row.clean_accuracy for row in table.rows],
        "non-adaptive": [row.non_adaptive_accuracy for row in table.rows],
        "adaptive": [row.adaptive_accuracy for row in table.rows],
    }
    figure = MplFigure(figsize=(max(6.0, 1.2 * len(names)), 3.8))
    FigureCanvasAgg(figure)
    axis = figure.subplots()
    width = 0.27
    for k, (label, values) in enumerate(series.items()):
        xs = [i + (k - 1) * width for i in range(len(names))]
        axis.bar(xs, [100 * v for v in values], width, label=label)
    axis.set_xticks(range(len(names)))
    axis.set_xticklabels(names, rotation=20, ha="right", fontsize=8)
    axis.set_ylabel("accuracy (%)")
    axis.set_ylim(0, 100)
    axis.set_title(f"L∞ ε = {eps_text}: what a naive and an adaptive attacker see")
    axis.legend(fontsize=8)
    save_figure(figure, path)


def _defense_table(
    plan: _Plan, context: ChapterContext, result: ChapterResult, models: dict[str, nn.Module]
) -> None:
    task = load_task(plan.model, n=plan.n, seed=context.seed)
    threat = ThreatModel("linf", plan.eps)
    base, robust_name = models[plan.model], next(k for k in models if k != plan.model)
    robust = models[robust_name]
    cases = [DefenseCase("no defense", base)]
    for spec in plan.preprocessing:
        cases.append(DefenseCase(spec, base, (parse_defense(spec, seed=context.seed),)))
    cases.append(DefenseCase("adversarial training", robust))
    jpeg = parse_defense("jpeg:75", seed=context.seed)
    cases.append(DefenseCase("adversarial training + jpeg:75", robust, (jpeg,)))
    table = compare_defenses(
        cases,
        task.x,
        task.y,
        threat,
        steps=plan.steps,
        eot_samples=plan.eot_samples,
        square_queries=plan.square_queries,
        seed=context.seed,
    )
    result.tables.append(
        Table(
            f"Defenses on {plan.model} ({table.n} test images), L∞ ε = {plan.eps_text}: clean "
            "accuracy, accuracy under PGD computed on the bare model and transferred through the "
            f"defense, and under adaptive attacks ({plan.steps} APGD steps, Square "
            f"{plan.square_queries} queries; BPDA through non-differentiable steps, EOT over "
            f"{plan.eot_samples} draws for randomized ones), worst case per example. Adversarial "
            f"training: {robust_name}.",
            _table_rows(table),
        )
    )
    path, relative = context.figure_path(KEY, "defense-table.png")
    _plot_table(table, path, plan.eps_text)
    result.figures.append(
        Figure(relative, "Each defense against a naive and an adaptive attacker.")
    )
    # A preprocessing step that "adds" adaptive robustness to the same model is suspect: BPDA's
    # identity gradient is an approximation, so the number is an upper bound, and we say so.
    pairs = list(zip(cases, table.rows, strict=True))
    bare = {id(case.model): row for case, row in pairs if not case.preprocessors}
    notes = []
    for case, row in pairs:
        reference = bare.get(id(case.model))
        if (
            case.preprocessors
            and reference is not None
            and row.adaptive_accuracy > reference.adaptive_accuracy + 0.02
        ):
            gradient = (
                "EOT's averaged gradient"
                if row.randomized
                else ("BPDA's identity gradient" if not row.differentiable else "its gradient")
            )
            notes.append(
                f"{row.name}: adaptive accuracy {row.adaptive_accuracy:.1%} is above the same "
                f"model without preprocessing ({reference.adaptive_accuracy:.1%}); attacked "
                f"through {gradient}, this is an upper bound, not evidence that the "
                "preprocessing adds robustness."
            )
    result.numbers["table_notes"] = notes
    if notes:
        result.summary += " Caution: " + " ".join(notes)
    for row in table.rows:
        result.numbers[f"table.{row.name}.clean_accuracy"] = row.clean_accuracy
        result.numbers[f"table.{row.name}.non_adaptive_accuracy"] = row.non_adaptive_accuracy
        result.numbers[f"table.{row.name}.adaptive_accuracy"] = row.adaptive_accuracy
    result.numbers["table"] = table.to_dict()


def _full_suite(
    plan: _Plan, context: ChapterContext, result: ChapterResult, models: dict[str, nn.Module]
) -> None:
    task = load_task(plan.model, n=plan.suite_n, seed=context.seed + 1)
    threat = ThreatModel("linf", plan.eps)
    rows = []
    for name, model in models.items():
        suite = default_suite(
            threat,
            num_classes=len(task.class_names),
            steps=plan.suite_steps,
            n_queries=plan.suite_queries,
            seed=context.seed,
        )
        report = evaluate_robustness(model, task.x, task.y, threat, suite, seed=context.seed)
        rows.append(
            {
                "model": name,
                "points": report.n,
                "clean accuracy": report.clean_accuracy,
                "robust accuracy (worst case)": report.robust_accuracy,
                "time (s)": round(report.time_s, 1),
                "sanity warnings": len(report.warnings),
            }
        )
        key = "undefended" if name == plan.model else "adversarially_trained"
        result.numbers[f"suite.{key}.clean_accuracy"] = report.clean_accuracy
        result.numbers[f"suite.{key}.robust_accuracy"] = report.robust_accuracy
    undefended = result.numbers["suite.undefended.robust_accuracy"]
    trained = result.numbers["suite.adversarially_trained.robust_accuracy"]
    result.numbers["suite.gain_points"] = 100.0 * (trained - undefended)
    result.tables.append(
        Table(
            f"The evaluation suite (APGD-CE and APGD-T with {plan.suite_steps} steps, Square "
            f"with {plan.suite_queries} queries; each point robust only if every attack fails) "
            f"at L∞ ε = {plan.eps_text} on {task.x.shape[0]} other test images.",
            rows,
        )
    )


def _feature_squeezing(
    plan: _Plan, context: ChapterContext, result: ChapterResult, model: nn.Module
) -> None:
    task = load_task(plan.model, n=2 * plan.squeeze_n, seed=context.seed + 2)
    squeezers = [parse_defense(spec) for spec in plan.squeezers]
    detector = FeatureSqueezing(model, squeezers)
    x_cal, x_eval = task.x[: plan.squeeze_n], task.x[plan.squeeze_n :]
    report = evaluate_feature_squeezing(
        detector,
        x_eval,
        task.y[plan.squeeze_n :],
        ThreatModel("linf", plan.squeeze_eps),
        x_calibration=x_cal,
        steps=plan.steps,
        cw_iterations=plan.cw_iterations,
        seed=context.seed,
    )
    rows = []
    for outcome in report.outcomes:
        rows.append(
            {
                "attack": outcome.attack,
                "knows the detector": outcome.adaptive,
                "fooled / attacked": f"{outcome.fooled} / {outcome.attacked}",
                "ROC AUC": outcome.auc,
                "detection rate": outcome.detection_rate,
                "fools the model and evades": outcome.fool_and_evade,
            }
        )
        key = "adaptive" if outcome.adaptive else outcome.attack.split()[0].lower()
        result.numbers[f"squeezing.{key}.auc"] = outcome.auc
        result.numbers[f"squeezing.{key}.detection_rate"] = outcome.detection_rate
        result.numbers[f"squeezing.{key}.fool_and_evade"] = outcome.fool_and_evade
    result.numbers["squeezing.clean_fpr"] = report.clean_fpr
    result.tables.append(
        Table(
            f"Feature squeezing ({', '.join(report.squeezers)}) on {plan.model}: the threshold "
            f"flags {report.target_fpr:.0%} of clean calibration images; L∞ ε = "
            f"{plan.squeeze_eps:.3g} for PGD and the detector-aware attack, C&W-L2 unbounded.",
            rows,
        )
    )


def _smoothing(plan: _Plan, context: ChapterContext, result: ChapterResult) -> None:
    curves = {}
    rows = []
    for name in plan.smoothing_models:
        model = load_model(name, progress=context.progress)
        task = load_task(name, n=plan.smoothing_points, seed=context.seed + 3)
        evaluation = evaluate_smoothing(
            model,
            task.x,
            task.y,
            sigma=plan.sigma,
            n=plan.smoothing_n,
            seed=context.seed,
            name=name,
        )
        curve = evaluation.curve
        curves[f"{name}, σ = {plan.sigma:g}"] = curve
        at = {r: _certified_at(curve.radii, curve.certified_accuracy, r) for r in (0.25, 0.5)}
        rows.append(
            {
                "model": name,
                "points": curve.n_points,
                "base clean accuracy": evaluation.base_clean_accuracy,
                "certified at r = 0": curve.clean_accuracy,
                "certified at r = 0.25": at[0.25],
                "certified at r = 0.5": at[0.5],
                "abstain rate": curve.abstain_rate,
                "time (s)": round(evaluation.time_s, 1),
            }
        )
        result.numbers[f"smoothing.{name}.certified_r0"] = curve.clean_accuracy
        result.numbers[f"smoothing.{name}.certified_r025"] = at[0.25]
        result.numbers[f"smoothing.{name}.certified_r05"] = at[0.5]
        result.numbers[f"smoothing.{name}.abstain_rate"] = curve.abstain_rate
        result.numbers[f"smoothing.{name}.curve"] = curve.to_dict()
    path, relative = context.figure_path(KEY, "certified-accuracy.png")
    plot_certified_accuracy(curves, path, title="Randomized smoothing: certified accuracy")
    result.figures.append(
        Figure(
            relative,
            "Certified accuracy against L2 radius: the fraction of test images whose smoothed "
            "prediction is correct and provably constant within the radius (probability at "
            "least 1 − α = 0.999 per point).",
        )
    )
    result.tables.append(
        Table(
            f"Randomized smoothing (σ = {plan.sigma:g}, n0 = 100, n = {plan.smoothing_n}, "
            "α = 0.001): certified accuracy at L2 radii.",
            rows,
        )
    )


def _certified_at(radii: tuple[float, ...], accuracy: tuple[float, ...], radius: float) -> float:
    """Certified accuracy at ``radius``: the value at the first grid radius ``>= radius``
    (certified accuracy only falls with the radius, so this never over-states it)."""
    for r, a in zip(radii, accuracy, strict=True):
        if r >= radius:
            return a
    return 0.0


def _physical(
    plan: _Plan, context: ChapterContext, result: ChapterResult, models: dict[str, nn.Module]
) -> None:
    from aisec.attacks.physical.scenario import ScenarioConfig, run_scenario

    config = ScenarioConfig(
        steps=plan.physical_steps,
        n_conditions=plan.physical_conditions,
        seed=context.seed,
        eval_seed=context.seed + 1,
        dataset_check=False,
        signs_patch=False,
    )
    base, robust_name = models[plan.model], next(k for k in models if k != plan.model)
    jpeg = PreprocessedModel(base, parse_defense("jpeg:75")).with_bpda()
    victims: dict[str, nn.Module] = {
        "no defense": base,
        "adversarial training": models[robust_name],
        "jpeg:75": jpeg,
    }
    rows = []
    for name, victim in victims.items():
        metrics = run_scenario(victim, config).metrics()
        rows.append(
            {
                "victim": name,
                "clean sign read as stop": metrics["clean"]["source_accuracy"],
                "RP2 targeted success": metrics["rp2"]["targeted_success"],
                "control sticker targeted success": metrics["control"]["targeted_success"],
                "RP2 misclassification": metrics["rp2"]["misclassification"],
            }
        )
        slug = name.replace(" ", "_").replace(":", "")
        for variant in ("clean", "rp2", "control"):
            for field in ("targeted_success", "source_accuracy"):
                result.numbers[f"physical.{slug}.{variant}.{field}"] = metrics[variant][field]
    result.tables.append(
        Table(
            f"RP2 stickers (stop -> speed limit 30, {plan.physical_steps} steps) optimised against "
            f"each victim ({robust_name} for adversarial training; through BPDA for jpeg:75), on "
            f"{plan.physical_conditions} held-out physical conditions.",
            rows,
        )
    )


def run_defenses(context: ChapterContext) -> ChapterResult:
    """Run the defenses chapter (see the module docstring)."""
    plan = _QUICK if context.quick else _FULL
    result = ChapterResult(
        summary=(
            "Which vision defenses hold? Preprocessing (JPEG, bit depth, median, blur, random "
            "resize-and-pad) looks strong against an attacker who ignores it and collapses "
            "against an adaptive one (BPDA, EOT); adversarial training keeps part of its "
            "accuracy under the full evaluation suite; feature squeezing detects naive attacks "
            "but not one that knows the detector; randomized smoothing gives certificates "
            "instead of estimates."
        )
    )
    robust_name, robust = _robust_model(plan, context.progress)
    models = {plan.model: load_model(plan.model, progress=context.progress), robust_name: robust}
    result.numbers["settings"] = {
        "model": plan.model,
        "adversarially_trained_model": robust_name,
        "eps": plan.eps,
        "n": plan.n,
        "steps": plan.steps,
        "eot_samples": plan.eot_samples,
        "square_queries": plan.square_queries,
    }
    _defense_table(plan, context, result, models)
    _full_suite(plan, context, result, models)
    _feature_squeezing(plan, context, result, models[plan.model])
    _smoothing(plan, context, result)
    if plan.physical:
        _physical(plan, context, result, models)
    return result
