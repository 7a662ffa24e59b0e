"""The stop-sign scenario end to end: RP2 stickers, a control sticker, adversarial patches, and
their held-out evaluation (what ``examples/physical_attacks.py``, ``aisec physical`` and the
tour's "physical" chapter run).

1. RP2 optimises a sticker (default: two bars above and below "STOP") on the canonical source
   sign for the target class over EOT views (seed ``seed``), and quantizes it to the palette.
2. A control sticker of the same mask gets random palette colours.
3. The clean sign, the sign with the printed RP2 sticker and the sign with the control sticker
   are read under the same ``n_conditions`` held-out conditions (seed ``eval_seed``), drawn by
   the EOT module and, as a cross-check, by the signs dataset's own renderer.
4. Optionally, a universal patch is trained on sign scenes (train split) for the same target
   and evaluated on held-out scenes (test split) and placements, and one on EfficientNet-Lite0
   with the bundled photos (e.g. -> "toaster"), evaluated on photos it never saw.

:data:`TARGETS` are the issue's acceptance targets; :meth:`ScenarioResult.metrics` reports each
with whether it was met, and nothing is rounded up.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from aisec.attacks.physical._common import check_int, class_name, resolve_class, save_rgba_png
from aisec.attacks.physical.evaluate import (
    PhysicalEvaluation,
    control_sticker,
    evaluate_patch,
    evaluate_signs,
)
from aisec.attacks.physical.masks import STICKER_SHAPES, load_mask_png
from aisec.attacks.physical.patch import AdversarialPatch, PatchResult
from aisec.attacks.physical.rp2 import RP2, RP2Result
from aisec.data.signs import canonical_sign

__all__ = ["TARGETS", "ScenarioConfig", "ScenarioResult", "run_scenario"]

TARGETS: dict[str, tuple[str, str, str, float]] = {
    "rp2_targeted_success": ("rp2", "targeted_success", ">=", 0.80),
    "control_targeted_success": ("control", "targeted_success", "<=", 0.05),
    "clean_source_accuracy": ("clean", "source_accuracy", ">=", 0.95),
}
"""Acceptance targets on held-out conditions: name -> (variant, metric, comparison, bound)."""

SIGN_SIZE = 256
"""Side of the canonical sign (and of the printable sticker) in pixels."""


@dataclass(frozen=True)
class ScenarioConfig:
    """Settings of :func:`run_scenario`.

    Attributes:
        source: the sign class the stickers go on.
        target: the class the stickers should make the model read (``None``: untargeted).
        mask: a built-in sticker shape (see ``STICKER_SHAPES``) or the path of a PNG mask of
            ``256 x 256`` pixels.
        steps: RP2 Adam steps; ``batch_size`` EOT views per step.
        n_conditions: held-out conditions per variant (at least 200 for the reported numbers).
        seed: seed of the optimisation; ``eval_seed`` of the held-out conditions (different).
        dataset_check: also evaluate under the signs dataset's renderer.
        signs_patch: also train and evaluate a universal patch on sign scenes.
        patch_steps: its Adam steps.
        imagenet_patch: also train and evaluate a patch on EfficientNet-Lite0 and the photos.
        imagenet_steps: its Adam steps (each costs four 224-px forward/backward passes: the
            ImageNet patch takes several minutes on a CPU, and a few hundred steps are far fewer
            than Brown et al. used; the metrics say how far it got).
        imagenet_target: its target ImageNet class name.
        keep_views: views per variant kept for the figures.
    """

    source: str = "stop"
    target: str | None = "speed limit 30"
    mask: str = "bars"
    steps: int = 300
    batch_size: int = 32
    n_conditions: int = 200
    seed: int = 0
    eval_seed: int = 1
    dataset_check: bool = True
    signs_patch: bool = True
    patch_steps: int = 150
    imagenet_patch: bool = False
    imagenet_steps: int = 200
    imagenet_target: str = "toaster"
    keep_views: int = 16

    def __post_init__(self) -> None:
        source = resolve_class("source", self.source)
        if self.target is not None and resolve_class("target", self.target) == source:
            raise ValueError(
                f"target must differ from the source, got {self.target!r} for both; use "
                "target=None for an untargeted attack"
            )
        check_int("steps", self.steps, 1)
        check_int("batch_size", self.batch_size, 1)
        check_int("n_conditions", self.n_conditions, 1)
        check_int("seed", self.seed, 0)
        check_int("eval_seed", self.eval_seed, 0)
        check_int("patch_steps", self.patch_steps, 1)
        check_int("imagenet_steps", self.imagenet_steps, 1)
        check_int("keep_views", self.keep_views, 0)
        if self.eval_seed == self.seed:
            raise ValueError(
                f"eval_seed must differ from seed ({self.seed}): held-out conditions must not be "
                "the ones the attack was optimised on"
            )
        if self.mask not in STICKER_SHAPES and not Path(self.mask).is_file():
            known = ", ".join(repr(k) for k in STICKER_SHAPES)
            raise ValueError(
                f"mask must be a built-in shape ({known}) or an existing PNG file, got "
                f"{self.mask!r}"
            )


@dataclass
class ScenarioResult:
    """Everything :func:`run_scenario` produced.

    Attributes:
        config: the settings.
        rp2: the RP2 sticker and attacked sign.
        control_sign: ``(3, S, S)`` the sign with the control sticker.
        evaluation: held-out evaluation (EOT renderer) of ``clean``, ``rp2``, ``control``.
        dataset_evaluation: the same under the dataset's renderer, if requested.
        signs_patch, signs_patch_evaluation: the patch on sign scenes and its evaluation.
        imagenet_patch, imagenet_patch_evaluation: the patch on EfficientNet-Lite0; evaluated
            on held-out photos (``imagenet_patch_seen_photos``: on the training photos, with
            held-out placements).
        time_s: wall-clock seconds.
    """

    config: ScenarioConfig
    rp2: RP2Result
    control_sign: Tensor
    evaluation: PhysicalEvaluation
    dataset_evaluation: PhysicalEvaluation | None = None
    signs_patch: PatchResult | None = None
    signs_patch_evaluation: PhysicalEvaluation | None = None
    imagenet_patch: PatchResult | None = None
    imagenet_patch_evaluation: PhysicalEvaluation | None = None
    imagenet_patch_seen_photos: PhysicalEvaluation | None = None
    time_s: float = 0.0

    def targets(self) -> dict[str, dict[str, Any]]:
        """Each acceptance target of :data:`TARGETS` with its measured value and whether met."""
        out: dict[str, dict[str, Any]] = {}
        for name, (variant, metric, comparison, bound) in TARGETS.items():
            value = getattr(self.evaluation.sets[variant], metric)
            met = None
            if value is not None:
                met = value >= bound if comparison == ">=" else value <= bound
            out[name] = {"value": value, "required": f"{comparison} {bound}", "met": met}
        return out

    def unmet_targets(self) -> list[str]:
        """Plain-language lines for every target that was not reached (empty if all were)."""
        lines = []
        for name, record in self.targets().items():
            if record["met"] is False:
                lines.append(f"{name} = {record['value']:.3f} (required {record['required']})")
        return lines

    def metrics(self) -> dict[str, Any]:
        """The content of ``metrics.json``.

        Keys: ``source``, ``target``, ``mask``, ``sticker_area``, ``n_conditions`` (held-out
        conditions per variant), ``seed`` and ``eval_seed``; ``clean``, ``rp2`` and ``control``,
        each with ``targeted_success``, ``source_accuracy``, ``misclassification`` and
        ``mean_target_probability`` on the held-out conditions (EOT renderer); ``targets`` (each
        acceptance target: value, required, met) and ``all_targets_met``;
        ``dataset_renderer`` (the same under the signs dataset's renderer), ``patch_signs``,
        ``patch_imagenet`` when run; ``rp2_attack`` (the attack's settings and cost) and
        ``time_s``.
        """
        evaluation = self.evaluation.to_dict()
        targets = self.targets()
        out: dict[str, Any] = {
            "source": class_name(self.rp2.source),
            "target": None if self.rp2.target is None else class_name(self.rp2.target),
            "mask": self.config.mask,
            "sticker_area": self.rp2.sticker_area,
            "n_conditions": self.evaluation.n_conditions,
            "seed": self.config.seed,
            "eval_seed": self.config.eval_seed,
            "clean": evaluation["clean"],
            "rp2": evaluation["rp2"],
            "control": evaluation["control"],
            "targets": targets,
            "all_targets_met": all(record["met"] is not False for record in targets.values()),
        }
        if self.dataset_evaluation is not None:
            out["dataset_renderer"] = self.dataset_evaluation.to_dict()
        if self.signs_patch is not None and self.signs_patch_evaluation is not None:
            out["patch_signs"] = {
                "held_out": self.signs_patch_evaluation.to_dict(),
                "attack": _without_history(self.signs_patch.to_dict()),
            }
        if self.imagenet_patch is not None and self.imagenet_patch_evaluation is not None:
            out["patch_imagenet"] = {
                "held_out_photos": self.imagenet_patch_evaluation.to_dict(),
                "seen_photos_held_out_placements": None
                if self.imagenet_patch_seen_photos is None
                else self.imagenet_patch_seen_photos.to_dict(),
                "attack": _without_history(self.imagenet_patch.to_dict()),
            }
        out["rp2_attack"] = self.rp2.to_dict()
        out["config"] = asdict(self.config)
        out["time_s"] = self.time_s
        return out

    def save(self, out_dir: str | Path) -> dict[str, Path]:
        """Write the printable sticker, the signs, the patches and ``metrics.json``.

        Files: ``sticker.png`` (RGBA, palette colours, transparent outside the sticker, at the
        canonical sign's resolution), ``sign_clean.png``, ``sign_rp2.png``,
        ``sign_control.png``, ``patch_signs.png`` / ``patch_imagenet.png`` when run, and
        ``metrics.json`` (see :meth:`metrics`).

        Returns:
            File role -> path.
        """
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        rp2 = self.rp2
        paths = {
            "sticker": rp2.save_sticker_png(out / "sticker.png"),
            "sign_clean": save_rgba_png(rp2.sign, rp2.sign_mask, out / "sign_clean.png"),
            "sign_rp2": save_rgba_png(rp2.adversarial_sign, rp2.sign_mask, out / "sign_rp2.png"),
            "sign_control": save_rgba_png(
                self.control_sign, rp2.sign_mask, out / "sign_control.png"
            ),
        }
        if self.signs_patch is not None:
            paths["patch_signs"] = self.signs_patch.save_png(out / "patch_signs.png")
        if self.imagenet_patch is not None:
            paths["patch_imagenet"] = self.imagenet_patch.save_png(out / "patch_imagenet.png")
        metrics = out / "metrics.json"
        metrics.write_text(json.dumps(self.metrics(), indent=2))
        paths["metrics"] = metrics
        return paths


def _without_history(record: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in record.items() if key != "history"}


def run_scenario(
    model: nn.Module,
    config: ScenarioConfig | None = None,
    *,
    imagenet_model: nn.Module | None = None,
) -> ScenarioResult:
    """Run the stop-sign scenario (see the module docstring) on a signs classifier.

    Args:
        model: a classifier of ``(N, 3, 32, 32)`` sign images in ``[0, 1]`` over the sign
            classes, e.g. ``aisec.models.load("signs-cnn")``.
        config: the settings; default :class:`ScenarioConfig`.
        imagenet_model: the ImageNet model for the photo patch (default: EfficientNet-Lite0
            from the zoo, loaded only if ``config.imagenet_patch``).

    Returns:
        A :class:`ScenarioResult`; :meth:`ScenarioResult.save` writes its files.
    """
    start = time.perf_counter()
    config = ScenarioConfig() if config is None else config
    if not isinstance(config, ScenarioConfig):
        raise TypeError(f"config must be a ScenarioConfig, got {type(config).__name__}")
    sign = canonical_sign(config.source, size=SIGN_SIZE)
    source = resolve_class("source", config.source)
    target = None if config.target is None else resolve_class("target", config.target)
    mask: Tensor | str = config.mask
    if config.mask not in STICKER_SHAPES:
        mask = load_mask_png(config.mask)
    attack = RP2(steps=config.steps, batch_size=config.batch_size, seed=config.seed)
    rp2 = attack(model, sign, mask, target=target, source=source)
    control = torch.where(rp2.mask > 0.5, control_sticker(rp2.mask, seed=config.seed + 1), rp2.sign)
    variants = {"clean": rp2.sign, "rp2": rp2.adversarial_sign, "control": control}
    common: dict[str, Any] = {
        "source": source,
        "target": target,
        "n_conditions": config.n_conditions,
        "seed": config.eval_seed,
        "keep_views": config.keep_views,
    }
    evaluation = evaluate_signs(model, variants, rp2.sign_mask, **common)
    result = ScenarioResult(config=config, rp2=rp2, control_sign=control, evaluation=evaluation)
    if config.dataset_check:
        result.dataset_evaluation = evaluate_signs(
            model, variants, rp2.sign_mask, renderer="dataset", **common
        )
    if config.signs_patch:
        _signs_patch(model, config, result)
    if config.imagenet_patch:
        _imagenet_patch(imagenet_model, config, result)
    result.time_s = time.perf_counter() - start
    return result


def _signs_patch(model: nn.Module, config: ScenarioConfig, result: ScenarioResult) -> None:
    """Train a universal patch on training sign scenes; evaluate on test scenes."""
    from aisec.data import load as load_data

    target = config.target if config.target is not None else "speed limit 30"
    train = load_data("signs", "train", n=1_000, seed=config.seed)
    test = load_data("signs", "test", n=500, seed=config.seed)
    attack = AdversarialPatch(size=32, steps=config.patch_steps, batch_size=32, seed=config.seed)
    patch = attack(model, train.images, target=target, labels=train.labels)
    result.signs_patch = patch
    result.signs_patch_evaluation = evaluate_patch(
        model,
        {"clean": None, "patch": patch.patch, "control": _control_patch(patch, config.seed)},
        patch.mask,
        test.images,
        target=target,
        labels=test.labels,
        n_conditions=config.n_conditions,
        seed=config.eval_seed,
        keep_views=config.keep_views,
    )


def _imagenet_patch(
    model: nn.Module | None, config: ScenarioConfig, result: ScenarioResult
) -> None:
    """Train a patch on 4 bundled photos; evaluate on the 3 others (and on the 4)."""
    from aisec.data.imagenet_samples import imagenet_class_names, load_photos

    if model is None:
        from aisec.models import load as load_model

        model = load_model("efficientnet-lite0")
    photos, labels, _ = load_photos(224)
    names = imagenet_class_names()
    seen, unseen = slice(0, 4), slice(4, None)
    attack = AdversarialPatch(
        size=64,
        steps=config.imagenet_steps,
        batch_size=4,
        lr=0.03,
        image_size=224,
        seed=config.seed,
    )
    patch = attack(
        model,
        photos[seen],
        target=config.imagenet_target,
        labels=labels[seen],
        class_names=names,
    )
    variants = {"clean": None, "patch": patch.patch, "control": _control_patch(patch, config.seed)}
    result.imagenet_patch = patch
    common: dict[str, Any] = {
        "target": config.imagenet_target,
        "class_names": names,
        "n_conditions": config.n_conditions,
        "seed": config.eval_seed,
        "batch_size": 25,
    }
    result.imagenet_patch_evaluation = evaluate_patch(
        model,
        variants,
        patch.mask,
        photos[unseen],
        labels=labels[unseen],
        keep_views=config.keep_views,
        **common,
    )
    # The photos it was trained on, at held-out placements (the patch only: 224-px forward
    # passes are what makes this part slow on a CPU).
    result.imagenet_patch_seen_photos = evaluate_patch(
        model, {"patch": patch.patch}, patch.mask, photos[seen], labels=labels[seen], **common
    )


def _control_patch(patch: PatchResult, seed: int) -> Tensor:
    """A patch of the same shape and size with random palette colours (a control)."""
    return control_sticker(patch.mask, seed=seed + 2, cell=max(1, patch.patch.shape[-1] // 8))
