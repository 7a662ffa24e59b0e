"""Tour chapter "defenses": which vision defenses hold under an adaptive attacker.

The chapter runs :func:`aisec.experiments.defenses.run` with the plan of its mode and presents
the result:

1. The defense table: no defense, each preprocessing defense, adversarial training and
   adversarial training + JPEG, each with its clean accuracy, the accuracy under a
   *non-adaptive* attack (PGD on the bare model, transferred through the defense — what a naive
   evaluation reports) and under the *adaptive* attacks (APGD-CE, APGD-T and Square through BPDA
   for non-differentiable steps and EOT for randomized ones).
2. The full evaluation suite (APGD-CE, APGD-T and Square at AutoAttack's budgets) on the
   undefended and the adversarially trained model.
3. Feature squeezing (Xu et al., 2018): ROC AUC against PGD and C&W, and what is left of it
   against an attack that knows the detector.
4. Randomized smoothing (Cohen et al., 2019): certified accuracy against L2 radius.
5. The physical attack against defenses: RP2 stickers optimised against the adversarially
   trained model and against the JPEG-defended model (through BPDA), on the same held-out
   conditions as the physical chapter.

Quick mode runs parts 1-4 on the digits models (with a small adversarially trained digits
variant, trained by the experiment) and leaves out part 5, which needs the signs models.
"""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

from aisec.evaluate import DefenseTable
from aisec.experiments import defenses
from aisec.experiments.defenses import DefensesPlan, DefensesResult
from aisec.report.figures import plot_certified_accuracy, save_figure
from aisec.report.tour import ChapterContext, ChapterResult, Figure, Table

__all__ = ["FULL", "QUICK", "plan_for", "render", "run_defenses", "run_with_plan"]

KEY = "defenses"

AT_TARGET_MODEL = "signs-cnn-at"
"""The adversarially trained model the chapter's targets are about."""
AT_TARGET_EPS = 8 / 255
MIN_AT_ROBUST_ACCURACY = 0.40
"""Target: robust accuracy of :data:`AT_TARGET_MODEL` under the suite at L∞ 8/255."""
MIN_AT_CLEAN_ACCURACY = 0.80
"""Target: its clean accuracy on the same points."""

FULL = DefensesPlan(
    model="signs-cnn",
    robust_model="signs-cnn-at",
    eps="8/255",
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
    squeeze_eps="8/255",
    cw_iterations=50,
    smoothing_models=("digits-cnn-noise",),
    sigma=0.25,
    smoothing_points=100,
    smoothing_n=500,
    physical=True,
    physical_steps=100,
    physical_conditions=100,
)
"""The full tour's plan (signs models; the seed is the tour's)."""

QUICK = DefensesPlan(
    model="digits-cnn",
    robust_model=None,
    robust_training_steps=3,
    eps=0.1,
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
)
"""The quick tour's plan (digits models, a small PGD-trained variant, no physical part)."""

SUSPECT_GAIN = 0.02
"""A preprocessing defense whose adaptive accuracy exceeds the same model's without it by more
than this is flagged: BPDA's identity gradient (or EOT's average) is an approximation, so its
number is an upper bound, not evidence of added robustness."""

CERTIFIED_RADII = (0.25, 0.5)
"""The L2 radii at which the chapter quotes certified accuracy."""

_SUMMARY = (
    "Which vision defenses hold? Preprocessing (JPEG, bit depth, median, blur, random "
    "resize-and-pad) looks strong against an attacker who ignores it and collapses "
    "against an adaptive one (BPDA, EOT); adversarial training keeps part of its "
    "accuracy under the full evaluation suite; feature squeezing detects naive attacks "
    "but not one that knows the detector; randomized smoothing gives certificates "
    "instead of estimates."
)


def plan_for(context: ChapterContext) -> DefensesPlan:
    """The plan of the context's mode, with the tour's seed."""
    return replace(QUICK if context.quick else FULL, seed=context.seed)


def run_defenses(context: ChapterContext) -> ChapterResult:
    """Run the defenses chapter (see the module docstring)."""
    return run_with_plan(plan_for(context), context)


def run_with_plan(plan: DefensesPlan, context: ChapterContext) -> ChapterResult:
    """Run the experiment of ``plan`` and render it (tests pass a tiny plan)."""
    return render(defenses.run(plan, progress=context.progress), context)


def render(result: DefensesResult, context: ChapterContext) -> ChapterResult:
    """The chapter's summary, numbers, tables and figures from the experiment's result."""
    plan = result.plan
    chapter = ChapterResult(summary=_SUMMARY)
    chapter.numbers["settings"] = {
        "model": plan.model,
        "adversarially_trained_model": result.robust_model,
        "eps": plan.eps_value,
        "n": plan.n,
        "steps": plan.steps,
        "eot_samples": plan.eot_samples,
        "square_queries": plan.square_queries,
    }
    _render_table(result, context, chapter)
    _render_suite(result, chapter)
    _render_squeezing(result, chapter)
    if result.smoothing:
        _render_smoothing(result, context, chapter)
    if result.physical:
        _render_physical(result, chapter)
    return chapter


def _render_table(result: DefensesResult, context: ChapterContext, chapter: ChapterResult) -> None:
    plan, table = result.plan, result.table
    chapter.tables.append(
        Table(
            f"Defenses on {plan.model} ({table.n} test images), L∞ ε = {plan.eps_text}: clean "
            "accuracy, accuracy under PGD computed on the bare model and transferred through the "
            f"defense, and under adaptive attacks ({plan.steps} APGD steps, Square "
            f"{plan.square_queries} queries; BPDA through non-differentiable steps, EOT over "
            f"{plan.eot_samples} draws for randomized ones), worst case per example. Adversarial "
            f"training: {result.robust_model}.",
            result.rows(),
        )
    )
    path, relative = context.figure_path(KEY, "defense-table.png")
    _plot_table(table, path, plan.eps_text)
    chapter.figures.append(
        Figure(relative, "Each defense against a naive and an adaptive attacker.")
    )
    notes = _suspect_rows(result)
    chapter.numbers["table_notes"] = notes
    if notes:
        chapter.summary += " Caution: " + " ".join(notes)
    for row in table.rows:
        chapter.numbers[f"table.{row.name}.clean_accuracy"] = row.clean_accuracy
        chapter.numbers[f"table.{row.name}.non_adaptive_accuracy"] = row.non_adaptive_accuracy
        chapter.numbers[f"table.{row.name}.adaptive_accuracy"] = row.adaptive_accuracy
    chapter.numbers["table"] = table.to_dict()


def _suspect_rows(result: DefensesResult) -> list[str]:
    """A note for each preprocessing row whose adaptive accuracy beats the same bare model's."""
    pairs = list(zip(result.table_models, result.table.rows, strict=True))
    bare = {model: row for model, row in pairs if not row.defenses}
    notes = []
    for model, row in pairs:
        reference = bare.get(model)
        if (
            row.defenses
            and reference is not None
            and row.adaptive_accuracy > reference.adaptive_accuracy + SUSPECT_GAIN
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
    return notes


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


def _render_suite(result: DefensesResult, chapter: ChapterResult) -> None:
    plan = result.plan
    for name, report in result.suite.items():
        key = "undefended" if name == plan.model else "adversarially_trained"
        chapter.numbers[f"suite.{key}.clean_accuracy"] = report.clean_accuracy
        chapter.numbers[f"suite.{key}.robust_accuracy"] = report.robust_accuracy
    undefended = chapter.numbers["suite.undefended.robust_accuracy"]
    trained = chapter.numbers["suite.adversarially_trained.robust_accuracy"]
    chapter.numbers["suite.gain_points"] = 100.0 * (trained - undefended)
    points = next(iter(result.suite.values())).n
    chapter.numbers["suite.n"] = points
    if result.robust_model == AT_TARGET_MODEL and math.isclose(plan.eps_value, AT_TARGET_EPS):
        clean = chapter.numbers["suite.adversarially_trained.clean_accuracy"]
        checks = (
            ("robust accuracy under the suite", trained, MIN_AT_ROBUST_ACCURACY),
            ("clean accuracy", clean, MIN_AT_CLEAN_ACCURACY),
        )
        chapter.targets_checked += len(checks)
        chapter.targets_not_reached.extend(
            f"{AT_TARGET_MODEL} {what} >= {bound:.0%} at L∞ {plan.eps_text}: measured "
            f"{value:.1%} of {points}"
            for what, value, bound in checks
            if value < bound
        )
    chapter.tables.append(
        Table(
            f"The evaluation suite (APGD-CE and APGD-T with {plan.suite_steps} steps, Square "
            f"with {plan.suite_queries} queries; each point robust only if every attack fails) "
            f"at L∞ ε = {plan.eps_text} on {points} other test images.",
            result.suite_rows(),
        )
    )


def _render_squeezing(result: DefensesResult, chapter: ChapterResult) -> None:
    plan, report = result.plan, result.squeezing
    for outcome in report.outcomes:
        key = "adaptive" if outcome.adaptive else outcome.attack.split()[0].lower()
        chapter.numbers[f"squeezing.{key}.auc"] = outcome.auc
        chapter.numbers[f"squeezing.{key}.detection_rate"] = outcome.detection_rate
        chapter.numbers[f"squeezing.{key}.fool_and_evade"] = outcome.fool_and_evade
        chapter.numbers[f"squeezing.{key}.attacked"] = outcome.attacked  # fool_and_evade's n
        chapter.numbers[f"squeezing.{key}.fooled"] = outcome.fooled  # detection_rate's n
    chapter.numbers["squeezing.clean_fpr"] = report.clean_fpr
    chapter.tables.append(
        Table(
            f"Feature squeezing ({', '.join(report.squeezers)}) on {plan.model}: the threshold "
            f"flags {report.target_fpr:.0%} of clean calibration images; L∞ ε = "
            f"{plan.squeeze_eps_value:.3g} for PGD and the detector-aware attack, C&W-L2 "
            "unbounded.",
            result.squeezing_rows(),
        )
    )


def _render_smoothing(
    result: DefensesResult, context: ChapterContext, chapter: ChapterResult
) -> None:
    plan = result.plan
    curves = {}
    for item in result.smoothing:
        name, curve = item.evaluation.name, item.curve
        curves[f"{name}, σ = {plan.sigma:g}"] = curve
        chapter.numbers[f"smoothing.{name}.certified_r0"] = curve.clean_accuracy
        for radius in CERTIFIED_RADII:
            suffix = f"r{radius:g}".replace(".", "")  # 0.25 -> r025
            chapter.numbers[f"smoothing.{name}.certified_{suffix}"] = curve.certified_accuracy_at(
                radius
            ).value
        chapter.numbers[f"smoothing.{name}.abstain_rate"] = curve.abstain_rate
        chapter.numbers[f"smoothing.{name}.curve"] = curve.to_dict()
    path, relative = context.figure_path(KEY, "certified-accuracy.png")
    plot_certified_accuracy(curves, path, title="Randomized smoothing: certified accuracy")
    chapter.figures.append(
        Figure(
            relative,
            "Certified accuracy against L2 radius: the fraction of test images whose smoothed "
            "prediction is correct and provably constant within the radius (probability at "
            f"least 1 − α = {1 - plan.smoothing_alpha:g} per point).",
        )
    )
    chapter.tables.append(
        Table(
            f"Randomized smoothing (σ = {plan.sigma:g}, n0 = {plan.smoothing_n0}, n = "
            f"{plan.smoothing_n}, α = {plan.smoothing_alpha:g}): certified accuracy at L2 radii.",
            result.smoothing_rows(CERTIFIED_RADII),
        )
    )


def _render_physical(result: DefensesResult, chapter: ChapterResult) -> None:
    plan = result.plan
    for name, physical in result.physical.items():
        metrics = physical.metrics()
        chapter.numbers["physical.n_conditions"] = metrics["n_conditions"]
        slug = name.replace(" ", "_").replace(":", "")
        for variant in ("clean", "rp2", "control"):
            for field in ("targeted_success", "source_accuracy"):
                chapter.numbers[f"physical.{slug}.{variant}.{field}"] = metrics[variant][field]
    chapter.tables.append(
        Table(
            f"RP2 stickers (stop -> speed limit 30, {plan.physical_steps} steps) optimised against "
            f"each victim ({result.robust_model} for adversarial training; through BPDA for "
            f"{plan.physical_defense}), on {plan.physical_conditions} held-out physical "
            "conditions.",
            result.physical_rows(),
        )
    )
