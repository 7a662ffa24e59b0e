"""Figures of a poisoning run, shared by the tour's chapter and ``aisec poison``."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch

from aisec.evaluate.poisoning import PoisoningReport
from aisec.report.figures import save_figure, save_image_grid
from aisec.stats import wilson_interval

__all__ = ["plot_poison_sweep", "poisoning_figures"]


def poisoning_figures(
    report: PoisoningReport,
    directory: Path,
    prefix: str,
    class_names: Sequence[str] | None = None,
    count: int = 8,
) -> list[tuple[Path, str]]:
    """Save the figures of a poisoning run: test images without and with the trigger (with the
    poisoned model's predictions) and poisoned training samples with their training labels.

    Args:
        report: a report with artifacts (from :func:`aisec.evaluate.poisoning.run_poisoning`).
        directory: where the PNGs go (created).
        prefix: file-name prefix.
        class_names: names for the titles (default the labels).
        count: images per row.

    Returns:
        ``(path, caption)`` of each figure written (none for a report without artifacts).
    """
    if report.artifacts is None:
        return []
    artifacts = report.artifacts
    model = artifacts.models["poisoned"]
    test = artifacts.triggered
    n = min(count, len(test))
    with torch.no_grad():
        clean_pred = model(test.clean[:n]).argmax(1)
        trig_pred = model(test.x[:n]).argmax(1)

    def label(c: torch.Tensor) -> str:
        return class_names[int(c)] if class_names is not None else str(int(c))

    titles = [f"→ {label(p)}" for p in clean_pred] + [f"→ {label(p)}" for p in trig_pred]
    directory.mkdir(parents=True, exist_ok=True)
    test_path = directory / f"{prefix}-test.png"
    save_image_grid(torch.cat([test.clean[:n], test.x[:n]]), test_path, titles=titles, ncols=n)
    poisoned = artifacts.poisoned
    shown = poisoned.indices[:n]
    train_path = directory / f"{prefix}-poisoned-train.png"
    save_image_grid(
        poisoned.x[shown],
        train_path,
        titles=[f"label: {label(c)}" for c in poisoned.y[shown]],
        ncols=n,
    )
    attack = report.attack["attack"]
    return [
        (
            test_path,
            f"{attack}: test images without (top) and with (bottom) the trigger; titles are the "
            "poisoned model's predictions.",
        ),
        (train_path, f"{attack}: poisoned training samples with the labels they were trained on."),
    ]


def plot_poison_sweep(reports: Sequence[PoisoningReport], path: Path) -> Path:
    """Attack success and clean accuracy against the poisoned share of the training data.

    One point per report (the same attack at several rates, same size and clean model), each
    with its 95% Wilson interval; the clean model's attack success (the trigger alone, no
    backdoor) and clean accuracy are the dashed baselines.

    Args:
        reports: the sweep's reports, any order (plotted by poison rate).
        path: the PNG to write (parent folders created).

    Returns:
        ``path``.

    Raises:
        ValueError: no reports.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not reports:
        raise ValueError("plot_poison_sweep needs at least one report")
    ordered = sorted(reports, key=lambda report: report.poison_rate)
    rates = [100 * report.poison_rate for report in ordered]
    figure, axes = plt.subplots(1, 2, figsize=(9, 3.4))
    panels = (
        ("attack_success", "triggered_examples", "attack success (triggered test images)"),
        ("clean_accuracy", "test_examples", "clean accuracy"),
    )
    for axis, (metric, size, label) in zip(axes, panels, strict=True):
        values, low, high = [], [], []
        for report in ordered:
            total = getattr(report, size)
            value = report.poisoned_model[metric]
            lower, upper = wilson_interval(round(value * total), total)
            values.append(value)
            low.append(value - lower)
            high.append(upper - value)
        axis.errorbar(rates, values, yerr=[low, high], marker="o", capsize=3, label="poisoned")
        baseline = ordered[0].clean_model[metric]
        axis.axhline(baseline, color="grey", linestyle="--", label="trained on clean data")
        axis.set_xscale("log")
        axis.set_xticks(rates, [f"{rate:g}%" for rate in rates])
        axis.minorticks_off()
        axis.set_xlabel(f"poisoned share of {ordered[0].train_examples:,} training images")
        axis.set_ylabel(label)
        axis.set_ylim(0.0, 1.02)
        axis.grid(alpha=0.3)
        axis.legend(fontsize=8)
    out = save_figure(figure, path)
    plt.close(figure)
    return out
