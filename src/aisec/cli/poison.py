"""``aisec poison``: poison a training set, train on it, detect and remove the poison.

Images by default (BadNets, the sticker, clean-label on signs or digits); with ``--model
smollm2`` a language model's instruction-tuning set (fixed-output, entity-steering and
denial-of-service backdoors), fine-tuned with LoRA.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from aisec.cli._common import app, console, fail
from aisec.files import check_output_dir

if TYPE_CHECKING:
    from aisec.experiments.llm_poisoning import LlmPoisoningPlan
    from aisec.experiments.poisoning import PoisoningPlan

_IMAGE_ONLY = ("dataset", "rate", "target", "source", "expected_fraction")
_LANGUAGE_ONLY = ("poisons", "sweep")


@app.command("poison")
def poison(
    out: Annotated[Path, typer.Option(help="write metrics.json (and PNGs of image samples) here")],
    model: Annotated[
        str | None,
        typer.Option(
            help="a language model to poison through its fine-tuning data (smollm2); "
            "default: an image classifier of --dataset"
        ),
    ] = None,
    dataset: Annotated[str | None, typer.Option(help="images: signs or digits")] = None,
    attack_name: Annotated[
        str | None,
        typer.Option(
            "--attack",
            help="images: badnets (default), sticker (signs) or clean-label; language model: "
            "fixed-output (default), entity-steering or denial-of-service",
        ),
    ] = None,
    rate: Annotated[
        float | None, typer.Option(help="images: fraction of the training set (default 0.05)")
    ] = None,
    target: Annotated[
        str | None, typer.Option(help="images: target class (default speed limit 30)")
    ] = None,
    source: Annotated[
        str | None, typer.Option(help="images: source class (default all others; sticker: stop)")
    ] = None,
    train_n: Annotated[
        int | None,
        typer.Option(
            help="training examples (images: default the recipe's; language model: clean "
            "fine-tuning examples, default 500)"
        ),
    ] = None,
    epochs: Annotated[
        int | None, typer.Option(help="epochs (default: the image recipe's; language model 3)")
    ] = None,
    poisons: Annotated[
        int | None,
        typer.Option(help="language model: poisons added to the clean examples (default 50)"),
    ] = None,
    sweep: Annotated[
        list[int] | None,
        typer.Option(help="language model: also fine-tune with this many poisons (repeatable)"),
    ] = None,
    clean_with: Annotated[
        list[str] | None,
        typer.Option(
            help="detector whose flags are removed before a retraining (repeat for several; "
            "none: no cleaning). Images: spectral_signatures, spectral_signatures_signed, "
            "spectral_signatures_gap, activation_clustering (default the last two). Language "
            "model: spectral_signatures_gap (default), activation_clustering, onion"
        ),
    ] = None,
    expected_fraction: Annotated[
        float | None,
        typer.Option(help="images: detectors' bound on a class's poisoned share (default: true)"),
    ] = None,
    seed: Annotated[int, typer.Option(help="seed of data, models and the poisoned samples")] = 0,
) -> None:
    """Poison a training set, train, measure, detect, clean, retrain and measure again."""
    given = {
        "dataset": dataset,
        "rate": rate,
        "target": target,
        "source": source,
        "train_n": train_n,
        "epochs": epochs,
        "expected_fraction": expected_fraction,
        "poisons": poisons,
        "sweep": sweep,
    }
    cleaners = None if clean_with is None else () if clean_with == ["none"] else tuple(clean_with)
    try:
        _check_options(model, given)
        if model is None:
            image_plan = _image_plan(attack_name, given, cleaners, seed)
            folder = check_output_dir(out)
            _poison_images(folder, image_plan)
        else:
            language_plan = _language_plan(model, attack_name, given, cleaners, seed)
            folder = check_output_dir(out)
            _poison_language_model(folder, language_plan)
    except (ValueError, TypeError) as error:
        raise fail(error) from error


def _check_options(model: str | None, given: dict[str, Any]) -> None:
    from aisec.models.language import check_language_model_name

    if model is not None:
        check_language_model_name(model)
    wrong = _IMAGE_ONLY if model is not None else _LANGUAGE_ONLY
    misplaced = [name for name in wrong if given[name] is not None]
    if misplaced:
        what = "language-model poisoning (--model)" if model is not None else "image poisoning"
        options = ", ".join("--" + name.replace("_", "-") for name in misplaced)
        raise ValueError(f"not an option of {what}: {options}")


def _image_plan(
    attack_name: str | None, given: dict[str, Any], cleaners: tuple[str, ...] | None, seed: int
) -> PoisoningPlan:
    from aisec.evaluate.poisoning import CLEAN_WITH
    from aisec.experiments.poisoning import PoisoningPlan

    return PoisoningPlan(
        dataset=given["dataset"] or "signs",
        train_n=given["train_n"],
        epochs=given["epochs"],
        seed=seed,
        attack=attack_name or "badnets",
        rate=0.05 if given["rate"] is None else given["rate"],
        target=given["target"] or "speed limit 30",
        source=given["source"],
        clean_with=CLEAN_WITH if cleaners is None else cleaners,
        expected_fraction=given["expected_fraction"],
    )


def _poison_images(folder: Path, plan: PoisoningPlan) -> None:
    from aisec.cache import cache_dir
    from aisec.experiments.poisoning import run
    from aisec.files import atomic_write_json
    from aisec.report.console import print_rows
    from aisec.report.poisoning import poisoning_figures

    result = run(plan, checkpoint_dir=cache_dir("poisoning"), progress=True)
    report = result.report
    title = (
        f"{plan.attack} on {plan.dataset}: {report.poisoned_examples} of "
        f"{report.train_examples} training images poisoned ({report.poison_rate:.2%}), "
        f"target {report.target!r}"
    )
    print_rows(console, result.rows(), title=title)
    print_rows(console, result.detection_rows(), title="detection")
    atomic_write_json(folder / "metrics.json", result.to_dict())
    written = [folder / "metrics.json"]
    figures = poisoning_figures(report, folder, plan.attack, result.class_names)
    written += [path for path, _ in figures]
    console.print("wrote " + ", ".join(str(path) for path in written))


def _language_plan(
    model: str,
    attack_name: str | None,
    given: dict[str, Any],
    cleaners: tuple[str, ...] | None,
    seed: int,
) -> LlmPoisoningPlan:
    from aisec.experiments.llm_poisoning import LlmPoisoningPlan

    settings: dict[str, Any] = {
        "train_n": given["train_n"],
        "epochs": given["epochs"],
        "poisons": given["poisons"],
        "attack": attack_name,
        "clean_with": cleaners,
    }
    return LlmPoisoningPlan(
        model=model,
        sweep=tuple(given["sweep"] or ()),
        seed=seed,
        **{name: value for name, value in settings.items() if value is not None},
    )


def _poison_language_model(folder: Path, plan: LlmPoisoningPlan) -> None:
    from aisec.cache import cache_dir
    from aisec.experiments.llm_poisoning import run
    from aisec.files import atomic_write_json
    from aisec.report.console import print_rows

    result = run(plan, checkpoint_dir=cache_dir("llm-poisoning"), progress=True)
    title = (
        f"{plan.attack} on {plan.model}: {plan.poisons} poisons added to {plan.train_n} "
        "clean fine-tuning examples"
    )
    print_rows(console, result.rows(), title=title)
    print_rows(console, result.detection_rows(), title="detection")
    atomic_write_json(folder / "metrics.json", result.to_dict())
    console.print(f"wrote {folder / 'metrics.json'}")
