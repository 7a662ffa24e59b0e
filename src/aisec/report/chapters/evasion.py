"""Tour chapter "evasion": digital evasion attacks and the worst-case robustness evaluation.

The experiment is :func:`aisec.experiments.robustness.run`: on the signs CNN (``digits-cnn`` in
quick mode) FGSM, PGD, APGD-CE and Square in L∞ and PGD, APGD-CE and C&W in L2 over a few
budgets, the :func:`~aisec.evaluate.evaluate_robustness` default suite with its sanity checks at
one budget, and a few PGD steps on EfficientNet-Lite0 and the bundled ImageNet photos. This
chapter picks the plan and presents the result: tables from its rows, the robust-accuracy
curves and the adversarial-example grids. Budgets are reduced from the published defaults
(stated in each row) so that the whole tour runs on a laptop's CPU.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from aisec.experiments import robustness
from aisec.experiments.robustness import RobustnessPlan, RobustnessResult, eps_text
from aisec.report.figures import save_figure
from aisec.report.grid import save_attack_grid
from aisec.report.tour import ChapterContext, ChapterResult, Figure, Table
from aisec.threat import ThreatModel

__all__ = ["FULL", "QUICK", "plan_for", "render", "run_evasion", "run_with_plan"]

KEY = "evasion"

FULL = RobustnessPlan(
    model="signs-cnn",
    n=64,
    linf_eps=(1 / 255, 2 / 255, 4 / 255, 8 / 255),
    l2_eps=(0.1, 0.25, 0.5),
    suite_eps=4 / 255,
    pgd_steps=20,
    apgd_steps=50,
    square_queries=500,
    cw_search_steps=5,
    cw_iterations=50,
    imagenet_photos=7,
    imagenet_eps=1 / 255,
    imagenet_steps=5,
)
"""The tour's plan."""

QUICK = RobustnessPlan(
    model="digits-cnn",
    n=32,
    linf_eps=(8 / 255, 16 / 255, 32 / 255),
    l2_eps=(0.25, 0.5, 1.0),
    suite_eps=32 / 255,
    pgd_steps=10,
    apgd_steps=20,
    square_queries=200,
    cw_search_steps=4,
    cw_iterations=30,
    imagenet_photos=2,
    imagenet_eps=1 / 255,
    imagenet_steps=1,
)
"""The quick tour's plan (CI)."""


def plan_for(context: ChapterContext) -> RobustnessPlan:
    """:data:`QUICK` or :data:`FULL`, with the context's seed."""
    return dataclasses.replace(QUICK if context.quick else FULL, seed=context.seed)


def _plot_curves(result: RobustnessResult, path: Path) -> None:
    """Robust accuracy against eps, one panel per norm, one line per attack."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure as MplFigure

    curves = result.curves()
    clean = result.clean_accuracy
    figure = MplFigure(figsize=(10, 3.8))
    FigureCanvasAgg(figure)
    axes = figure.subplots(1, len(curves), squeeze=False)[0]
    for axis, (norm, lines) in zip(axes, curves.items(), strict=True):
        scale = 255.0 if norm == "linf" else 1.0
        for name, points in lines.items():
            xs = [0.0] + [eps * scale for eps, _ in points]
            ys = [clean] + [acc for _, acc in points]
            style = "k--" if name.startswith("worst") else "-o"
            axis.plot(xs, ys, style, label=name, markersize=4)
        axis.set_xlabel("ε (×1/255)" if norm == "linf" else "ε (L2)")
        axis.set_ylabel("accuracy")
        axis.set_ylim(-0.02, 1.02)
        axis.set_title(f"{result.plan.model}: {'L∞' if norm == 'linf' else 'L2'}")
        axis.grid(alpha=0.3)
        axis.legend(fontsize=7)
    save_figure(figure, path, dpi=100)


def _summary(plan: RobustnessPlan) -> str:
    return (
        f"Digital evasion attacks on {plan.model} ({plan.n} held-out test images): "
        "FGSM, PGD, APGD-CE and the black-box Square attack under L∞, PGD, APGD-CE and "
        "Carlini–Wagner under L2, at several budgets; then the worst case per example "
        "under evaluate_robustness's default suite (APGD-CE, APGD-T, Square with the "
        "published budgets), with its sanity checks; and a few PGD steps on "
        "EfficientNet-Lite0 and real photos. The model is undefended, so small budgets "
        "already break it."
    )


def render(result: RobustnessResult, context: ChapterContext) -> ChapterResult:
    """The chapter's summary, numbers, tables and figures from the study's result."""
    plan = result.plan
    chapter = ChapterResult(summary=_summary(plan), numbers=result.to_dict())
    chapter.numbers["n"] = plan.n  # the sample size of every rate of the sweep
    chapter.tables.append(
        Table(
            f"Attacks on {plan.model} ({plan.n} test images). Success rate: the fraction of "
            "correctly classified images that the attack flips. Norms are of x_adv − x; time "
            "and model calls (batched forward and backward passes) for the whole set. C&W runs "
            "once at the largest L2 budget (its solutions are projected onto that ball); its "
            "curve in the figure comes from its unprojected minimum norms.",
            result.rows(),
        )
    )
    suite_threat = ThreatModel("linf", plan.suite_eps)
    chapter.tables.append(
        Table(
            f"evaluate_robustness's default suite on {plan.model} at L∞ ε = "
            f"{eps_text(suite_threat)}: each attack runs only on the points every earlier "
            f"attack failed on; accuracy after is the worst case per example so far.",
            result.suite_rows(),
        )
    )
    chapter.tables.append(
        Table(
            "Sanity warnings of the evaluation (an empty list: no sign of gradient masking, "
            "probability outputs or randomness).",
            result.warning_rows(),
        )
    )

    path, relative = context.figure_path(KEY, "robust-accuracy.png")
    _plot_curves(result, path)
    chapter.figures.append(
        Figure(
            relative,
            "Robust accuracy against the budget ε (ε = 0 is the clean accuracy); the dashed "
            "point is the worst case under the default suite.",
        )
    )
    grid = result.grid
    if grid is not None:
        path, relative = context.figure_path(KEY, "signs-grid.png")
        save_attack_grid(
            result.x,
            grid.x_adv,
            grid.y,
            grid.clean_pred,
            grid.adv_pred,
            path,
            class_names=result.class_names,
            title=f"PGD on {plan.model}, L∞ ε = {eps_text(grid.threat)}",
        )
        chapter.figures.append(
            Figure(
                relative,
                "PGD adversarial examples: clean images, adversarial images (red: the "
                "prediction flipped) and the perturbation, amplified.",
            )
        )

    demo = result.imagenet
    if demo is not None:
        outcome = demo.result
        chapter.tables.append(
            Table(
                f"EfficientNet-Lite0 on the bundled photos under PGD (L∞ ε = "
                f"{eps_text(outcome.threat)}, {demo.steps} steps): the top-1 class before and "
                f"after the attack.",
                demo.rows(),
            )
        )
        path, relative = context.figure_path(KEY, "imagenet-grid.png")
        save_attack_grid(
            demo.x,
            outcome.x_adv,
            outcome.y,
            outcome.clean_pred,
            outcome.adv_pred,
            path,
            class_names=demo.class_names,
            title=f"PGD on EfficientNet-Lite0, L∞ ε = {eps_text(outcome.threat)}",
        )
        chapter.figures.append(
            Figure(relative, "EfficientNet-Lite0: real photos and imperceptible PGD perturbations.")
        )
    return chapter


def run_with_plan(plan: RobustnessPlan, context: ChapterContext) -> ChapterResult:
    """Run the study with ``plan`` and render it (tests pass a tiny plan)."""
    return render(robustness.run(plan), context)


def run_evasion(context: ChapterContext) -> ChapterResult:
    """Attack the signs CNN (digits in quick mode) and EfficientNet-Lite0; evaluate worst case."""
    return run_with_plan(plan_for(context), context)
