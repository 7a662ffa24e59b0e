"""Shared by tools/art_integration.py and tools/foolbox_examples.py: tasks, timing, the table.

Each script runs the same attack in a library (ART or Foolbox) and in aisec on the same model
and inputs, and prints one row per run with the fraction of examples where the adversarial
examples agree with aisec's.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from rich.console import Console
from rich.table import Table
from torch import Tensor, nn

from aisec.experiments.names import load_task

AGREE_ATOL = 1e-6
"""Two adversarial examples agree when they differ by at most this much in every pixel."""


@dataclass
class Workload:
    """A model with the inputs to attack."""

    title: str
    model: nn.Module
    x: Tensor
    y: Tensor


@dataclass
class Row:
    """One attack run: accuracies, L∞ perturbation sizes and wall time."""

    name: str
    x_adv: Tensor
    clean_pred: Tensor
    adv_pred: Tensor
    y: Tensor
    x: Tensor
    time_s: float

    def summary(self, reference: Row | None) -> dict[str, Any]:
        delta = (self.x_adv - self.x).reshape(len(self.y), -1).abs().amax(dim=1)
        out: dict[str, Any] = {
            "attack": self.name,
            "clean_accuracy": float((self.clean_pred == self.y).float().mean()),
            "accuracy_under_attack": float((self.adv_pred == self.y).float().mean()),
            "mean_linf": float(delta.mean()),
            "max_linf": float(delta.max()),
            "time_s": self.time_s,
        }
        if reference is not None:
            diff = (self.x_adv - reference.x_adv).reshape(len(self.y), -1).abs().amax(dim=1)
            out["x_adv_agree"] = float((diff <= AGREE_ATOL).float().mean())
            # The same outcome: both attacks fool the model on the example, or neither does.
            same = (self.adv_pred == self.y) == (reference.adv_pred == reference.y)
            out["outcome_agree"] = float(same.float().mean())
        return out


def parse_args(description: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--eps", type=float, default=0.1, help="L∞ budget (the seed's 0.1)")
    parser.add_argument("--n", type=int, default=200, help="signs test images to attack")
    parser.add_argument(
        "--model",
        default="signs-cnn",
        help="the zoo classifier of the first workload (CI uses digits-cnn, trained in seconds)",
    )
    parser.add_argument("--quick", action="store_true", help="CI mode: 32 images, 2 photos")
    parser.add_argument("--json", type=Path, default=None, help="also write the rows here")
    return parser.parse_args()


def workloads(n_signs: int, n_photos: int, model: str = "signs-cnn") -> list[Workload]:
    """A zoo classifier (default: the signs CNN on procedural test signs) and EfficientNet-Lite0
    on the bundled photos."""
    out = []
    for model_name, n, title in (
        (model, n_signs, f"{model} on its test data"),
        ("efficientnet-lite0", n_photos, "EfficientNet-Lite0 on the bundled ImageNet photos"),
    ):
        try:
            task = load_task(model_name, n=n, seed=0)
        except ValueError as error:  # e.g. a zoo model that cannot be loaded or trained here
            Console(stderr=True).print(f"[red]skipping {model_name}: {error}[/red]")
            continue
        out.append(Workload(f"{title} (n={len(task.y)})", task.model.eval(), task.x, task.y))
    return out


def timed(name: str, work: Workload, attack: Callable[[], Tensor]) -> Row:
    """Run ``attack`` (returning ``x_adv``) and predict on the clean and adversarial inputs."""
    start = time.perf_counter()
    x_adv = attack().detach().to(work.x.device, work.x.dtype)
    elapsed = time.perf_counter() - start
    with torch.no_grad():
        clean_pred = work.model(work.x).argmax(dim=1)
        adv_pred = work.model(x_adv).argmax(dim=1)
    return Row(name, x_adv, clean_pred, adv_pred, work.y, work.x, elapsed)


def make_console() -> Console:
    """A console wide enough for the eight columns."""
    return Console(width=max(Console().width, 132))


def report(console: Console, title: str, rows: list[Row], reference: Row) -> list[dict[str, Any]]:
    """Print the side-by-side table; agreement is measured against ``reference`` (aisec's)."""
    table = Table(title=title)
    for column in (
        "attack",
        "clean acc",
        "acc under attack",
        "mean L∞",
        "max L∞",
        "time (s)",
        f"x_adv agree (≤{AGREE_ATOL:g})",
        "outcome agree",
    ):
        table.add_column(column, justify="left" if column == "attack" else "right")
    summaries = []
    for row in rows:
        s = row.summary(None if row is reference else reference)
        summaries.append(s)
        agree = "(reference)" if row is reference else f"{s['x_adv_agree']:.1%}"
        pred = "(reference)" if row is reference else f"{s['outcome_agree']:.1%}"
        table.add_row(
            row.name,
            f"{s['clean_accuracy']:.1%}",
            f"{s['accuracy_under_attack']:.1%}",
            f"{s['mean_linf']:.4f}",
            f"{s['max_linf']:.4f}",
            f"{s['time_s']:.2f}",
            agree,
            pred,
        )
    console.print(table)
    return summaries


def write_json(path: Path | None, results: dict[str, Any]) -> None:
    if path is not None:
        path.write_text(json.dumps(results, indent=2) + "\n")
