"""Tour chapter "genai": LLM watermarking and zero-shot generated-text detection on SmolLM2.

The experiment is :func:`aisec.experiments.genai.run`: a green-list watermark on
SmolLM2-135M-Instruct's sampling, its detection against length, false positives on human text,
its cost in perplexity and its robustness to edits, and zero-shot detectors without a
watermark. This chapter picks the plan and presents the result: tables from its rows and two
figures.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from aisec.evaluate.genai import Z_THRESHOLD
from aisec.experiments import genai
from aisec.experiments.genai import GenAIPlan, GenAIResult
from aisec.report.figures import save_figure
from aisec.report.tour import ChapterContext, ChapterResult, Figure, Table

__all__ = ["FULL", "QUICK", "plan_for", "render", "run_genai", "run_with_plan"]

KEY = "genai"

FULL = GenAIPlan(
    n_prompts=6,
    max_new_tokens=200,
    lengths=(25, 50, 100, 200),
    deltas=(0.0, 1.0, 2.0, 4.0),
    ppl_tokens=64,
    n_human=200,
    n_passages=40,
    robustness_tokens=200,
    emoji_tokens=64,
    prefix_tokens=24,
    auc_tokens=40,
)
"""The tour's plan (the zero-shot test continues 24-token prefixes of the tweet passages and
Python docs by 40 tokens)."""

QUICK = GenAIPlan(
    n_prompts=2,
    max_new_tokens=40,
    lengths=(10, 20, 40),
    deltas=(0.0, 2.0),
    ppl_tokens=40,
    n_human=40,
    n_passages=8,
    robustness_tokens=40,
    emoji_tokens=20,
    prefix_tokens=16,
    auc_tokens=16,
)
"""The quick tour's plan (CI)."""

_VERDICT = f"z > {Z_THRESHOLD:g}"
"""The evaluation's verdict, for captions and axes."""


def plan_for(context: ChapterContext) -> GenAIPlan:
    """:data:`QUICK` or :data:`FULL`, with the context's seed."""
    return dataclasses.replace(QUICK if context.quick else FULL, seed=context.seed)


def _plot_length(result: GenAIResult, path: Path) -> None:
    """Detection rate and mean z against the number of generated tokens."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, 2, figsize=(9, 3.4))
    for label, curve in (("watermarked", result.watermarked), ("plain", result.plain)):
        data = curve.to_dict()
        axes[0].plot(data["lengths"], data["detection_rate"], marker="o", label=label)
        axes[1].plot(data["lengths"], data["mean_z"], marker="o", label=label)
    axes[0].set(
        xlabel="generated tokens T", ylabel=f"detection rate ({_VERDICT})", ylim=(-0.05, 1.05)
    )
    axes[1].axhline(Z_THRESHOLD, color="grey", linestyle="--", linewidth=1)
    axes[1].set(xlabel="generated tokens T", ylabel="mean z-score")
    lengths = result.watermarked.lengths
    for axis in axes:
        axis.set_xscale("log")
        axis.set_xticks(list(lengths), [str(length) for length in lengths])
        axis.minorticks_off()
        axis.legend(fontsize=8)
    save_figure(figure, path)
    plt.close(figure)


def _plot_robustness(result: GenAIResult, path: Path) -> None:
    """Mean z after token edits (left) and after text attacks, raw and normalized (right)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    robustness = result.robustness
    figure, axes = plt.subplots(1, 2, figsize=(9, 3.4))
    for name, table in (
        ("substitution", robustness.substitution),
        ("deletion", robustness.deletion),
    ):
        rates = [float(r) for r in table]
        axes[0].plot(rates, [d.mean_z for d in table.values()], marker="o", label=name)
    axes[0].axhline(Z_THRESHOLD, color="grey", linestyle="--", linewidth=1)
    axes[0].set(xlabel="fraction of tokens edited", ylabel="mean z-score")
    axes[0].legend(fontsize=8)
    names = list(robustness.text)
    raw = [robustness.text[n]["raw"].mean_z or 0.0 for n in names]
    normalized = [robustness.text[n]["normalized"].mean_z or 0.0 for n in names]
    positions = range(len(names))
    axes[1].bar([p - 0.2 for p in positions], raw, width=0.4, label="raw")
    axes[1].bar([p + 0.2 for p in positions], normalized, width=0.4, label="normalized")
    axes[1].axhline(Z_THRESHOLD, color="grey", linestyle="--", linewidth=1)
    axes[1].set_xticks(list(positions), names, rotation=20, fontsize=7)
    axes[1].set(ylabel="mean z-score")
    axes[1].legend(fontsize=8)
    save_figure(figure, path)
    plt.close(figure)


def _numbers(result: GenAIResult) -> dict[str, Any]:
    """The chapter's numbers (the docs' markers read these keys)."""
    evaluation = result.to_dict()
    numbers: dict[str, Any] = {"config": evaluation["config"]}
    curve = evaluation["detection_vs_length"]["watermarked"]
    for length, rate, z in zip(
        curve["lengths"], curve["detection_rate"], curve["mean_z"], strict=True
    ):
        numbers[f"watermark.detection_rate@{length}"] = rate
        numbers[f"watermark.mean_z@{length}"] = z
    numbers["plain.detection_rate@max"] = evaluation["detection_vs_length"]["plain"][
        "detection_rate"
    ][-1]
    for source, values in evaluation["false_positives"].items():
        numbers[f"fpr.{source}"] = values["fpr"]
        numbers[f"fpr.{source}.decided"] = values["decided"]  # the rate's sample size
    numbers |= _zero_shot_numbers(evaluation["zero_shot"])
    numbers["evaluation"] = evaluation
    return numbers


def _zero_shot_numbers(zero_shot: dict[str, Any]) -> dict[str, Any]:
    """The zero-shot detectors' numbers: ``auc.DETECTOR.VARIANT`` (a float),
    ``tpr@1%fpr.DETECTOR.VARIANT`` (a Rate dict: the docs' ``rate`` format),
    ``fpr@1%fpr.DETECTOR`` (the realised false-positive rate, a Rate dict) and the sample sizes
    ``n.zero_shot.human`` / ``n.zero_shot.machine``."""
    numbers: dict[str, Any] = {}
    for name, values in zero_shot["auc"].items():
        for detector, auc in values.items():
            numbers[f"auc.{detector}.{name}"] = auc
    for name, values in zero_shot["tpr_at_1fpr"].items():
        for detector, rate in values.items():
            numbers[f"tpr@1%fpr.{detector}.{name}"] = rate
    for detector, rate in zero_shot["fpr_at_1fpr"].items():
        numbers[f"fpr@1%fpr.{detector}"] = rate
    numbers["n.zero_shot.human"] = zero_shot["human_texts"]
    numbers["n.zero_shot.machine"] = zero_shot["machine_texts"]
    return numbers


def render(result: GenAIResult, context: ChapterContext) -> ChapterResult:
    """Summary, numbers, tables and figures of a genai result."""
    plan = result.plan
    chapter = ChapterResult(
        summary=(
            f"A green-list watermark (Kirchenbauer et al. 2023; simple_1 seeding, gamma "
            f"{plan.gamma:g}, delta {plan.delta:g}) added to {plan.model}'s sampling "
            "through a logits processor, detected by a z-test (repeated n-grams counted once, "
            f"watermarked when {_VERDICT}); its false positives on human "
            "text, its cost in perplexity and its robustness to edits; and zero-shot detection "
            "without a watermark (Fast-DetectGPT, log-likelihood, log-rank) on human and model "
            "continuations of the same human prefixes."
        ),
        numbers=_numbers(result),
    )
    path, relative = context.figure_path(KEY, "detection-vs-length.png")
    _plot_length(result, path)
    chapter.figures.append(
        Figure(relative, f"Detection rate at {_VERDICT} and mean z against generated length.")
    )
    path, relative = context.figure_path(KEY, "robustness.png")
    _plot_robustness(result, path)
    chapter.figures.append(
        Figure(
            relative,
            "Mean z after token edits (left) and after text attacks with and without the "
            "Unicode normalizer (right); dashed: the z = 4 threshold.",
        )
    )
    chapter.tables.append(
        Table(
            f"Watermark detection ({_VERDICT}) against generated length, "
            f"{result.config['prompts']} prompts.",
            result.rows(),
        )
    )
    chapter.tables.append(
        Table(f"False positives ({_VERDICT}) on human-written text.", result.false_positive_rows())
    )
    chapter.tables.append(
        Table(
            "Perplexity of the generated text under the unbiased model, per delta.",
            result.perplexity_rows(),
        )
    )
    chapter.tables.append(Table("Watermark detection after attacks.", result.robustness.rows()))
    zero_shot = result.zero_shot
    chapter.tables.append(
        Table(
            f"Zero-shot detectors, {zero_shot.human_texts} human vs {zero_shot.machine_texts} "
            f"{result.config['model']} continuations of the same {zero_shot.prefix_tokens}-token "
            f"prefixes (up to {zero_shot.max_tokens} tokens, scored given the prefix): ROC AUC "
            "and the true-positive rate at a 1% false-positive rate on the human continuations.",
            zero_shot.rows(),
        )
    )
    chapter.tables.append(
        Table(
            "Zero-shot detectors' thresholds at a 1% false-positive rate and the human "
            "continuations above them (0 with fewer than 100 human texts).",
            zero_shot.threshold_rows(),
        )
    )
    return chapter


def run_with_plan(plan: GenAIPlan, context: ChapterContext) -> ChapterResult:
    """Run the evaluation with ``plan`` and render it (tests pass a tiny plan)."""
    return render(genai.run(plan, progress=context.progress), context)


def run_genai(context: ChapterContext) -> ChapterResult:
    """Watermark SmolLM2's generations, measure detection, false positives, cost, robustness."""
    return run_with_plan(plan_for(context), context)
