"""``aisec poison``: poison a training set, train on it, detect and remove the poison."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from aisec.cli._common import app, console, fail


@app.command("poison")
def poison(
    out: Annotated[Path, typer.Option(help="write metrics.json and PNGs of the samples here")],
    dataset: Annotated[str, typer.Option(help="signs or digits")] = "signs",
    attack_name: Annotated[
        str, typer.Option("--attack", help="badnets, sticker (signs) or clean-label")
    ] = "badnets",
    rate: Annotated[float, typer.Option(help="fraction of the training set to poison")] = 0.05,
    target: Annotated[str, typer.Option(help="target class name or label")] = "speed limit 30",
    source: Annotated[
        str | None, typer.Option(help="source class (default: all others; sticker: stop)")
    ] = None,
    train_n: Annotated[
        int | None, typer.Option(help="training images (default: the model recipe's)")
    ] = None,
    epochs: Annotated[int | None, typer.Option(help="epochs (default: the recipe's)")] = None,
    clean_with: Annotated[
        list[str] | None,
        typer.Option(
            help="detector whose flags are removed before a retraining (repeat for several; "
            "none: no cleaning): spectral_signatures, spectral_signatures_signed, "
            "spectral_signatures_gap, activation_clustering; default the last two"
        ),
    ] = None,
    expected_fraction: Annotated[
        float | None,
        typer.Option(help="detectors' bound on a class's poisoned share (default: the true one)"),
    ] = None,
    seed: Annotated[int, typer.Option(help="seed of data, models and the poisoned samples")] = 0,
) -> None:
    """Poison a training set, train, measure, detect, clean, retrain and measure again."""
    from aisec.cache import cache_dir
    from aisec.evaluate.poisoning import CLEAN_WITH
    from aisec.experiments.poisoning import PoisoningPlan, run
    from aisec.files import atomic_write_json, check_output_dir
    from aisec.report.console import print_rows
    from aisec.report.poisoning import poisoning_figures

    try:
        cleaners = () if clean_with == ["none"] else tuple(clean_with or CLEAN_WITH)
        plan = PoisoningPlan(
            dataset=dataset,
            train_n=train_n,
            epochs=epochs,
            seed=seed,
            attack=attack_name,
            rate=rate,
            target=target,
            source=source,
            clean_with=cleaners,
            expected_fraction=expected_fraction,
        )
        folder = check_output_dir(out)
    except (ValueError, TypeError) as error:
        raise fail(error) from error
    try:
        result = run(plan, checkpoint_dir=cache_dir("poisoning"), progress=True)
    except (ValueError, TypeError) as error:
        raise fail(error) from error
    report = result.report
    title = (
        f"{attack_name} on {dataset}: {report.poisoned_examples} of {report.train_examples} "
        f"training images poisoned ({report.poison_rate:.2%}), target {report.target!r}"
    )
    print_rows(console, result.rows(), title=title)
    print_rows(console, result.detection_rows(), title="detection")
    atomic_write_json(folder / "metrics.json", result.to_dict())
    written = [folder / "metrics.json"]
    figures = poisoning_figures(report, folder, attack_name, result.class_names)
    written += [path for path, _ in figures]
    console.print("wrote " + ", ".join(str(path) for path in written))
