"""Tour chapter "poisoning": backdoors, how few poisons they need, and how to find them.

Full run (one to two minutes on two cores, cold): on the signs data with the default
signs model's architecture and training recipe (its epochs, batch size and learning rate), on a
5,000-image training subset (the recipe uses 20,000; ``aisec poison`` runs the full size),

1. BadNets, 5% of the training set, all-to-one to "speed limit 30": a clean model and a
   poisoned model (same initialisation and batch order), detection (spectral signatures with
   the paper's and a signed score, activation clustering), then for each of spectral
   signatures (signed) and activation clustering: removal of its flags and retraining;
2. the physical-style sticker (a yellow square on the stop sign, read as "speed limit 30"),
   5% of the training set, against the same clean model (attack and detection);
3. the rate sweep: BadNets at 0.5% and 1% (and the 5% of step 1), same size and clean
   model (attack and detection).

``context.quick`` runs the same loop on the digits (a narrow CNN, seconds) and renders the
sticker without training, to check the code path in under a minute. Trained models are
checkpointed in the aisec cache, keyed by their data, so a rerun resumes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from aisec.attacks.poisoning import StickerBackdoor
from aisec.cache import cache_dir
from aisec.data.signs import SIGN_CLASSES, class_index
from aisec.evaluate.poisoning import (
    ExperimentSetup,
    PoisoningReport,
    load_experiment,
    make_attack,
    run_poisoning,
)
from aisec.models import SmallCNN, TrainConfig
from aisec.report.figures import save_image_grid
from aisec.report.tour import ChapterContext, ChapterResult, Figure, Table

__all__ = ["poisoning_figures", "run_poisoning_chapter"]

KEY = "poisoning"
TARGET = "speed limit 30"
RATE = 0.05
TRAIN_N = 5_000
SWEEP_RATES = (0.005, 0.01, 0.05)
# The targets for 5% BadNets on the signs model.
MIN_ATTACK_SUCCESS, MAX_ACCURACY_DROP, MIN_RECALL, MAX_CLEANED_SUCCESS = 0.9, 0.02, 0.8, 0.1


def run_poisoning_chapter(context: ChapterContext) -> ChapterResult:
    """Run the poisoning measurements (see the module docstring) and describe them."""
    if context.quick:
        return _quick(context)
    data = load_experiment(ExperimentSetup(train_n=TRAIN_N, seed=context.seed))
    common: dict[str, Any] = {
        "build_model": data.build,
        "train_config": data.config,
        "class_names": data.class_names,
        "dataset": "signs",
        "checkpoint_dir": cache_dir("poisoning"),
        "test_seed": context.seed,
        "progress": context.progress,
    }
    train, test = (data.x_train, data.y_train), (data.x_test, data.y_test)

    def attack(name: str, rate: float) -> Any:
        source = "stop" if name == "sticker" else None
        return make_attack(
            name,
            rate=rate,
            target=TARGET,
            source=source,
            class_names=data.class_names,
            image_size=data.x_train.shape[-1],
            seed=context.seed,
        )

    main = run_poisoning(attack("badnets", RATE), train, test, **common)
    assert main.artifacts is not None
    clean_model = main.artifacts.models["clean"]
    physical = run_poisoning(
        attack("sticker", RATE), train, test, clean_model=clean_model, clean_with=None, **common
    )
    sweep = [
        main
        if rate == RATE
        else run_poisoning(
            attack("badnets", rate),
            train,
            test,
            clean_model=clean_model,
            clean_with=None,
            **common,
        )
        for rate in SWEEP_RATES
    ]
    result = ChapterResult()
    result.summary = _summary(main, physical, sweep, data.config.epochs)
    result.numbers = {
        "setup": {
            "train_examples": main.train_examples,
            "test_examples": main.test_examples,
            "model": data.model_name,
            "recipe": main.training,
            "full_recipe_train_examples": 20_000,
        },
        "badnets": main.to_dict(),
        "sticker": physical.to_dict(),
        "sweep": [report.to_dict() for report in sweep],
        "targets": _targets(main),
    }
    result.tables += [
        _models_table(main, "BadNets (5%, checkerboard in the corner)"),
        _models_table(physical, "Sticker on the stop sign (5%)"),
        _detection_table(main, physical),
        _sweep_table(sweep),
    ]
    for name, report in (("badnets", main), ("sticker", physical)):
        figures = poisoning_figures(report, context.out_dir / "figures", f"{KEY}-{name}")
        for path, caption in figures:
            result.figures.append(Figure(str(path.relative_to(context.out_dir)), caption))
    return result


def poisoning_figures(
    report: PoisoningReport, directory: Path, prefix: str, count: int = 8
) -> list[tuple[Path, str]]:
    """Save the figures of a poisoning run: test images without and with the trigger (with the
    poisoned model's predictions) and poisoned training samples with their training labels.

    Args:
        report: a report with artifacts (from :func:`aisec.evaluate.poisoning.run_poisoning`).
        directory: where the PNGs go (created).
        prefix: file-name prefix.
        count: images per row.

    Returns:
        ``(path, caption)`` of each figure written.
    """
    if report.artifacts is None:
        return []
    artifacts = report.artifacts
    names = list(SIGN_CLASSES) if report.dataset == "signs" else None
    model = artifacts.models["poisoned"]
    test = artifacts.triggered
    n = min(count, len(test))
    with torch.no_grad():
        clean_pred = model(test.clean[:n]).argmax(1)
        trig_pred = model(test.x[:n]).argmax(1)

    def label(c: torch.Tensor) -> str:
        return names[int(c)] if names is not None else str(int(c))

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


# -- text and tables -----------------------------------------------------------------------------


def _targets(report: PoisoningReport) -> dict[str, dict[str, Any]]:
    """The issue's targets for 5% BadNets, with the measured values and whether they are met."""
    drop = report.clean_model["clean_accuracy"] - report.poisoned_model["clean_accuracy"]
    targets: dict[str, dict[str, Any]] = {
        "attack_success": {
            "value": report.poisoned_model["attack_success"],
            "target": f">= {MIN_ATTACK_SUCCESS}",
            "met": report.poisoned_model["attack_success"] >= MIN_ATTACK_SUCCESS,
        },
        "clean_accuracy_drop": {
            "value": drop,
            "target": f"<= {MAX_ACCURACY_DROP}",
            "met": drop <= MAX_ACCURACY_DROP,
        },
    }
    for name, note in (
        ("spectral_signatures", "the paper's squared score"),
        ("spectral_signatures_signed", "signed score"),
    ):
        recall = report.detection[name]["recall"]
        targets[f"{name}_recall"] = {
            "value": recall,
            "target": f">= {MIN_RECALL} ({note})",
            "met": recall >= MIN_RECALL,
        }
    for name, cleaned in report.cleaning.items():
        targets[f"attack_success_after_cleaning_with_{name}"] = {
            "value": cleaned["attack_success"],
            "target": f"< {MAX_CLEANED_SUCCESS}",
            "met": cleaned["attack_success"] < MAX_CLEANED_SUCCESS,
        }
    return targets


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}%"


def _summary(
    main: PoisoningReport, physical: PoisoningReport, sweep: list[PoisoningReport], epochs: int
) -> str:
    targets = _targets(main)
    missed = [name for name, t in targets.items() if not t["met"]]
    spectral = main.detection["spectral_signatures"]
    signed = main.detection["spectral_signatures_signed"]
    after = "; ".join(
        f"with the flags of {name} ({cleaned['removed']} images removed, "
        f"{cleaned['poisoned_left']} poisons left) attack success is "
        f"{_pct(cleaned['attack_success'])} at clean accuracy {_pct(cleaned['clean_accuracy'])}"
        for name, cleaned in main.cleaning.items()
    )
    ac = main.detection["activation_clustering"]
    lines = [
        "A backdoored model is accurate on clean inputs and obeys a trigger. Poisoning "
        f"{main.poisoned_examples} of {main.train_examples} training images "
        f"({_pct(main.poison_rate)}) with a 4×4 checkerboard in the corner, relabelled "
        f'"{TARGET}", gives a model that reads {_pct(main.poisoned_model["attack_success"])} '
        "of triggered test signs of other classes as the target, with clean accuracy "
        f"{_pct(main.poisoned_model['clean_accuracy'])} against "
        f"{_pct(main.clean_model['clean_accuracy'])} for the same model trained on clean data "
        f"(which the trigger fools {_pct(main.clean_model['attack_success'])} of the time). "
        f"Sizes: the default signs model's architecture and recipe ({epochs} epochs) on "
        f"{main.train_examples} training images (the recipe uses 20,000: `aisec poison` runs "
        f"that size), {main.test_examples} test images.",
        "Spectral signatures (Tran et al.) flag 1.5·ε of every class along the top singular "
        f"direction of its penultimate activations, with ε = {main.expected_fraction:.2f}, the "
        "poisoned share of the target class (assumed known, as in the paper). The paper's "
        f"squared score recovers {_pct(spectral['recall'])} of the poisons (precision "
        f"{_pct(spectral['precision'])}); a signed score that keeps the side of the class's "
        f"minority recovers {_pct(signed['recall'])} (precision {_pct(signed['precision'])}). "
        "Precision is low by construction: with so large an ε, 1.5·ε of every clean class is "
        "removed too. Activation clustering (Chen et al.) flags the smaller 2-means cluster "
        f"of classes that split cleanly: recall {_pct(ac['recall'])}, precision "
        f"{_pct(ac['precision'])}. After removing flagged samples and retraining: {after}. "
        "A model retrained on a fraction of the data is weaker, and some of its errors on "
        "triggered images land on the target without any backdoor.",
        "A yellow sticker on the stop sign itself — rendered through the same viewpoints, "
        "lighting, blur and occlusions as the data — poisoning "
        f"{physical.poisoned_examples} stop signs makes the model read "
        f"{_pct(physical.poisoned_model['attack_success'])} of stickered stop signs as "
        f'"{TARGET}"; it reads {_pct(physical.poisoned_model["untriggered_accuracy"])} of the '
        "same scenes without the sticker correctly (the clean model: "
        f"{_pct(physical.clean_model['untriggered_accuracy'])}), since a poisoned share of the "
        "stop signs was relabelled. Spectral signatures (signed score) find "
        f"{_pct(physical.detection['spectral_signatures_signed']['recall'])} of these poisons, "
        "activation clustering "
        f"{_pct(physical.detection['activation_clustering']['recall'])}.",
        "Rate sweep (same size and clean model): "
        + "; ".join(
            f"{_pct(r.poison_rate)} → attack success {_pct(r.poisoned_model['attack_success'])}"
            for r in sweep
        )
        + ".",
    ]
    if missed:
        lines.append(
            "Targets NOT reached in this run: "
            + ", ".join(
                f"{name} = {_fmt(targets[name]['value'])} (target {targets[name]['target']})"
                for name in missed
            )
            + "."
        )
    else:
        lines.append("All targets of the issue were reached in this run.")
    return "\n\n".join(lines)


def _fmt(value: Any) -> str:
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def _models_table(report: PoisoningReport, caption: str) -> Table:
    rows = []
    models = [("clean data", report.clean_model), ("poisoned data", report.poisoned_model)]
    models += [(f"cleaned with {name}", m) for name, m in report.cleaning.items()]
    for name, metrics in models:
        if metrics is not None:
            rows.append(
                {
                    "model trained on": name,
                    "clean accuracy": metrics["clean_accuracy"],
                    "attack success": metrics["attack_success"],
                    "accuracy without trigger": metrics["untriggered_accuracy"],
                }
            )
    return Table(f"{caption}: {report.triggered_examples} triggered test images.", rows)


def _detection_table(*reports: PoisoningReport) -> Table:
    rows = [
        {
            "attack": report.attack["attack"],
            "detector": name,
            "precision": metrics["precision"],
            "recall": metrics["recall"],
            "flagged": metrics["flagged"],
            "poisoned": metrics["poisoned"],
        }
        for report in reports
        for name, metrics in report.detection.items()
    ]
    return Table("Detection of the poisoned training samples (penultimate activations).", rows)


def _sweep_table(sweep: list[PoisoningReport]) -> Table:
    rows = [
        {
            "poison rate": r.poison_rate,
            "poisoned": r.poisoned_examples,
            "clean accuracy (clean model)": r.clean_model["clean_accuracy"],
            "clean accuracy (poisoned)": r.poisoned_model["clean_accuracy"],
            "attack success": r.poisoned_model["attack_success"],
            "spectral recall": r.detection["spectral_signatures"]["recall"],
            "spectral recall (signed)": r.detection["spectral_signatures_signed"]["recall"],
            "activation clustering recall": r.detection["activation_clustering"]["recall"],
        }
        for r in sweep
    ]
    size = sweep[0].train_examples if sweep else 0
    return Table(f"BadNets poison-rate sweep ({size} training images).", rows)


def _quick(context: ChapterContext) -> ChapterResult:
    """The loop on the digits (seconds) and the sticker rendered, for CI."""
    # On 8×8 images, waking a second intra-op thread costs more than it saves.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _quick_run(context)
    finally:
        torch.set_num_threads(threads)


def _quick_run(context: ChapterContext) -> ChapterResult:
    from aisec.data import load as load_data

    train, test = load_data("digits", "train"), load_data("digits", "test")
    attack = make_attack(
        "badnets",
        rate=RATE,
        target=0,
        class_names=train.class_names,
        image_size=8,
        channels=1,
        seed=context.seed,
    )
    report = run_poisoning(
        attack,
        (train.images, train.labels),
        (test.images, test.labels),
        build_model=lambda: SmallCNN(1, 10, widths=(16, 32), hidden=64),
        train_config=TrainConfig(epochs=10, batch_size=64, lr=3e-3, seed=context.seed),
        class_names=train.class_names,
        dataset="digits",
        feature_layer="head.1",
        test_seed=context.seed,
        progress=context.progress,
    )
    sticker = StickerBackdoor(source="stop", target=TARGET, rate=RATE, seed=context.seed)
    stops = torch.full((8,), class_index("stop"))
    scenes = torch.cat(
        [
            sticker.render(stops, seed=context.seed, sticker=False),
            sticker.render(stops, seed=context.seed),
        ]
    )
    path, relative = context.figure_path(KEY, "sticker-scenes.png")
    save_image_grid(scenes, path, ncols=8)
    result = ChapterResult(
        summary=(
            "Quick mode: the poisoning loop on the digits with a narrow CNN (5% BadNets, a 2×2 "
            f"checkerboard): attack success {_pct(report.poisoned_model['attack_success'])}, "
            f"clean accuracy {_pct(report.poisoned_model['clean_accuracy'])} (clean model "
            f"{_pct(report.clean_model['clean_accuracy'])}), spectral recall (signed) "
            f"{_pct(report.detection['spectral_signatures_signed']['recall'])}, after cleaning "
            + ", ".join(
                f"with {name} {_pct(cleaned['attack_success'])}"
                for name, cleaned in report.cleaning.items()
            )
            + ". The signs targets are measured by the full tour (without --quick)."
        ),
        # "badnets" has the full tour's layout (on the digits here), so that the docs' markers
        # resolve in both modes; "digits_badnets" says which data it is.
        numbers={"badnets": report.to_dict(), "digits_badnets": report.to_dict()},
        tables=[_models_table(report, "Digits, BadNets 5%"), _detection_table(report)],
    )
    result.figures.append(
        Figure(relative, "The sticker trigger: the same scenes without (top) and with (bottom).")
    )
    for fig_path, caption in poisoning_figures(
        report, context.out_dir / "figures", f"{KEY}-digits"
    ):
        result.figures.append(Figure(str(fig_path.relative_to(context.out_dir)), caption))
    return result
