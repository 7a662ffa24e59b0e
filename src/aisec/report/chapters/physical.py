"""Tour chapter "physical": stickers that make the signs model read a stop sign as "speed limit
30", and a universal patch — measured on held-out physical conditions, with a control sticker.

Also home of :func:`write_scenario_outputs`, which writes a scenario's files and figures for the
chapter, ``aisec physical`` and ``examples/physical_attacks.py``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from aisec.attacks.physical.evaluate import PhysicalEvaluation, control_sticker, evaluate_signs
from aisec.attacks.physical.rp2 import RP2
from aisec.attacks.physical.scenario import ScenarioConfig, ScenarioResult, run_scenario
from aisec.data.signs import SIGN_CLASSES, canonical_sign, class_index
from aisec.report.figures import save_image_grid
from aisec.report.tour import ChapterContext, ChapterResult, Figure, Table

__all__ = ["quick_signs_model", "run_physical", "write_scenario_outputs"]

KEY = "physical"
_SHORT = {"speed limit 30": "limit 30", "speed limit 50": "limit 50", "speed limit 80": "limit 80"}


def _short(label: int, names: tuple[str, ...] | list[str]) -> str:
    name = names[label] if 0 <= label < len(names) else str(label)
    return _SHORT.get(name, name)[:16]


def _views_grid(
    evaluation: PhysicalEvaluation,
    path: Path,
    names: tuple[str, ...] | list[str],
    per_row: int = 8,
) -> Path | None:
    """One row of held-out views per variant, each titled with the model's prediction."""
    images: list[Tensor] = []
    titles: list[str] = []
    for variant, views in evaluation.views.items():
        shown = views[:per_row]
        predictions = evaluation.sets[variant].predictions
        images.append(shown.detach().cpu())
        titles += [f"{variant}: {_short(predictions[i], names)}" for i in range(shown.shape[0])]
    if not images:
        return None
    stacked = torch.cat(images)
    return save_image_grid(stacked, path, titles=titles, ncols=min(per_row, stacked.shape[0]))


def write_scenario_outputs(result: ScenarioResult, out_dir: str | Path) -> dict[str, Path]:
    """Write a scenario's files (:meth:`ScenarioResult.save`) and its figures.

    Figures: ``signs.png`` (clean sign, sign with the printed RP2 sticker, sign with the control
    sticker, the sticker alone), ``views.png`` (held-out views of each variant titled with the
    model's prediction) and ``patch_views.png`` / ``patch_imagenet_views.png`` when a patch ran.

    Args:
        result: from :func:`~aisec.attacks.physical.scenario.run_scenario`.
        out_dir: the directory (created).

    Returns:
        File role -> path, including ``metrics`` (``metrics.json``).
    """
    out = Path(out_dir)
    paths = result.save(out)
    rp2 = result.rp2
    white = torch.ones_like(rp2.sign)
    panel = torch.stack(
        [
            rp2.sign,
            rp2.adversarial_sign,
            result.control_sign,
            torch.where(rp2.mask > 0.5, rp2.sticker, white),
        ]
    ).cpu()
    paths["signs_figure"] = save_image_grid(
        panel,
        out / "signs.png",
        titles=["clean", "RP2 sticker (printed)", "control sticker", "sticker to print"],
        ncols=4,
        cell_inches=2.4,
    )
    views = _views_grid(result.evaluation, out / "views.png", SIGN_CLASSES)
    if views is not None:
        paths["views_figure"] = views
    if result.signs_patch_evaluation is not None:
        patch_views = _views_grid(
            result.signs_patch_evaluation, out / "patch_views.png", SIGN_CLASSES
        )
        if patch_views is not None:
            paths["patch_views_figure"] = patch_views
    if result.imagenet_patch_evaluation is not None:
        from aisec.data.imagenet_samples import imagenet_class_names

        imagenet_views = _views_grid(
            result.imagenet_patch_evaluation,
            out / "patch_imagenet_views.png",
            imagenet_class_names(),
            per_row=6,
        )
        if imagenet_views is not None:
            paths["patch_imagenet_views_figure"] = imagenet_views
    return paths


def quick_signs_model(seed: int = 0) -> nn.Module:
    """A small signs classifier trained in seconds (for the tour's quick mode), eval mode.

    Not the zoo's ``signs-cnn``: numbers measured on it say how the pipeline behaves, not how
    robust the default model is.
    """
    from aisec.data import load as load_data
    from aisec.models import SmallCNN, TrainConfig, train_classifier

    data = load_data("signs", "train", n=3_000, seed=seed)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = SmallCNN(3, len(SIGN_CLASSES), widths=(16, 32, 64), hidden=64)
    config = TrainConfig(epochs=5, batch_size=128, lr=4e-3, seed=seed)
    train_classifier(model, data.images, data.labels, config, progress=False)
    return model.eval()


def _sticker_sizes(model: nn.Module, config: ScenarioConfig, metrics: dict[str, Any]) -> Table:
    """Held-out targeted success of the default bars next to thinner bars (same settings)."""
    sign = canonical_sign(config.source)
    source, target = class_index(config.source), class_index(str(config.target))
    thin = RP2(steps=config.steps, batch_size=config.batch_size, seed=config.seed)(
        model, sign, "thin-bars", target=target, source=source
    )
    control = torch.where(
        thin.mask > 0.5, control_sticker(thin.mask, seed=config.seed + 1), sign.image
    )
    evaluation = evaluate_signs(
        model,
        {"rp2": thin.adversarial_sign, "control": control},
        sign.mask,
        source=source,
        target=target,
        n_conditions=config.n_conditions,
        seed=config.eval_seed,
    )
    rp2, control_default = metrics["rp2"], metrics["control"]
    return Table(
        "Sticker size: the default bars against thinner bars in the paper's proportions "
        "(same optimisation, same held-out conditions).",
        [
            {
                "sticker": config.mask,
                "share of the sign": metrics["sticker_area"],
                "RP2 read as target": rp2["targeted_success"],
                "control read as target": control_default["targeted_success"],
            },
            {
                "sticker": "thin-bars",
                "share of the sign": thin.sticker_area,
                "RP2 read as target": evaluation["rp2"].targeted_success,
                "control read as target": evaluation["control"].targeted_success,
            },
        ],
    )


def _rate(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1%}"


def run_physical(context: ChapterContext) -> ChapterResult:
    """Run the stop-sign scenario and report held-out success rates with figures."""
    from aisec.models import load as load_model

    if context.quick:
        model = quick_signs_model(context.seed)
        model_name = "a small CNN trained in seconds (quick mode)"
        config = ScenarioConfig(
            steps=100,
            batch_size=16,
            seed=context.seed,
            eval_seed=context.seed + 1,
            dataset_check=False,
            signs_patch=False,
        )
    else:
        model = load_model("signs-cnn", progress=context.progress)
        model_name = "the zoo's signs-cnn"
        config = ScenarioConfig(seed=context.seed, eval_seed=context.seed + 1)
    result = run_scenario(model, config)
    out = context.out_dir / "figures" / KEY
    paths = write_scenario_outputs(result, out)

    def relative(role: str) -> str:
        return str(paths[role].relative_to(context.out_dir))

    chapter = ChapterResult()
    metrics = result.metrics()
    chapter.numbers = {
        "n_conditions": metrics["n_conditions"],
        "sticker_area": metrics["sticker_area"],
        **{
            f"{variant}.{key}": metrics[variant][key]
            for variant in ("clean", "rp2", "control")
            for key in ("targeted_success", "source_accuracy")
        },
        "all_targets_met": metrics["all_targets_met"],
    }
    rows = [
        {
            "sign": label,
            "read as 'speed limit 30'": metrics[variant]["targeted_success"],
            "read as 'stop'": metrics[variant]["source_accuracy"],
        }
        for variant, label in (
            ("clean", "clean stop sign"),
            ("rp2", "RP2 sticker (printed colours)"),
            ("control", "control sticker (random printable colours)"),
        )
    ]
    chapter.tables.append(
        Table(
            f"Held-out evaluation on {metrics['n_conditions']} physical conditions (EOT, seed "
            f"{config.eval_seed}; the sticker was optimised with seed {config.seed}).",
            rows,
        )
    )
    if "dataset_renderer" in metrics:
        dataset = metrics["dataset_renderer"]
        chapter.numbers["dataset_renderer.rp2.targeted_success"] = dataset["rp2"][
            "targeted_success"
        ]
        chapter.tables.append(
            Table(
                "The same variants in scenes of the signs dataset's own renderer (not optimised "
                "against).",
                [
                    {
                        "sign": variant,
                        "read as target": dataset[variant]["targeted_success"],
                        "read as 'stop'": dataset[variant]["source_accuracy"],
                    }
                    for variant in ("clean", "rp2", "control")
                ],
            )
        )
    if not context.quick:
        table = _sticker_sizes(model, config, metrics)
        chapter.tables.append(table)
        chapter.numbers["thin_bars.sticker_area"] = table.rows[1]["share of the sign"]
        chapter.numbers["thin_bars.rp2.targeted_success"] = table.rows[1]["RP2 read as target"]
    if "patch_signs" in metrics:
        held_out = metrics["patch_signs"]["held_out"]
        chapter.numbers["patch_signs.targeted_success"] = held_out["patch"]["targeted_success"]
        chapter.numbers["patch_signs.control_targeted_success"] = held_out["control"][
            "targeted_success"
        ]
        chapter.tables.append(
            Table(
                f"A universal patch (Brown et al.) on held-out sign scenes and placements "
                f"({held_out['n_conditions']} conditions): fraction read as the target.",
                [
                    {
                        "scene": variant,
                        "read as target": held_out[variant]["targeted_success"],
                        "accuracy": held_out[variant]["source_accuracy"],
                    }
                    for variant in ("clean", "patch", "control")
                ],
            )
        )
    chapter.figures += [
        Figure(
            relative("signs_figure"),
            "The clean stop sign, with the printed RP2 sticker, with "
            "the control sticker, and the sticker to print (palette colours).",
        ),
        Figure(
            relative("views_figure"),
            "Held-out views (first 8 conditions) of each variant with the model's prediction.",
        ),
    ]
    if "patch_views_figure" in paths:
        chapter.figures.append(
            Figure(relative("patch_views_figure"), "Held-out scenes with and without the patch.")
        )
    summary = (
        f"RP2 stickers ({metrics['sticker_area']:.0%} of the sign, two bars above and below "
        f"'STOP', printed in {len(result.rp2.palette)} palette colours) were optimised over "
        f"{config.steps} x {config.batch_size} EOT views for {model_name}. On "
        f"{metrics['n_conditions']} held-out conditions the stop sign with the sticker is read as "
        f"'speed limit 30' in {_rate(metrics['rp2']['targeted_success'])} of them; with a "
        f"control sticker of the same shape in random printable colours in "
        f"{_rate(metrics['control']['targeted_success'])}; the clean sign is read as 'stop' in "
        f"{_rate(metrics['clean']['source_accuracy'])}."
    )
    unmet = result.unmet_targets()
    if unmet:
        summary += " Targets NOT reached: " + "; ".join(unmet) + "."
    else:
        summary += " All targets (RP2 >= 80%, control <= 5%, clean >= 95%) were reached."
    if context.quick:
        summary += " Quick mode: a small model and a short optimisation, not the zoo's model."
    chapter.summary = summary
    return chapter
