"""Adversarial training of the signs CNN: which recipe buys robustness within the tour's budget?

``signs-cnn-at`` is trained on first use, inside a cold tour that must stay within 15 minutes
on two cores. This benchmark trains candidate recipes side by side, the zoo's own among them,
and reports for each its training time, clean accuracy and robust accuracy at L∞ 8/255, so the
zoo's choice can be checked and the "stronger, slower" recipe of the docs has its number.

Every recipe trains the same architecture family (:class:`aisec.models.SmallCNN`) from the
same seed on the first ``images`` of the signs training split, with PGD adversarial training
(Madry et al.) or its one-step "fast" form (Wong, Rice & Kolter). Robust accuracy is measured
with APGD-CE then APGD-T (DLR, 3 target classes), 50 steps each, on ``robust_points`` test
signs (a point counts as robust only if both attacks fail) — a cheaper cut of the tour's suite,
which adds Square and 9 target classes at 100 steps, so the suite's numbers are a little lower.
Clean accuracy is measured on ``clean_points`` test signs. Times are wall-clock on this machine;
run nothing else meanwhile.

Run ``python -m benchmarks adversarial_training`` (about 20 minutes on two cores) or
``python benchmarks/bench_adversarial_training.py --quick`` (tiny sizes, to test the script).
Results go to ``benchmarks/results/adversarial_training.md`` and ``.json``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from aisec.attacks import APGD
from aisec.data import load as load_data
from aisec.defenses.training import FastAdversarialTraining, PGDAdversarialTraining
from aisec.evaluate.robustness import evaluate_robustness
from aisec.models import TrainConfig, train_classifier
from aisec.models.architectures import SmallCNN
from aisec.report.format import format_rate
from aisec.stats import Rate
from aisec.threat import ThreatModel
from aisec.zoo import model_spec

try:
    from benchmarks._results import machine, write_results
except ImportError:  # run as a script: benchmarks/ is on sys.path
    from _results import machine, write_results  # type: ignore[no-redef]

EPS = 8 / 255


@dataclass(frozen=True)
class Recipe:
    """One adversarial-training recipe: ``steps`` 1 is fast AT (FGSM from a random start)."""

    label: str
    images: int
    epochs: int
    steps: int
    widths: tuple[int, ...] = (16, 32, 64)

    def describe(self) -> str:
        method = "fast AT (FGSM-RS)" if self.steps == 1 else f"PGD-{self.steps} AT"
        width = "" if self.widths == (16, 32, 64) else f", widths {'/'.join(map(str, self.widths))}"
        return f"{method}, {self.images:,} images, {self.epochs} epochs{width}"


RECIPES: tuple[Recipe, ...] = (
    Recipe("previous zoo recipe", 10_000, 5, 2),
    Recipe("more epochs", 10_000, 10, 2),
    Recipe("wider network", 10_000, 5, 2, (32, 64, 128)),
    Recipe("all images", 20_000, 5, 2),
    Recipe("fast AT", 20_000, 8, 1),
    Recipe("signs-cnn-at (the zoo's)", 20_000, 8, 2),
    Recipe("stronger, slower", 20_000, 10, 7),
)


def _zoo_recipe_matches() -> bool:
    """Whether the row labelled as the zoo's trains what the zoo entry trains."""
    spec = model_spec("signs-cnn-at")
    objective = spec.objective() if spec.objective is not None else None
    zoo = next(r for r in RECIPES if r.label.startswith("signs-cnn-at"))
    return (
        spec.train_n == zoo.images
        and spec.train_config is not None
        and spec.train_config.epochs == zoo.epochs
        and isinstance(objective, PGDAdversarialTraining)
        and objective.steps == zoo.steps
    )


def bench_recipe(
    recipe: Recipe, data: dict[str, torch.Tensor], robust_points: int, clean_points: int
) -> dict[str, Any]:
    """Train ``recipe`` and measure its time, clean and robust accuracy."""
    torch.manual_seed(0)
    model = SmallCNN(3, int(data["y_train"].max()) + 1, widths=recipe.widths)
    objective = (
        FastAdversarialTraining(eps=EPS)
        if recipe.steps == 1
        else PGDAdversarialTraining(eps=EPS, steps=recipe.steps)
    )
    config = TrainConfig(epochs=recipe.epochs, batch_size=128, lr=3e-3, seed=0)
    x, y = data["x_train"][: recipe.images], data["y_train"][: recipe.images]
    start = time.perf_counter()
    train_classifier(model, x, y, config, step_loss=objective, progress=False)
    train_seconds = time.perf_counter() - start
    model.eval()
    with torch.no_grad():
        predictions = model(data["x_test"][:clean_points]).argmax(1)
    clean = Rate(int((predictions == data["y_test"][:clean_points]).sum()), clean_points)
    threat = ThreatModel("linf", EPS)
    attacks = [
        APGD(threat, steps=50, loss="ce", seed=0),
        APGD(threat, steps=50, loss="dlr", n_target_classes=3, seed=0),
    ]
    start = time.perf_counter()
    report = evaluate_robustness(
        model,
        data["x_test"][:robust_points],
        data["y_test"][:robust_points],
        threat,
        attacks,
        seed=0,
    )
    return {
        "recipe": asdict(recipe),
        "description": recipe.describe(),
        "train_seconds": train_seconds,
        "clean": clean.to_dict(),
        "robust": report.robust_rate.to_dict(),
        "eval_seconds": time.perf_counter() - start,
    }


def _rate(record: dict[str, Any]) -> str:
    """A rate's JSON (:meth:`aisec.stats.Rate.to_dict`) as text, with its interval."""
    return format_rate(Rate(record["count"], record["n"]), interval=True)


def _markdown(results: dict[str, Any]) -> str:
    env, config = results["environment"], results["config"]
    lines = [
        "# Adversarial training of signs-cnn: recipes side by side",
        "",
        f"L∞ ε = 8/255. Robust accuracy: APGD-CE then APGD-T (3 targets), 50 steps each, on "
        f"{config['robust_points']} test signs; clean accuracy on {config['clean_points']}. "
        f"{env['processor']}, {env['cpu_count']} CPUs, {env['torch_threads']} torch threads, "
        f"torch {env['torch']}; load average {results['load_average_before'][0]:.2f} before, "
        f"{results['load_average_after'][0]:.2f} after (1 min); measured {results['date']}.",
        "",
        "| recipe | what | training (s) | clean accuracy | robust accuracy |",
        "|---|---|---:|---:|---:|",
    ]
    for row in results["rows"]:
        lines.append(
            f"| {row['recipe']['label']} | {row['description']} | {row['train_seconds']:.0f} | "
            f"{_rate(row['clean'])} | {_rate(row['robust'])} |"
        )
    lines += [
        "",
        "Rates with their 95% Wilson interval and sample size. The zoo's row is the recipe of "
        f"`signs-cnn-at` (checked against the zoo entry: {results['zoo_recipe_matches']}).",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    """Train every recipe and write ``benchmarks/results/adversarial_training.{md,json}``."""
    parser = argparse.ArgumentParser(
        prog="bench_adversarial_training", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--quick", action="store_true", help="tiny sizes, to test the script")
    args = parser.parse_args([] if argv is None else argv)
    recipes = RECIPES
    robust_points, clean_points = 100, 300
    if args.quick:
        recipes = tuple(Recipe(r.label, 256, 1, min(r.steps, 2), r.widths) for r in RECIPES[:2])
        robust_points, clean_points = 8, 32
    largest = max(r.images for r in recipes)
    train = load_data("signs", "train", n=largest, seed=0)
    test = load_data("signs", "test", n=max(robust_points, clean_points), seed=1)
    data = {
        "x_train": train.images,
        "y_train": train.labels,
        "x_test": test.images,
        "y_test": test.labels,
    }
    results: dict[str, Any] = {
        "config": {
            "robust_points": robust_points,
            "clean_points": clean_points,
            "quick": args.quick,
        },
        "environment": machine(),
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "load_average_before": list(os.getloadavg()),
        "zoo_recipe_matches": _zoo_recipe_matches(),
        "rows": [],
    }
    for recipe in recipes:
        print(f"{recipe.label}: {recipe.describe()} ...", flush=True)
        row = bench_recipe(recipe, data, robust_points, clean_points)
        print(
            f"  {row['train_seconds']:.0f} s, clean {_rate(row['clean'])}, "
            f"robust {_rate(row['robust'])}",
            flush=True,
        )
        results["rows"].append(row)
    results["load_average_after"] = list(os.getloadavg())
    name = "adversarial_training_quick" if args.quick else "adversarial_training"
    write_results(name, results, _markdown(results))
    print(_markdown(results))


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    main(sys.argv[1:])
