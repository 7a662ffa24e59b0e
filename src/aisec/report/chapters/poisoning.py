"""Tour chapter "poisoning": backdoors, how few poisons they need, and how to find them.

The chapter runs :func:`aisec.experiments.poisoning.run` with one of two plans and renders the
result. :data:`FULL`, on the signs data with the default signs model's architecture and
training recipe (its batch size and learning rate), on a 10,000-image training subset for 8
epochs (the recipe uses 20,000 for 4 epochs; ``aisec poison`` runs the full size): the same
number of steps on half the data, so the models train as well as the full recipe's within the
time budget:

1. BadNets, 5% of the training set, all-to-one to "speed limit 30": a clean model and a
   poisoned model (same initialisation and batch order), detection (spectral signatures with
   the paper's squared score, a signed score, and the signed score with the gap selection;
   activation clustering), then for each of spectral signatures (gap) and activation
   clustering: removal of its flags and retraining;
2. the physical-style sticker (a yellow square on the stop sign, read as "speed limit 30"),
   5% of the training set, against the same clean model (attack and detection);
3. the rate sweep: BadNets at 0.5% and 1% (and the 5% of step 1), same size and clean
   model (attack and detection).

:data:`QUICK` is the same loop on the digits with the digits model's recipe for 10 epochs, no
sticker case and no sweep; the chapter then draws the sticker on sign scenes without training.
Trained models are checkpointed in the aisec cache, keyed by their data, so a rerun resumes.

The targets below are the chapter's, for 5% BadNets on the signs model; the summary and the
``targets`` numbers say which were met.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import torch

from aisec.attacks.poisoning import StickerBackdoor
from aisec.cache import cache_dir
from aisec.data.signs import class_index
from aisec.evaluate.poisoning import PoisoningReport
from aisec.experiments import poisoning
from aisec.experiments.poisoning import PoisoningPlan, PoisoningResult
from aisec.report.figures import save_image_grid
from aisec.report.format import format_rate, target_record
from aisec.report.poisoning import plot_poison_sweep, poisoning_figures
from aisec.report.tour import ChapterContext, ChapterResult, Figure, Table

__all__ = [
    "FULL",
    "QUICK",
    "plan_for",
    "render",
    "run_poisoning_chapter",
    "run_with_plan",
]

KEY = "poisoning"

FULL = PoisoningPlan(
    dataset="signs",
    train_n=10_000,
    epochs=8,
    attack="badnets",
    rate=0.05,
    target="speed limit 30",
    sticker=True,
    sweep_rates=(0.005, 0.01, 0.05),
)
"""The tour's plan: signs, 10,000 training images for 8 epochs, BadNets 5%, the sticker case,
a rate sweep."""

QUICK = PoisoningPlan(
    dataset="digits",
    epochs=10,
    attack="badnets",
    rate=0.05,
    target="0",
    feature_layer="head.1",  # the pooled convolutional features of the 8×8 model
)
"""The quick tour's plan: the same loop on the digits, 10 epochs, no sticker case or sweep."""

MIN_ATTACK_SUCCESS = 0.9
"""Target: the share of triggered test signs the 5% BadNets model reads as the target."""
MAX_ACCURACY_DROP = 0.02
"""Target: the clean accuracy the poisoned model, and each model retrained after cleaning, may
lose against the model trained on clean data."""
SPECTRAL_DETECTOR = "spectral_signatures_gap"
"""The spectral detector the targets are about (Tran et al.'s, spending its budget only where
the scores split)."""
MIN_RECALL = 0.9
"""Target: the share of the poisons :data:`SPECTRAL_DETECTOR` must find..."""
MAX_REMOVED_PER_POISON = 2.0
"""...while flagging at most this many images per poison."""
MAX_CLEANED_SUCCESS = 0.05
"""Target: attack success after removing the flagged samples and retraining."""


def plan_for(context: ChapterContext) -> PoisoningPlan:
    """:data:`QUICK` or :data:`FULL`, seeded with the context's seed."""
    return dataclasses.replace(QUICK if context.quick else FULL, seed=context.seed)


def run_poisoning_chapter(context: ChapterContext) -> ChapterResult:
    """Run the chapter's plan for ``context`` (see the module docstring) and render it."""
    return run_with_plan(plan_for(context), context)


def run_with_plan(plan: PoisoningPlan, context: ChapterContext) -> ChapterResult:
    """Run ``plan`` (training checkpoints in the aisec cache) and render the result."""
    result = poisoning.run(plan, checkpoint_dir=cache_dir("poisoning"), progress=context.progress)
    return render(result, context)


def render(result: PoisoningResult, context: ChapterContext) -> ChapterResult:
    """The chapter's summary, numbers, tables and figures for ``result``."""
    plan, main = result.plan, result.report
    numbers: dict[str, Any] = {
        "setup": {
            "train_examples": main.train_examples,
            "test_examples": main.test_examples,
            "model": result.model_name,
            "recipe": main.training,
            "full_recipe_train_examples": result.recipe_train_examples,
        },
        plan.attack: main.to_dict(),
    }
    if plan.dataset != "signs":
        # The main run stays under the attack's key, as in the full plan, so that the docs'
        # markers resolve in both modes; this key says which data it is.
        numbers[f"{plan.dataset}_{plan.attack}"] = main.to_dict()
    if result.sticker is not None:
        numbers["sticker"] = result.sticker.to_dict()
        numbers["sticker_target_class"] = _target_class_findings(result.sticker, result.class_names)
    if result.sweep:
        numbers["sweep"] = [report.to_dict() for report in result.sweep]
    if plan.dataset == "signs":
        numbers["targets"] = _targets(main)

    tables = [Table(_models_caption(main), result.rows())]
    if result.sticker is not None:
        tables.append(Table(_models_caption(result.sticker), poisoning.model_rows(result.sticker)))
    detection = result.detection_rows()
    if detection:
        tables.append(
            Table(
                "Detection of the poisoned training samples (penultimate activations).", detection
            )
        )
    if result.sweep:
        tables.append(
            Table(
                f"{_ATTACK_TITLES[plan.attack]} poison-rate sweep "
                f"({result.sweep[0].train_examples} training images).",
                result.sweep_rows(),
            )
        )

    figures: list[Figure] = []
    directory = context.out_dir / "figures"
    cases = [(plan.attack, main)]
    if result.sticker is not None:
        cases.append(("sticker", result.sticker))
    for name, report in cases:
        written = poisoning_figures(report, directory, f"{KEY}-{name}", result.class_names)
        for path, caption in written:
            figures.append(Figure(str(path.relative_to(context.out_dir)), caption))
    if result.sweep:
        path, relative = context.figure_path(KEY, "sweep.png")
        plot_poison_sweep(result.sweep, path)
        figures.append(
            Figure(
                relative,
                f"{_ATTACK_TITLES[plan.attack]}: the poisoned model's attack success and clean "
                "accuracy against the poisoned share (95% intervals); dashed: the model trained "
                "on clean data.",
            )
        )
    if result.sticker is None:
        figures.append(_sticker_scenes(context, plan.seed))
    chapter = ChapterResult(
        summary=_summary(result), numbers=numbers, tables=tables, figures=figures
    )
    if plan.dataset == "signs":
        chapter.targets_checked = len(numbers["targets"])
        chapter.targets_not_reached = _missed(numbers["targets"])
    return chapter


# -- figures, text and targets -------------------------------------------------------------------


_ATTACK_TITLES = {"badnets": "BadNets", "sticker": "Sticker", "clean-label": "Clean-label"}


def _sticker_scenes(context: ChapterContext, seed: int, count: int = 8) -> Figure:
    """The sticker trigger drawn on sign scenes, without and with it (no training)."""
    sticker = StickerBackdoor(source="stop", target="speed limit 30", rate=0.05, seed=seed)
    stops = torch.full((count,), class_index("stop"))
    scenes = torch.cat(
        [sticker.render(stops, seed=seed, sticker=False), sticker.render(stops, seed=seed)]
    )
    path, relative = context.figure_path(KEY, "sticker-scenes.png")
    save_image_grid(scenes, path, ncols=count)
    return Figure(relative, "The sticker trigger: the same scenes without (top) and with (bottom).")


def _targets(report: PoisoningReport) -> dict[str, dict[str, Any]]:
    """The chapter's targets for 5% BadNets, with the measured values and whether they are met."""
    clean_accuracy = report.clean_model["clean_accuracy"]
    targets: dict[str, dict[str, Any]] = {
        "attack_success": target_record(
            report.poisoned_model["attack_success"], ">=", MIN_ATTACK_SUCCESS
        ),
        "clean_accuracy_drop": target_record(
            clean_accuracy - report.poisoned_model["clean_accuracy"], "<=", MAX_ACCURACY_DROP
        ),
    }
    spectral = report.detection.get(SPECTRAL_DETECTOR)
    if spectral is not None:
        targets[f"{SPECTRAL_DETECTOR}_recall"] = target_record(spectral["recall"], ">=", MIN_RECALL)
        targets[f"{SPECTRAL_DETECTOR}_flagged_per_poison"] = target_record(
            spectral["flagged"] / max(spectral["poisoned"], 1), "<=", MAX_REMOVED_PER_POISON
        )
    for name, cleaned in report.cleaning.items():
        targets[f"attack_success_after_cleaning_with_{name}"] = target_record(
            cleaned["attack_success"], "<=", MAX_CLEANED_SUCCESS
        )
        targets[f"clean_accuracy_drop_after_cleaning_with_{name}"] = target_record(
            clean_accuracy - cleaned["clean_accuracy"], "<=", MAX_ACCURACY_DROP
        )
    return targets


def _models_caption(report: PoisoningReport) -> str:
    rate = f"{100 * report.poison_rate:g}%"
    if report.attack["attack"] == "badnets":
        case = f"BadNets ({rate}, checkerboard in the corner)"
    elif report.attack["attack"] == "sticker":
        case = f"Sticker on the {report.source} sign ({rate})"
    else:
        case = f"Clean-label ({rate}, perturbed target-class images with the trigger)"
    return f"{case}: {report.triggered_examples} triggered test images."


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}%"


def _fmt(value: Any) -> str:
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def _summary(result: PoisoningResult) -> str:
    paragraphs = [_attack_paragraph(result), _detection_paragraph(result)]
    if result.sticker is not None:
        paragraphs.append(_sticker_paragraph(result.sticker))
    if result.sweep:
        paragraphs.append(
            "Rate sweep (same size and clean model): "
            + "; ".join(
                f"{_pct(r.poison_rate)} → attack success {_pct(r.poisoned_model['attack_success'])}"
                for r in result.sweep
            )
            + "."
        )
    paragraphs.append(_targets_paragraph(result))
    return "\n\n".join(p for p in paragraphs if p)


def _attack_paragraph(result: PoisoningResult) -> str:
    main, plan = result.report, result.plan
    if main.attack["attack"] == "badnets":
        height, width = main.attack["trigger_size"]
        trigger = f'a {height}×{width} checkerboard in the corner, relabelled "{main.target}"'
    elif main.attack["attack"] == "clean-label":
        trigger = f'a checkerboard, images of "{main.target}" kept with their own label'
    else:
        trigger = f'a sticker, relabelled "{main.target}"'
    success = result.rows()[1]["attack success"]  # the model trained on poisoned data
    epochs = main.training["epochs"]
    recipe = ""
    if result.recipe_train_examples != main.train_examples:
        recipe = (
            f" (the recipe uses {result.recipe_train_examples:,}: `aisec poison` runs that size)"
        )
    return (
        "A backdoored model is accurate on clean inputs and obeys a trigger. Poisoning "
        f"{main.poisoned_examples} of {main.train_examples} {plan.dataset} training images "
        f"({_pct(main.poison_rate)}) with {trigger}, gives a model that "
        f"reads {format_rate(success)} of triggered test images of other classes as the "
        f"target, with clean accuracy {_pct(main.poisoned_model['clean_accuracy'])} against "
        f"{_pct(main.clean_model['clean_accuracy'])} for the same model trained on clean data "
        f"(which the trigger fools {_pct(main.clean_model['attack_success'])} of the time). "
        f"Sizes: the {result.model_name} architecture and recipe "
        f"({epochs} epoch{'' if epochs == 1 else 's'}) on {main.train_examples} training "
        f"images{recipe}, "
        f"{main.test_examples} test images."
    )


def _detection_paragraph(result: PoisoningResult) -> str:
    main = result.report
    detection = main.detection
    sentences = []
    spectral = detection.get("spectral_signatures")
    signed = detection.get("spectral_signatures_signed")
    gap = detection.get("spectral_signatures_gap")
    if spectral is not None or signed is not None or gap is not None:
        known = (
            "the poisoned share of the most-poisoned class (assumed known, as in the paper)"
            if result.plan.expected_fraction is None
            else "the defender's bound"
        )
        sentences.append(
            "Spectral signatures (Tran et al.) score every image along the top singular "
            "direction of its class's penultimate activations and may remove 1.5·ε of a class, "
            f"with ε = {main.expected_fraction:.2f}, {known}."
        )
        for metrics, what in (
            (spectral, "The paper's rule (squared score, 1.5·ε of every class)"),
            (signed, "A signed score that keeps the side of the class's minority, same rule,"),
            (
                gap,
                "The signed score removing only the upper population of a class whose "
                "scores split in two (the gap selection)",
            ),
        ):
            if metrics is not None:
                sentences.append(
                    f"{what} flags {metrics['flagged']} images for {metrics['poisoned']} "
                    f"poisons: recall {_pct(metrics['recall'])}, precision "
                    f"{_pct(metrics['precision'])}."
                )
    clustering = detection.get("activation_clustering")
    if clustering is not None:
        sentences.append(
            "Activation clustering (Chen et al.) flags the smaller 2-means cluster of classes "
            f"that split cleanly: {clustering['flagged']} images, recall "
            f"{_pct(clustering['recall'])}, precision {_pct(clustering['precision'])}."
        )
    if main.cleaning:
        after = "; ".join(
            f"with the flags of {name} ({cleaned['removed']} images removed, "
            f"{cleaned['poisoned_left']} poisons left) attack success is "
            f"{_pct(cleaned['attack_success'])} at clean accuracy "
            f"{_pct(cleaned['clean_accuracy'])}"
            for name, cleaned in main.cleaning.items()
        )
        sentences.append(
            f"After removing flagged samples and retraining: {after} (the model trained on "
            f"clean data: {_pct(main.clean_model['attack_success'])} and "
            f"{_pct(main.clean_model['clean_accuracy'])})."
        )
    return " ".join(sentences)


def _sticker_paragraph(sticker: PoisoningReport) -> str:
    found = [
        f"{label} {_pct(sticker.detection[name]['recall'])} (its scores rank the poisons above "
        f"the clean signs of their class with AUC {_auc(sticker.detection[name])})"
        for name, label in (
            ("spectral_signatures_gap", "spectral signatures (gap) find"),
            ("activation_clustering", "activation clustering"),
        )
        if name in sticker.detection
    ]
    detection = f" Of these poisons, {', '.join(found)}." if found else ""
    return (
        "A yellow sticker on the stop sign itself — rendered through the same viewpoints, "
        "lighting, blur and occlusions as the data — poisoning "
        f"{sticker.poisoned_examples} stop signs makes the model read "
        f"{_pct(sticker.poisoned_model['attack_success'])} of stickered stop signs as "
        f'"{sticker.target}"; it reads {_pct(sticker.poisoned_model["untriggered_accuracy"])} of '
        "the same scenes without the sticker correctly (the clean model: "
        f"{_pct(sticker.clean_model['untriggered_accuracy'])}), since a poisoned share of the "
        f"stop signs was relabelled.{detection}"
    )


_FINDINGS = {"spectral_signatures_gap": "valley", "activation_clustering": "silhouette"}
"""The per-class statistic each detector decides on (a class is flagged on one side of it)."""


def _target_class_findings(
    report: PoisoningReport, class_names: tuple[str, ...]
) -> dict[str, dict[str, float]]:
    """Per detector of :data:`_FINDINGS`: its statistic in the target class and the range over
    the other classes, so a reader sees where the poisoned class stands."""
    if report.target is None:
        return {}
    target = str(class_names.index(report.target))
    findings = {}
    for detector, key in _FINDINGS.items():
        per_class = report.detection.get(detector, {}).get("per_class", {})
        others = [info[key] for label, info in per_class.items() if label != target and key in info]
        if key in per_class.get(target, {}) and others:
            findings[detector] = {
                key: per_class[target][key],
                f"others_min_{key}": min(others),
                f"others_max_{key}": max(others),
            }
    return findings


def _auc(metrics: dict[str, Any]) -> str:
    value = metrics.get("score_auc")
    return "n/a" if value is None else f"{value:.2f}"


def _targets_paragraph(result: PoisoningResult) -> str:
    if result.plan.dataset != "signs":
        return (
            f"The chapter's targets (attack success ≥ {_pct(MIN_ATTACK_SUCCESS)}, clean accuracy "
            f"drop ≤ {_pct(MAX_ACCURACY_DROP)}, spectral recall ≥ {_pct(MIN_RECALL)} with at most "
            f"{MAX_REMOVED_PER_POISON:g} images flagged per poison, attack success after "
            f"cleaning ≤ {_pct(MAX_CLEANED_SUCCESS)}) are stated for the signs "
            f"model; this run used the {result.plan.dataset}."
        )
    missed = _missed(_targets(result.report))
    if not missed:
        return "All targets of the chapter were reached in this run."
    return "Targets NOT reached in this run: " + ", ".join(missed) + "."


def _missed(targets: dict[str, dict[str, Any]]) -> list[str]:
    """A line for each target of :func:`_targets` that was not met."""
    return [
        f"{name} = {_fmt(target['value'])} (target {target['target']})"
        for name, target in targets.items()
        if not target["met"]
    ]
