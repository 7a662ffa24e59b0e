"""The stop-sign experiment end to end: RP2 stickers, a control sticker, adversarial patches, and
their held-out evaluation (what ``aisec physical``, the tour's "physical" chapter, the defenses
chapter's physical table and ``examples/physical_attacks.py`` run).

1. RP2 optimises a sticker (default: two bars above and below "STOP") on the canonical source
   sign for the target class over EOT views (seed ``seed``), and quantizes it to the palette.
2. A control sticker of the same mask gets random palette colours.
3. The clean sign, the sign with the printed RP2 sticker and the sign with the control sticker
   are read under the same ``n_conditions`` held-out conditions (seed ``eval_seed``), drawn by
   the EOT module and, as a cross-check, by the signs dataset's own renderer.
4. Optionally, a universal patch is trained on sign scenes (train split) for the same target
   and evaluated on held-out scenes (test split) and placements, and one on EfficientNet-Lite0
   with the bundled photos (e.g. -> "toaster"), evaluated on photos it never saw.
5. Optionally, the same attack and evaluation with other sticker masks (e.g. the paper's thinner
   bars), to show how the success depends on the sticker's size.

The victim is a zoo model by name (``plan.model``), optionally behind a preprocessing defense
(``plan.defense``, e.g. ``"jpeg:75"``) that the attacker sees through BPDA, so the attack stays
adaptive. The result reports measured values only; what counts as a success of the attack (the
tutorial's targets) is stated by the report, not here.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from aisec.attacks.physical._common import class_name, resolve_class
from aisec.attacks.physical.masks import STICKER_SHAPES, load_mask_png
from aisec.attacks.physical.patch import AdversarialPatch, PatchResult, resolve_target
from aisec.attacks.physical.rp2 import RP2, RP2Result
from aisec.data.signs import SIGN_CLASSES, canonical_sign
from aisec.evaluate.physical import (
    ConditionSetMetrics,
    PhysicalEvaluation,
    control_sticker,
    evaluate_patch,
    evaluate_signs,
)
from aisec.experiments import names
from aisec.experiments.base import check_int
from aisec.experiments.targets import ModelOptions, check_target, load_source_model
from aisec.models.sources import LoadedModel, ZooName, parse_model_source

__all__ = [
    "QUICK_SIGNS_MODEL",
    "SIGN_SIZE",
    "MaskComparison",
    "PhysicalPlan",
    "PhysicalResult",
    "run",
    "run_on_model",
]

SIGN_SIZE = 256
SIGN_IMAGE_SIZE = 32
"""Side of the camera images the experiment renders (the signs models' input)."""
"""Side of the canonical sign (and of the printable sticker) in pixels."""

QUICK_SIGNS_MODEL = names.QUICK_SIGNS_MODEL
"""A model name :func:`run` accepts besides the zoo's signs models (see
:data:`aisec.experiments.names.QUICK_SIGNS_MODEL`)."""

_VARIANTS = ("clean", "rp2", "control")


def _check_mask(name: str, value: object) -> None:
    """A built-in shape, or a PNG that reads as a non-empty ``SIGN_SIZE`` square mask.

    The PNG is read here (it is small; :func:`load_mask_png` refuses large, truncated and
    non-PNG files), so a bad mask is an error before the model loads.
    """
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, got {type(value).__name__}")
    if value in STICKER_SHAPES:
        return
    if not Path(value).exists():
        known = ", ".join(repr(k) for k in STICKER_SHAPES)
        raise ValueError(
            f"{name} must be a built-in shape ({known}) or an existing PNG file, got {value!r}"
        )
    mask = load_mask_png(value)
    if tuple(mask.shape[-2:]) != (SIGN_SIZE, SIGN_SIZE):
        raise ValueError(
            f"{name} {value!r} is {mask.shape[-1]}x{mask.shape[-2]} pixels; the sticker mask "
            f"must match the sign: {SIGN_SIZE}x{SIGN_SIZE}"
        )
    if not bool(mask.any()):
        raise ValueError(
            f"{name} {value!r} has no white (or opaque) pixels: it must mark where the sticker goes"
        )


def _check_model(name: object, options: ModelOptions) -> None:
    """``ValueError`` unless ``name`` is :data:`QUICK_SIGNS_MODEL`, a zoo model of signs or a
    model source (the user's own signs classifier, checked with its options)."""
    if not isinstance(name, str):
        raise TypeError(f"model must be a zoo name or a model source, got {type(name).__name__}")
    if name == QUICK_SIGNS_MODEL:
        return
    from aisec.zoo import model_spec

    if not isinstance(check_target(name, options, needs_data=False), ZooName):
        if options.class_names is not None and tuple(options.class_names) != SIGN_CLASSES:
            raise ValueError(
                f"class names {list(options.class_names)} are not the sign classes "
                f"{list(SIGN_CLASSES)} in that order: the physical experiment attacks a "
                "classifier of aisec's signs"
            )
        return
    spec = model_spec(name)
    if spec.dataset != "signs":
        raise ValueError(
            f"the physical experiment attacks a traffic-signs classifier; {name!r} is a model of "
            f"{spec.dataset!r} (use 'signs-cnn', one of its variants, or {QUICK_SIGNS_MODEL!r})"
        )


@dataclass(frozen=True)
class PhysicalPlan:
    """Every setting of the stop-sign experiment (see the module docstring).

    Attributes:
        source: the sign class the stickers go on.
        target: the class the stickers should make the model read (``None``: untargeted).
        mask: a built-in sticker shape (see ``STICKER_SHAPES``) or the path of a PNG mask of
            ``256 x 256`` pixels.
        steps: RP2 Adam steps; ``batch_size`` EOT views per step.
        n_conditions: held-out conditions per variant (200 or more for numbers worth quoting).
        seed: seed of the optimisation; ``eval_seed`` of the held-out conditions (different).
        dataset_check: also evaluate under the signs dataset's renderer.
        signs_patch: also train and evaluate a universal patch on sign scenes.
        patch_steps: its Adam steps.
        imagenet_patch: also train and evaluate a patch on EfficientNet-Lite0 and the photos.
        imagenet_steps: its Adam steps (each costs four 224-px forward/backward passes, and a
            few hundred steps are far fewer than Brown et al. used; the metrics say how far it
            got).
        imagenet_target: its target ImageNet class name.
        keep_views: views per variant kept for the figures.
        compare_masks: other sticker masks (built-in shapes or PNG files) attacked and evaluated
            with the same settings and held-out conditions, e.g. ``("thin-bars",)``.
        model: the victim: a zoo model of traffic signs (e.g. ``"signs-cnn"``,
            ``"signs-cnn-at"``) or :data:`QUICK_SIGNS_MODEL`.
        defense: a preprocessing defense in front of the model (e.g. ``"jpeg:75"``; see
            :func:`aisec.experiments.names.preprocessing_defense`), attacked through BPDA;
            ``None`` for none.

    Raises:
        ValueError, TypeError: for an unknown class, model, mask or defense, or bad sizes —
            checked when the plan is made, before anything loads.
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
    compare_masks: tuple[str, ...] = ()
    model: str = "signs-cnn"
    defense: str | None = None
    options: ModelOptions = field(default_factory=ModelOptions)

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
        _check_mask("mask", self.mask)
        if not isinstance(self.compare_masks, tuple):
            raise TypeError(
                f"compare_masks must be a tuple of masks, got {type(self.compare_masks).__name__}"
            )
        for other in self.compare_masks:
            _check_mask("each of compare_masks", other)
        if self.imagenet_patch:
            if not isinstance(self.imagenet_target, str):
                raise TypeError("imagenet_target must be an ImageNet class name")
            from aisec.data.imagenet_samples import imagenet_class_names

            resolve_target(self.imagenet_target, imagenet_class_names())
        _check_model(self.model, self.options)
        if self.defense is not None:
            names.preprocessing_defense(self.defense, seed=self.seed)


@dataclass(frozen=True)
class MaskComparison:
    """The same attack and held-out evaluation with another sticker mask.

    Attributes:
        mask: the mask (built-in shape or PNG path).
        rp2: its RP2 sticker and attacked sign.
        control_sign: ``(3, S, S)`` the sign with a control sticker on this mask.
        evaluation: ``rp2`` and ``control`` on the plan's held-out conditions (EOT renderer).
    """

    mask: str
    rp2: RP2Result
    control_sign: Tensor = field(repr=False)
    evaluation: PhysicalEvaluation

    def to_dict(self) -> dict[str, Any]:
        """``mask``, ``sticker_area`` and the ``rp2`` / ``control`` metrics."""
        return {
            "mask": self.mask,
            "sticker_area": self.rp2.sticker_area,
            "rp2": self.evaluation["rp2"].to_dict(),
            "control": self.evaluation["control"].to_dict(),
        }


@dataclass(frozen=True)
class PhysicalResult:
    """Everything :func:`run` produced.

    Attributes:
        plan: the settings.
        rp2: the RP2 sticker and attacked sign.
        control_sign: ``(3, S, S)`` the sign with the control sticker.
        evaluation: held-out evaluation (EOT renderer) of ``clean``, ``rp2``, ``control``.
        dataset_evaluation: the same under the dataset's renderer, if planned.
        signs_patch, signs_patch_evaluation: the patch on sign scenes and its evaluation.
        imagenet_patch, imagenet_patch_evaluation: the patch on EfficientNet-Lite0; evaluated
            on held-out photos (``imagenet_patch_seen_photos``: on the training photos, with
            held-out placements).
        mask_comparisons: one per ``plan.compare_masks``.
        time_s: wall-clock seconds.
    """

    plan: PhysicalPlan
    rp2: RP2Result
    control_sign: Tensor = field(repr=False)
    evaluation: PhysicalEvaluation
    dataset_evaluation: PhysicalEvaluation | None = None
    signs_patch: PatchResult | None = None
    signs_patch_evaluation: PhysicalEvaluation | None = None
    imagenet_patch: PatchResult | None = None
    imagenet_patch_evaluation: PhysicalEvaluation | None = None
    imagenet_patch_seen_photos: PhysicalEvaluation | None = None
    mask_comparisons: tuple[MaskComparison, ...] = ()
    time_s: float = 0.0

    @property
    def sticker_area(self) -> float:
        """The RP2 sticker's area as a fraction of the sign's area."""
        return self.rp2.sticker_area

    def metrics(self) -> dict[str, Any]:
        """The measured values as a JSON-friendly dict.

        Keys: ``source``, ``target``, ``mask``, ``sticker_area``, ``n_conditions`` (held-out
        conditions per variant), ``seed`` and ``eval_seed``; ``clean``, ``rp2`` and ``control``,
        each with ``targeted_success``, ``source_accuracy``, ``misclassification`` and
        ``mean_target_probability`` on the held-out conditions (EOT renderer);
        ``dataset_renderer`` (the same under the signs dataset's renderer), ``patch_signs``,
        ``patch_imagenet`` and ``mask_comparison`` (mask -> its sticker area and metrics) when
        run; ``rp2_attack`` (the attack's settings and cost), ``model``, ``defense``, ``config``
        (the plan) and ``time_s``.
        """
        evaluation = self.evaluation.to_dict()
        out: dict[str, Any] = {
            "source": class_name(self.rp2.source),
            "target": None if self.rp2.target is None else class_name(self.rp2.target),
            "mask": self.plan.mask,
            "sticker_area": self.rp2.sticker_area,
            "n_conditions": self.evaluation.n_conditions,
            "seed": self.plan.seed,
            "eval_seed": self.plan.eval_seed,
            **{variant: evaluation[variant] for variant in _VARIANTS},
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
        if self.mask_comparisons:
            out["mask_comparison"] = {c.mask: c.to_dict() for c in self.mask_comparisons}
        out["rp2_attack"] = self.rp2.to_dict()
        out["model"] = self.plan.model
        out["defense"] = self.plan.defense
        out["config"] = {
            key: list(value) if isinstance(value, tuple) else value
            for key, value in asdict(self.plan).items()
        }
        out["time_s"] = self.time_s
        return out

    def to_dict(self) -> dict[str, Any]:
        """The JSON form: :meth:`metrics`."""
        return self.metrics()

    def variant_metrics(self, variant: str) -> ConditionSetMetrics:
        """The held-out metrics (EOT renderer) of ``"clean"``, ``"rp2"`` or ``"control"``."""
        if variant not in self.evaluation.sets:
            raise ValueError(f"variant must be one of {_VARIANTS}, got {variant!r}")
        return self.evaluation.sets[variant]

    def rows(self) -> list[dict[str, Any]]:
        """The main table: per sign variant, how often it is read as the target and the source.

        Returns:
            One row per variant (clean sign, RP2 sticker, control sticker) with ``sign``,
            ``read as '<target>'`` (omitted when untargeted) and ``read as '<source>'``, rates
            as :class:`~aisec.stats.Rate` of the held-out conditions.
        """
        source = class_name(self.rp2.source)
        target = None if self.rp2.target is None else class_name(self.rp2.target)
        labels = {
            "clean": f"clean {source} sign",
            "rp2": "RP2 sticker (printed colours)",
            "control": "control sticker (random printable colours)",
        }
        rows = []
        for variant in _VARIANTS:
            metrics = self.evaluation.sets[variant]
            row: dict[str, Any] = {"sign": labels[variant]}
            if target is not None:
                row[f"read as {target!r}"] = metrics.targeted_rate
            row[f"read as {source!r}"] = metrics.source_rate
            rows.append(row)
        return rows


def _without_history(record: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in record.items() if key != "history"}


def run(plan: PhysicalPlan, *, imagenet_model: nn.Module | None = None) -> PhysicalResult:
    """Run the stop-sign experiment on the plan's model (and defense).

    Args:
        plan: the settings (validated when it was made).
        imagenet_model: the ImageNet model for the photo patch (default: EfficientNet-Lite0
            from the zoo, loaded only if ``plan.imagenet_patch``).

    Returns:
        A :class:`PhysicalResult`.
    """
    if not isinstance(plan, PhysicalPlan):
        raise TypeError(f"plan must be a PhysicalPlan, got {type(plan).__name__}")
    if plan.model == QUICK_SIGNS_MODEL:
        model = names.quick_signs_model(plan.seed)
    elif isinstance(parse_model_source(plan.model), ZooName):
        model = names.zoo_model(plan.model)
    else:
        model = _signs_classifier(load_source_model(plan.model, plan.options))
    return run_on_model(model, plan, imagenet_model=imagenet_model)


def _signs_classifier(loaded: LoadedModel) -> nn.Module:
    """The user's model as a classifier of the signs scenes: their size, their classes."""
    expected = tuple(SIGN_CLASSES)
    if loaded.num_classes != len(expected):
        raise ValueError(
            f"{loaded.source} has {loaded.num_classes} classes; the physical experiment needs a "
            f"classifier of the {len(expected)} sign classes {list(expected)}, in that order"
        )
    named = not all(name == str(i) for i, name in enumerate(loaded.class_names))
    if named and tuple(loaded.class_names) != expected:
        raise ValueError(
            f"{loaded.source}'s classes {list(loaded.class_names)} are not the sign classes "
            f"{list(expected)} in that order"
        )
    if loaded.input_shape != (3, SIGN_IMAGE_SIZE, SIGN_IMAGE_SIZE):
        raise ValueError(
            f"{loaded.source} takes {loaded.input_shape} inputs; the physical experiment renders "
            f"(3, {SIGN_IMAGE_SIZE}, {SIGN_IMAGE_SIZE}) scenes"
        )
    return loaded.model


def run_on_model(
    model: nn.Module, plan: PhysicalPlan, *, imagenet_model: nn.Module | None = None
) -> PhysicalResult:
    """Run the stop-sign experiment on a signs classifier the caller holds.

    ``plan.model`` is not loaded (``model`` takes its place); ``plan.defense``, if any, is put
    in front of ``model``, with BPDA for the attacker.

    Args:
        model: a classifier of ``(N, 3, 32, 32)`` sign images in ``[0, 1]`` over the sign
            classes, e.g. ``aisec.zoo.load("signs-cnn")``.
        plan: the settings.
        imagenet_model: the ImageNet model for the photo patch (default: EfficientNet-Lite0
            from the zoo, loaded only if ``plan.imagenet_patch``).

    Returns:
        A :class:`PhysicalResult`.
    """
    start = time.perf_counter()
    if not isinstance(plan, PhysicalPlan):
        raise TypeError(f"plan must be a PhysicalPlan, got {type(plan).__name__}")
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
    victim = _defended(model, plan)
    sign = canonical_sign(plan.source, size=SIGN_SIZE)
    source = resolve_class("source", plan.source)
    target = None if plan.target is None else resolve_class("target", plan.target)
    attack = RP2(steps=plan.steps, batch_size=plan.batch_size, seed=plan.seed)
    rp2 = attack(victim, sign, _mask(plan.mask), target=target, source=source)
    control = torch.where(rp2.mask > 0.5, control_sticker(rp2.mask, seed=plan.seed + 1), rp2.sign)
    variants = {"clean": rp2.sign, "rp2": rp2.adversarial_sign, "control": control}
    common: dict[str, Any] = {
        "source": source,
        "target": target,
        "n_conditions": plan.n_conditions,
        "seed": plan.eval_seed,
        "keep_views": plan.keep_views,
    }
    evaluation = evaluate_signs(victim, variants, rp2.sign_mask, **common)
    dataset_evaluation = None
    if plan.dataset_check:
        dataset_evaluation = evaluate_signs(
            victim, variants, rp2.sign_mask, renderer="dataset", **common
        )
    signs_patch = signs_patch_evaluation = None
    if plan.signs_patch:
        signs_patch, signs_patch_evaluation = _signs_patch(victim, plan)
    imagenet: tuple[PatchResult | None, PhysicalEvaluation | None, PhysicalEvaluation | None]
    imagenet = (None, None, None)
    if plan.imagenet_patch:
        imagenet = _imagenet_patch(imagenet_model, plan)
    comparisons = tuple(
        _compare_mask(victim, plan, other, source, target) for other in plan.compare_masks
    )
    return PhysicalResult(
        plan=plan,
        rp2=rp2,
        control_sign=control,
        evaluation=evaluation,
        dataset_evaluation=dataset_evaluation,
        signs_patch=signs_patch,
        signs_patch_evaluation=signs_patch_evaluation,
        imagenet_patch=imagenet[0],
        imagenet_patch_evaluation=imagenet[1],
        imagenet_patch_seen_photos=imagenet[2],
        mask_comparisons=comparisons,
        time_s=time.perf_counter() - start,
    )


def _defended(model: nn.Module, plan: PhysicalPlan) -> nn.Module:
    """``model`` behind ``plan.defense`` in the adaptive attacker's view (BPDA), if any."""
    if plan.defense is None:
        return model
    from aisec.defenses.preprocess import PreprocessedModel

    defense = names.preprocessing_defense(plan.defense, seed=plan.seed)
    return PreprocessedModel(model, defense).with_bpda()


def _mask(mask: str) -> Tensor | str:
    """A built-in shape's name as is, or the PNG mask at path ``mask``."""
    return mask if mask in STICKER_SHAPES else load_mask_png(mask)


def _signs_patch(model: nn.Module, plan: PhysicalPlan) -> tuple[PatchResult, PhysicalEvaluation]:
    """Train a universal patch on training sign scenes; evaluate it on test scenes."""
    from aisec.data import load as load_data

    target = plan.target if plan.target is not None else "speed limit 30"
    train = load_data("signs", "train", n=1_000, seed=plan.seed)
    test = load_data("signs", "test", n=500, seed=plan.seed)
    attack = AdversarialPatch(size=32, steps=plan.patch_steps, batch_size=32, seed=plan.seed)
    patch = attack(model, train.images, target=target, labels=train.labels)
    evaluation = evaluate_patch(
        model,
        {"clean": None, "patch": patch.patch, "control": _control_patch(patch, plan.seed)},
        patch.mask,
        test.images,
        target=target,
        labels=test.labels,
        n_conditions=plan.n_conditions,
        seed=plan.eval_seed,
        keep_views=plan.keep_views,
    )
    return patch, evaluation


def _imagenet_patch(
    model: nn.Module | None, plan: PhysicalPlan
) -> tuple[PatchResult, PhysicalEvaluation, PhysicalEvaluation]:
    """Train a patch on 4 bundled photos; evaluate it on the 3 others (and on the 4)."""
    from aisec.data.imagenet_samples import imagenet_class_names, load_photos

    if model is None:
        model = names.zoo_model("efficientnet-lite0")
    photos, labels, _ = load_photos(224)
    class_names = imagenet_class_names()
    seen, unseen = slice(0, 4), slice(4, None)
    attack = AdversarialPatch(
        size=64, steps=plan.imagenet_steps, batch_size=4, lr=0.03, image_size=224, seed=plan.seed
    )
    patch = attack(
        model,
        photos[seen],
        target=plan.imagenet_target,
        labels=labels[seen],
        class_names=class_names,
    )
    variants = {"clean": None, "patch": patch.patch, "control": _control_patch(patch, plan.seed)}
    common: dict[str, Any] = {
        "target": plan.imagenet_target,
        "class_names": class_names,
        "n_conditions": plan.n_conditions,
        "seed": plan.eval_seed,
        "batch_size": 25,
    }
    held_out = evaluate_patch(
        model,
        variants,
        patch.mask,
        photos[unseen],
        labels=labels[unseen],
        keep_views=plan.keep_views,
        **common,
    )
    # The photos it was trained on, at held-out placements (the patch only: 224-px forward
    # passes are the expensive part).
    seen_photos = evaluate_patch(
        model, {"patch": patch.patch}, patch.mask, photos[seen], labels=labels[seen], **common
    )
    return patch, held_out, seen_photos


def _control_patch(patch: PatchResult, seed: int) -> Tensor:
    """A patch of the same shape and size with random palette colours (a control)."""
    return control_sticker(patch.mask, seed=seed + 2, cell=max(1, patch.patch.shape[-1] // 8))


def _compare_mask(
    model: nn.Module, plan: PhysicalPlan, mask: str, source: int, target: int | None
) -> MaskComparison:
    """RP2 with another mask, read with its control under the plan's held-out conditions."""
    sign = canonical_sign(plan.source, size=SIGN_SIZE)
    attack = RP2(steps=plan.steps, batch_size=plan.batch_size, seed=plan.seed)
    rp2 = attack(model, sign, _mask(mask), target=target, source=source)
    control = torch.where(rp2.mask > 0.5, control_sticker(rp2.mask, seed=plan.seed + 1), sign.image)
    evaluation = evaluate_signs(
        model,
        {"rp2": rp2.adversarial_sign, "control": control},
        sign.mask,
        source=source,
        target=target,
        n_conditions=plan.n_conditions,
        seed=plan.eval_seed,
    )
    return MaskComparison(mask=mask, rp2=rp2, control_sign=control, evaluation=evaluation)
