"""The physical experiment's files and figures, and the targets the tutorial holds it to.

:func:`write_physical_outputs` writes what ``aisec physical``, the tour's "physical" chapter and
``examples/physical_attacks.py`` leave on disk: the printable sticker, the signs, the patches,
``metrics.json`` and the figures. :data:`TARGETS` are the acceptance targets the tutorial states
for the stop-sign attack on held-out conditions; the experiment itself reports measured values
only, and :func:`check_targets` compares them with the targets.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from aisec.attacks.physical._common import save_rgba_png
from aisec.data.signs import SIGN_CLASSES
from aisec.evaluate.physical import PhysicalEvaluation
from aisec.experiments.physical import PhysicalResult
from aisec.files import atomic_write_json
from aisec.report.figures import save_image_grid

__all__ = [
    "TARGETS",
    "check_targets",
    "metrics_with_targets",
    "save_physical_files",
    "unmet_targets",
    "write_physical_outputs",
]

TARGETS: dict[str, tuple[str, str, str, float]] = {
    "rp2_targeted_success": ("rp2", "targeted_success", ">=", 0.80),
    "control_targeted_success": ("control", "targeted_success", "<=", 0.05),
    "clean_source_accuracy": ("clean", "source_accuracy", ">=", 0.95),
}
"""Acceptance targets on held-out conditions: name -> (variant, metric, comparison, bound)."""

Targets = Mapping[str, tuple[str, str, str, float]]

_SHORT = {"speed limit 30": "limit 30", "speed limit 50": "limit 50", "speed limit 80": "limit 80"}


def check_targets(
    metrics: Mapping[str, Any], targets: Targets = TARGETS
) -> dict[str, dict[str, Any]]:
    """Each target with its measured value and whether it was met.

    Args:
        metrics: :meth:`~aisec.experiments.physical.PhysicalResult.metrics`.
        targets: name -> ``(variant, metric, comparison, bound)``, comparison ``">="`` or
            ``"<="``.

    Returns:
        Name -> ``{"value", "required", "met"}`` (``met`` is ``None`` where the value is
        unknown, e.g. a targeted success of an untargeted attack).
    """
    out: dict[str, dict[str, Any]] = {}
    for name, (variant, metric, comparison, bound) in targets.items():
        if comparison not in (">=", "<="):
            raise ValueError(
                f"target {name!r}: comparison must be '>=' or '<=', got {comparison!r}"
            )
        value = metrics[variant][metric]
        met = None
        if value is not None:
            met = value >= bound if comparison == ">=" else value <= bound
        out[name] = {"value": value, "required": f"{comparison} {bound}", "met": met}
    return out


def unmet_targets(metrics: Mapping[str, Any], targets: Targets = TARGETS) -> list[str]:
    """Plain-language lines for every target that was not reached (empty if all were)."""
    lines = []
    for name, record in check_targets(metrics, targets).items():
        if record["met"] is False:
            lines.append(f"{name} = {record['value']:.3f} (required {record['required']})")
    return lines


def metrics_with_targets(result: PhysicalResult, targets: Targets = TARGETS) -> dict[str, Any]:
    """The content of ``metrics.json``: the result's metrics with the targets checked.

    Keys: those of :meth:`~aisec.experiments.physical.PhysicalResult.metrics`, with
    ``targets`` (each target: value, required, met) and ``all_targets_met`` after ``control``.
    """
    metrics = result.metrics()
    checked = check_targets(metrics, targets)
    out: dict[str, Any] = {}
    for key, value in metrics.items():
        out[key] = value
        if key == "control":
            out["targets"] = checked
            out["all_targets_met"] = all(record["met"] is not False for record in checked.values())
    return out


def save_physical_files(
    result: PhysicalResult, out_dir: str | Path, targets: Targets = TARGETS
) -> dict[str, Path]:
    """Write the printable sticker, the signs, the patches and ``metrics.json``.

    Files: ``sticker.png`` (RGBA, palette colours, transparent outside the sticker, at the
    canonical sign's resolution), ``sign_clean.png``, ``sign_rp2.png``, ``sign_control.png``,
    ``patch_signs.png`` / ``patch_imagenet.png`` when run, and ``metrics.json`` (see
    :func:`metrics_with_targets`).

    Args:
        result: from :func:`aisec.experiments.physical.run`.
        out_dir: the directory (created).
        targets: the targets checked in ``metrics.json``.

    Returns:
        File role -> path.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rp2 = result.rp2
    paths = {
        "sticker": rp2.save_sticker_png(out / "sticker.png"),
        "sign_clean": save_rgba_png(rp2.sign, rp2.sign_mask, out / "sign_clean.png"),
        "sign_rp2": save_rgba_png(rp2.adversarial_sign, rp2.sign_mask, out / "sign_rp2.png"),
        "sign_control": save_rgba_png(result.control_sign, rp2.sign_mask, out / "sign_control.png"),
    }
    if result.signs_patch is not None:
        paths["patch_signs"] = result.signs_patch.save_png(out / "patch_signs.png")
    if result.imagenet_patch is not None:
        paths["patch_imagenet"] = result.imagenet_patch.save_png(out / "patch_imagenet.png")
    metrics = out / "metrics.json"
    atomic_write_json(metrics, metrics_with_targets(result, targets))
    paths["metrics"] = metrics
    return paths


def _short(label: int, names: Sequence[str]) -> str:
    name = names[label] if 0 <= label < len(names) else str(label)
    return _SHORT.get(name, name)[:16]


def _views_grid(
    evaluation: PhysicalEvaluation, path: Path, names: Sequence[str], per_row: int = 8
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


def write_physical_outputs(
    result: PhysicalResult, out_dir: str | Path, targets: Targets = TARGETS
) -> dict[str, Path]:
    """Write the experiment's files (:func:`save_physical_files`) and its figures.

    Figures: ``signs.png`` (clean sign, sign with the printed RP2 sticker, sign with the control
    sticker, the sticker alone), ``views.png`` (held-out views of each variant titled with the
    model's prediction) and ``patch_views.png`` / ``patch_imagenet_views.png`` when a patch ran.

    Args:
        result: from :func:`aisec.experiments.physical.run`.
        out_dir: the directory (created).
        targets: the targets checked in ``metrics.json``.

    Returns:
        File role -> path, including ``metrics`` (``metrics.json``), ``signs_figure`` and,
        when views were kept, ``views_figure``.
    """
    out = Path(out_dir)
    paths = save_physical_files(result, out, targets)
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
