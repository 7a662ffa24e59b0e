"""Tour chapter "physical": stickers that make the signs model read a stop sign as "speed limit
30", and a universal patch — measured on held-out physical conditions, with a control sticker.

The chapter picks a plan (:data:`FULL`, or :data:`QUICK` in quick mode), runs
:func:`aisec.experiments.physical.run` and renders the result: the files and figures of
:func:`aisec.report.physical.write_physical_outputs`, the tables and the numbers, checked
against the tutorial's targets (:data:`aisec.report.physical.TARGETS`: RP2 read as the target in
at least 80% of the held-out conditions, the control sticker in at most 5%, the clean sign read
as "stop" in at least 95%).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from aisec.experiments import physical
from aisec.experiments.physical import QUICK_SIGNS_MODEL, PhysicalPlan, PhysicalResult
from aisec.report.physical import TARGETS, check_targets, unmet_targets, write_physical_outputs
from aisec.report.tour import ChapterContext, ChapterResult, Figure, Table

__all__ = ["FULL", "QUICK", "plan_for", "render", "run_physical", "run_with_plan"]

KEY = "physical"

FULL = PhysicalPlan(compare_masks=("thin-bars",))
"""The tour's plan: the zoo's ``signs-cnn``, 300 RP2 steps of 32 views, 200 held-out conditions,
the dataset-renderer check, the signs patch and the thin-bars comparison (seeds from the
context)."""

QUICK = PhysicalPlan(
    model=QUICK_SIGNS_MODEL, steps=100, batch_size=16, dataset_check=False, signs_patch=False
)
"""Quick mode: :data:`~aisec.experiments.physical.QUICK_SIGNS_MODEL` (a small model trained on
the fly), 100 RP2 steps of 16 views, no cross-checks."""


def plan_for(context: ChapterContext) -> PhysicalPlan:
    """:data:`QUICK` or :data:`FULL`, with the context's seed (held-out conditions: seed + 1)."""
    plan = QUICK if context.quick else FULL
    return dataclasses.replace(plan, seed=context.seed, eval_seed=context.seed + 1)


def run_physical(context: ChapterContext) -> ChapterResult:
    """Run the stop-sign experiment and report held-out success rates with figures."""
    return run_with_plan(plan_for(context), context)


def run_with_plan(plan: PhysicalPlan, context: ChapterContext) -> ChapterResult:
    """Run the chapter with ``plan`` (a test passes a tiny one) and render it."""
    return render(physical.run(plan), context)


def _model_name(plan: PhysicalPlan) -> str:
    if plan.model == QUICK_SIGNS_MODEL:
        return "a small CNN trained in seconds (quick mode)"
    return f"the zoo's {plan.model}"


def _sticker_sizes(result: PhysicalResult) -> Table:
    """Held-out targeted success of the plan's mask next to each compared mask."""
    rows = [
        {
            "sticker": result.plan.mask,
            "share of the sign": result.rp2.sticker_area,
            "RP2 read as target": result.evaluation["rp2"].targeted_rate,
            "control read as target": result.evaluation["control"].targeted_rate,
        }
    ]
    for comparison in result.mask_comparisons:
        rows.append(
            {
                "sticker": comparison.mask,
                "share of the sign": comparison.rp2.sticker_area,
                "RP2 read as target": comparison.evaluation["rp2"].targeted_rate,
                "control read as target": comparison.evaluation["control"].targeted_rate,
            }
        )
    others = " and ".join(c.mask for c in result.mask_comparisons)
    return Table(
        f"Sticker size: the {result.plan.mask} sticker against {others} (thin-bars: the paper's "
        "proportions), with the same optimisation and the same held-out conditions.",
        rows,
    )


def _rate(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1%}"


def render(result: PhysicalResult, context: ChapterContext) -> ChapterResult:
    """The chapter of a physical result: files, figures, tables, numbers and summary."""
    plan = result.plan
    out = context.out_dir / "figures" / KEY
    paths = write_physical_outputs(result, out)

    def relative(role: str) -> str:
        return str(paths[role].relative_to(context.out_dir))

    chapter = ChapterResult()
    metrics = result.metrics()
    targets = check_targets(metrics, TARGETS)
    chapter.numbers = {
        "n_conditions": metrics["n_conditions"],
        "sticker_area": metrics["sticker_area"],
        **{
            f"{variant}.{key}": metrics[variant][key]
            for variant in ("clean", "rp2", "control")
            for key in ("targeted_success", "source_accuracy")
        },
        "all_targets_met": all(record["met"] is not False for record in targets.values()),
    }
    chapter.targets_checked = sum(record["met"] is not None for record in targets.values())
    chapter.targets_not_reached = unmet_targets(metrics, TARGETS)
    chapter.tables.append(
        Table(
            f"Held-out evaluation on {metrics['n_conditions']} physical conditions (EOT, seed "
            f"{plan.eval_seed}; the sticker was optimised with seed {plan.seed}).",
            result.rows(),
        )
    )
    if result.dataset_evaluation is not None:
        dataset = result.dataset_evaluation
        chapter.numbers["dataset_renderer.rp2.targeted_success"] = dataset["rp2"].targeted_success
        chapter.tables.append(
            Table(
                "The same variants in scenes of the signs dataset's own renderer (not optimised "
                "against).",
                [
                    {
                        "sign": variant,
                        "read as target": dataset[variant].targeted_rate,
                        "read as 'stop'": dataset[variant].source_rate,
                    }
                    for variant in ("clean", "rp2", "control")
                ],
            )
        )
    if result.mask_comparisons:
        chapter.tables.append(_sticker_sizes(result))
        for comparison in result.mask_comparisons:
            slug = comparison.mask.replace("-", "_")
            chapter.numbers[f"{slug}.sticker_area"] = comparison.rp2.sticker_area
            for variant in ("rp2", "control"):
                for key in ("targeted_success", "source_accuracy"):
                    chapter.numbers[f"{slug}.{variant}.{key}"] = getattr(
                        comparison.evaluation[variant], key
                    )
    small_missed: list[str] = []
    if not context.quick:
        checked, small_missed = _small_sticker_targets(result, metrics)
        chapter.targets_checked += checked
        chapter.targets_not_reached.extend(small_missed)
    if result.signs_patch_evaluation is not None:
        held_out = result.signs_patch_evaluation
        chapter.numbers["patch_signs.targeted_success"] = held_out["patch"].targeted_success
        chapter.numbers["patch_signs.control_targeted_success"] = held_out[
            "control"
        ].targeted_success
        chapter.tables.append(
            Table(
                f"A universal patch (Brown et al.) on held-out sign scenes and placements "
                f"({held_out.n_conditions} conditions): fraction read as the target.",
                [
                    {
                        "scene": variant,
                        "read as target": held_out[variant].targeted_rate,
                        "accuracy": held_out[variant].source_rate,
                    }
                    for variant in ("clean", "patch", "control")
                ],
            )
        )
    chapter.figures.append(
        Figure(
            relative("signs_figure"),
            "The clean stop sign, with the printed RP2 sticker, with "
            "the control sticker, and the sticker to print (palette colours).",
        )
    )
    if "views_figure" in paths:
        chapter.figures.append(
            Figure(
                relative("views_figure"),
                "Held-out views (first 8 conditions) of each variant with the model's prediction.",
            )
        )
    if "patch_views_figure" in paths:
        chapter.figures.append(
            Figure(relative("patch_views_figure"), "Held-out scenes with and without the patch.")
        )
    chapter.summary = _summary(result, metrics)
    if small_missed:
        chapter.summary += (
            " Not reached with a sticker of the paper's size: " + "; ".join(small_missed) + "."
        )
    if context.quick:
        chapter.summary += (
            " Quick mode: a small model and a short optimisation, not the zoo's model."
        )
    return chapter


SMALL_STICKER_AREA = 0.20
"""Targets for a sticker of the paper's size: at most this share of the sign..."""
MIN_SMALL_STICKER_SUCCESS = 0.80
"""...read as the target on the held-out conditions at least this often..."""
MIN_SMALL_CONTROL_SOURCE = 0.90
"""...while a control sticker of the same shape leaves the sign read as "stop" this often."""


def _small_sticker_targets(
    result: PhysicalResult, metrics: dict[str, Any]
) -> tuple[int, list[str]]:
    """The small-sticker targets, checked on the most successful sticker of at most
    :data:`SMALL_STICKER_AREA` among the main one and the compared masks: (checked, missed)."""
    candidates = [
        (
            result.plan.mask,
            float(metrics["sticker_area"]),
            metrics["rp2"]["targeted_success"],
            metrics["control"]["source_accuracy"],
        )
    ] + [
        (
            comparison.mask,
            comparison.rp2.sticker_area,
            comparison.evaluation["rp2"].targeted_success,
            comparison.evaluation["control"].source_accuracy,
        )
        for comparison in result.mask_comparisons
    ]
    small = [
        (mask, area, success, control)
        for mask, area, success, control in candidates
        if area <= SMALL_STICKER_AREA and success is not None and control is not None
    ]
    if candidates[0][2] is None:  # an untargeted attack: the targets do not apply
        return 0, []
    if not small:
        return 1, [f"a sticker of <= {SMALL_STICKER_AREA:.0%} of the sign: none was evaluated"]
    mask, area, success, control = max(small, key=lambda c: c[2])
    n = metrics["n_conditions"]
    checks = (
        ("read as the target", success, MIN_SMALL_STICKER_SUCCESS),
        ("control sticker of its shape: sign read as 'stop'", control, MIN_SMALL_CONTROL_SOURCE),
    )
    return len(checks), [
        f"{mask} sticker ({area:.0%} of the sign) {what} >= {bound:.0%}: measured "
        f"{value:.1%} of {n}"
        for what, value, bound in checks
        if value < bound
    ]


def _summary(result: PhysicalResult, metrics: dict[str, Any]) -> str:
    plan = result.plan
    summary = (
        f"RP2 stickers ({metrics['sticker_area']:.0%} of the sign, two bars above and below "
        f"'STOP', printed in {len(result.rp2.palette)} palette colours) were optimised over "
        f"{plan.steps} x {plan.batch_size} EOT views for {_model_name(plan)}. On "
        f"{metrics['n_conditions']} held-out conditions the stop sign with the sticker is read as "
        f"'speed limit 30' in {_rate(metrics['rp2']['targeted_success'])} of them; with a "
        f"control sticker of the same shape in random printable colours in "
        f"{_rate(metrics['control']['targeted_success'])}; the clean sign is read as 'stop' in "
        f"{_rate(metrics['clean']['source_accuracy'])}."
    )
    unmet = unmet_targets(metrics, TARGETS)
    if unmet:
        return summary + " Targets NOT reached: " + "; ".join(unmet) + "."
    stated = ", ".join(
        f"{variant} {metric} {comparison} {bound:.0%}"
        for variant, metric, comparison, bound in TARGETS.values()
    )
    return summary + f" All targets ({stated}) were reached."
