"""Tour chapter "genai": LLM watermarking and zero-shot generated-text detection on SmolLM2."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aisec.report.figures import save_figure
from aisec.report.tour import ChapterContext, ChapterResult, Figure, Table

__all__ = ["run_genai"]

KEY = "genai"


def _plot_length(evaluation: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, 2, figsize=(9, 3.4))
    for label, curve in evaluation["detection_vs_length"].items():
        axes[0].plot(curve["lengths"], curve["detection_rate"], marker="o", label=label)
        axes[1].plot(curve["lengths"], curve["mean_z"], marker="o", label=label)
    axes[0].set(xlabel="generated tokens T", ylabel="detection rate (z >= 4)", ylim=(-0.05, 1.05))
    axes[1].axhline(4.0, color="grey", linestyle="--", linewidth=1)
    axes[1].set(xlabel="generated tokens T", ylabel="mean z-score")
    for axis in axes:
        axis.set_xscale("log")
        axis.legend(fontsize=8)
    save_figure(figure, path)
    plt.close(figure)


def _plot_robustness(evaluation: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    robustness = evaluation["robustness"]
    figure, axes = plt.subplots(1, 2, figsize=(9, 3.4))
    for name in ("substitution", "deletion"):
        rates = [float(r) for r in robustness[name]]
        axes[0].plot(
            rates, [robustness[name][r]["mean_z"] for r in robustness[name]], marker="o", label=name
        )
    axes[0].axhline(4.0, color="grey", linestyle="--", linewidth=1)
    axes[0].set(xlabel="fraction of tokens edited", ylabel="mean z-score")
    axes[0].legend(fontsize=8)
    names = list(robustness["text"])
    raw = [robustness["text"][n]["raw"]["mean_z"] or 0.0 for n in names]
    normalized = [robustness["text"][n]["normalized"]["mean_z"] or 0.0 for n in names]
    positions = range(len(names))
    axes[1].bar([p - 0.2 for p in positions], raw, width=0.4, label="raw")
    axes[1].bar([p + 0.2 for p in positions], normalized, width=0.4, label="normalized")
    axes[1].axhline(4.0, color="grey", linestyle="--", linewidth=1)
    axes[1].set_xticks(list(positions), names, rotation=20, fontsize=7)
    axes[1].set(ylabel="mean z-score")
    axes[1].legend(fontsize=8)
    save_figure(figure, path)
    plt.close(figure)


def run_genai(context: ChapterContext) -> ChapterResult:
    """Watermark SmolLM2's generations, measure detection, false positives, cost, robustness."""
    from aisec.genai.evaluate import evaluate_all
    from aisec.models.language import load_language_model

    lm = load_language_model()
    if context.quick:
        sizes: dict[str, Any] = {
            "n_prompts": 2,
            "max_new_tokens": 40,
            "lengths": (10, 20, 40),
            "deltas": (0.0, 2.0),
            "ppl_tokens": 40,
            "n_human": 40,
        }
    else:
        sizes = {
            "n_prompts": 6,
            "max_new_tokens": 200,
            "ppl_tokens": 64,
            "emoji_tokens": 64,
            "n_human": 200,
        }
    log = print if context.progress else None
    evaluation = evaluate_all(lm, seed=context.seed, log=log, **sizes)

    result = ChapterResult(
        summary=(
            "A green-list watermark (Kirchenbauer et al. 2023; simple_1 seeding, gamma 0.25, "
            "delta 2) added to SmolLM2-135M-Instruct's sampling through a logits processor, "
            "detected by a z-test; its false positives on human text, its cost in perplexity "
            "and its robustness to edits; and zero-shot detection without a watermark "
            "(Fast-DetectGPT, log-likelihood, log-rank)."
        )
    )
    result.numbers["config"] = evaluation["config"]
    curve = evaluation["detection_vs_length"]["watermarked"]
    for length, rate, z in zip(
        curve["lengths"], curve["detection_rate"], curve["mean_z"], strict=True
    ):
        result.numbers[f"watermark.detection_rate@{length}"] = rate
        result.numbers[f"watermark.mean_z@{length}"] = z
    plain = evaluation["detection_vs_length"]["plain"]
    result.numbers["plain.detection_rate@max"] = plain["detection_rate"][-1]

    path, relative = context.figure_path(KEY, "detection-vs-length.png")
    _plot_length(evaluation, path)
    result.figures.append(
        Figure(relative, "Detection rate at z >= 4 and mean z against generated length.")
    )
    path, relative = context.figure_path(KEY, "robustness.png")
    _plot_robustness(evaluation, path)
    result.figures.append(
        Figure(
            relative,
            "Mean z after token edits (left) and after text attacks with and without the "
            "Unicode normalizer (right); dashed: the z = 4 threshold.",
        )
    )

    fp_rows = [
        {"source": source} | values for source, values in evaluation["false_positives"].items()
    ]
    for row in fp_rows:
        result.numbers[f"fpr.{row['source']}"] = row["fpr"]
    result.tables.append(Table("False positives (z >= 4) on human-written text.", fp_rows))
    result.tables.append(
        Table(
            "Perplexity of the generated text under the unbiased model, per delta.",
            evaluation["perplexity"]["rows"],
        )
    )
    robustness = evaluation["robustness"]
    attack_rows: list[dict[str, Any]] = [{"attack": "none"} | robustness["clean"]]
    for name in ("substitution", "deletion"):
        for rate, values in robustness[name].items():
            attack_rows.append({"attack": f"{name} {float(rate):.0%}"} | values)
    for name, values in robustness["text"].items():
        attack_rows.append({"attack": f"{name} (raw)"} | values["raw"])
        attack_rows.append({"attack": f"{name} (normalized)"} | values["normalized"])
    if "emoji attack (generation)" in robustness:
        attack_rows.append(
            {"attack": "emoji attack (generation)"} | robustness["emoji attack (generation)"]
        )
    result.tables.append(Table("Watermark detection after attacks.", attack_rows))
    zero_shot = evaluation["zero_shot"]
    auc_rows = [{"text": name} | values for name, values in zero_shot["auc"].items()]
    result.tables.append(
        Table(
            f"ROC AUC of zero-shot detectors, {zero_shot['human_texts']} human vs "
            f"{zero_shot['machine_texts']} SmolLM2 texts ({zero_shot['max_tokens']} tokens).",
            auc_rows,
        )
    )
    for name, values in zero_shot["auc"].items():
        for detector, auc in values.items():
            result.numbers[f"auc.{detector}.{name}"] = auc
    result.numbers["evaluation"] = evaluation
    return result
