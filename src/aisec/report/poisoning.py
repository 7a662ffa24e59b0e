"""Figures of a poisoning run, shared by the tour's chapter and ``aisec poison``."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch

from aisec.evaluate.poisoning import PoisoningReport
from aisec.report.figures import save_image_grid

__all__ = ["poisoning_figures"]


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
