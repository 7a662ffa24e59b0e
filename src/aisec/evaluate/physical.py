"""Held-out evaluation of physical attacks: the same unseen conditions for every variant.

An attack optimised over EOT samples could overfit the samples it saw. Its success is
therefore measured on conditions drawn with a *different* seed than the optimisation's, and
every variant — the clean sign, the sign with the RP2 sticker, the sign with a control sticker
of the same shape in random printable colours — is rendered under *exactly the same* held-out
conditions, so their numbers differ only by what is printed on the sign.

Two renderers can draw the held-out conditions:

- ``"eot"``: the EOT distribution (:class:`~aisec.attacks.physical.transforms.EOT`) with the
  given ranges, seeded with the evaluation seed;
- ``"dataset"``: the signs dataset's own renderer (:func:`aisec.data.signs.render_scenes`), an
  independent implementation of the street scenes (with sign poles) that the attack never
  optimised against: a check that the attack does not exploit a quirk of the EOT module.

The metrics per variant: *targeted success* (the fraction of conditions read as the target),
*source accuracy* (the fraction still read as the source class) and *misclassification*
(``1 − source accuracy``, untargeted success), each also as a :class:`~aisec.stats.Rate`
(count of the ``n`` conditions).

These are pure measurements on objects (a model, the signs or patches, held-out conditions);
the stop-sign experiment that composes them is :mod:`aisec.experiments.physical`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import torch
from torch import Tensor

from aisec.attacks.base import check_labels, check_logits
from aisec.attacks.physical._common import check_int, check_num_classes, class_name
from aisec.attacks.physical.palette import PRINTER_PALETTE, Palette
from aisec.attacks.physical.patch import resolve_target, select_backgrounds
from aisec.attacks.physical.transforms import EOT, PhysicalConditions, make_generator
from aisec.models.plumbing import Model, eval_mode
from aisec.stats import Rate

__all__ = [
    "ConditionSetMetrics",
    "PhysicalEvaluation",
    "control_sticker",
    "evaluate_patch",
    "evaluate_signs",
]

Renderer = Literal["eot", "dataset"]


@dataclass(frozen=True)
class ConditionSetMetrics:
    """How the model reads one variant (clean, rp2, control, ...) over the held-out conditions.

    Attributes:
        n: number of held-out conditions.
        targeted_success: fraction predicted as the target (``None`` without a target).
        source_accuracy: fraction predicted as the true class (the sign's class, or each
            background's label for a patch; ``None`` if unknown).
        misclassification: ``1 − source_accuracy`` (untargeted success).
        mean_target_probability: the softmax probability of the target, averaged.
        predictions: ``(n,)`` predicted classes, in the order of the conditions.
        targeted_count: how many conditions were predicted as the target (``None`` without a
            target).
        source_count: how many were predicted as the true class (``None`` if unknown).
    """

    n: int
    targeted_success: float | None
    source_accuracy: float | None
    misclassification: float | None
    mean_target_probability: float | None
    predictions: tuple[int, ...] = field(repr=False)
    targeted_count: int | None = None
    source_count: int | None = None

    @property
    def targeted_rate(self) -> Rate | None:
        """Targeted success as a :class:`~aisec.stats.Rate` of the ``n`` conditions."""
        return None if self.targeted_count is None else Rate(self.targeted_count, self.n)

    @property
    def source_rate(self) -> Rate | None:
        """Source accuracy as a :class:`~aisec.stats.Rate` of the ``n`` conditions."""
        return None if self.source_count is None else Rate(self.source_count, self.n)

    @property
    def misclassification_rate(self) -> Rate | None:
        """Misclassification (untargeted success) as a :class:`~aisec.stats.Rate`."""
        if self.source_count is None:
            return None
        return Rate(self.n - self.source_count, self.n)

    def to_dict(self, *, per_condition: bool = False) -> dict[str, Any]:
        """The rates as a JSON-friendly dict (with the predictions if ``per_condition``)."""
        out: dict[str, Any] = {
            "targeted_success": self.targeted_success,
            "source_accuracy": self.source_accuracy,
            "misclassification": self.misclassification,
            "mean_target_probability": self.mean_target_probability,
        }
        if per_condition:
            out["predictions"] = list(self.predictions)
        return out


@dataclass
class PhysicalEvaluation:
    """The held-out evaluation of several variants under the same conditions.

    Attributes:
        n_conditions: how many held-out conditions.
        seed: the seed of the held-out conditions.
        renderer: ``"eot"`` or ``"dataset"`` (see the module docstring).
        source: the true class (``None`` for a patch on labelled backgrounds).
        target: the target class (``None`` for untargeted).
        target_name: its name.
        sets: per variant name (``"clean"``, ``"rp2"``, ``"control"``, ``"patch"``), its
            :class:`ConditionSetMetrics`.
        conditions: the ranges the held-out conditions were drawn from (EOT renderer).
        views: per variant, the first rendered views ``(k, 3, H, H)`` for figures (not
            serialised).
    """

    n_conditions: int
    seed: int
    renderer: str
    source: int | None
    target: int | None
    target_name: str | None
    sets: dict[str, ConditionSetMetrics]
    conditions: dict[str, Any] | None = None
    views: dict[str, Tensor] = field(default_factory=dict, repr=False)

    def __getitem__(self, name: str) -> ConditionSetMetrics:
        """The metrics of the variant ``name``."""
        return self.sets[name]

    def to_dict(self, *, per_condition: bool = False) -> dict[str, Any]:
        """``n_conditions``, seed, renderer, classes, and one entry per variant."""
        out: dict[str, Any] = {
            "n_conditions": self.n_conditions,
            "seed": self.seed,
            "renderer": self.renderer,
            "source": None if self.source is None else class_name(self.source),
            "target": self.target_name,
        }
        for name, metrics in self.sets.items():
            out[name] = metrics.to_dict(per_condition=per_condition)
        if self.conditions is not None:
            out["conditions"] = self.conditions
        return out


def control_sticker(
    mask: Tensor, *, palette: Palette = PRINTER_PALETTE, seed: int = 0, cell: int = 16
) -> Tensor:
    """A control sticker: the same mask, filled with random printable colours.

    The colours are drawn uniformly from the palette in square cells of ``cell`` pixels (at
    256 px, 16-px cells are about the size of the structures an RP2 sticker has), so the
    control differs from the RP2 sticker only in *which* printable colours go where.

    Args:
        mask: ``(1, S, S)`` sticker mask in ``{0, 1}``.
        palette: the printer's colours.
        seed: seeds the colours.
        cell: side of the cells in pixels, at least 1.

    Returns:
        ``(3, S, S)`` palette colours inside ``mask``, zero outside.
    """
    if not isinstance(mask, Tensor) or mask.ndim != 3 or mask.shape[0] != 1:
        raise ValueError("mask must be a (1, S, S) tensor")
    check_int("cell", cell, 1)
    side = int(mask.shape[-1])
    cells = math.ceil(side / cell)
    colours = palette.random_colours((cells, cells), make_generator(seed))
    colours = colours.repeat_interleave(cell, 1).repeat_interleave(cell, 2)[:, :side, :side]
    return colours.to(mask.device) * (mask > 0.5)


def evaluate_signs(
    model: Model,
    signs: Mapping[str, Tensor],
    sign_mask: Tensor,
    *,
    source: int,
    target: int | None,
    conditions: PhysicalConditions | None = None,
    n_conditions: int = 200,
    seed: int = 1,
    image_size: int = 32,
    renderer: Renderer = "eot",
    batch_size: int = 250,
    keep_views: int = 0,
) -> PhysicalEvaluation:
    """Read every variant of a sign under the same held-out physical conditions.

    Args:
        model: the classifier; an ``nn.Module`` is put in eval mode (modes restored).
        signs: variant name -> ``(3, S, S)`` sign image (e.g. ``{"clean": sign.image, "rp2":
            result.adversarial_sign, "control": ...}``).
        sign_mask: ``(1, S, S)`` the sign's shape (shared by all variants).
        source: the sign's true class.
        target: the attack's target class, or ``None``.
        conditions: EOT ranges (``renderer="eot"``); default :class:`PhysicalConditions`.
        n_conditions: held-out conditions, at least 1 (200 or more for numbers worth quoting).
        seed: seed of the held-out conditions; use a different one than the attack's.
        image_size: side of the camera images.
        renderer: ``"eot"`` or ``"dataset"`` (see the module docstring).
        batch_size: views per forward pass.
        keep_views: how many views per variant to keep for figures (at most ``batch_size``).

    Returns:
        A :class:`PhysicalEvaluation` with one :class:`ConditionSetMetrics` per variant.
    """
    check_int("n_conditions", n_conditions, 1)
    check_int("seed", seed, 0)
    check_int("batch_size", batch_size, 1)
    check_int("keep_views", keep_views, 0)
    if renderer not in ("eot", "dataset"):
        raise ValueError(f"renderer must be 'eot' or 'dataset', got {renderer!r}")
    if not signs:
        raise ValueError("signs must name at least one variant")
    if not isinstance(sign_mask, Tensor) or sign_mask.ndim != 3 or sign_mask.shape[0] != 1:
        raise ValueError("sign_mask must be a (1, S, S) tensor")
    for name, image in signs.items():
        if not isinstance(image, Tensor) or tuple(image.shape) != (3, *sign_mask.shape[1:]):
            raise ValueError(
                f"sign {name!r} must be a (3, S, S) tensor matching the mask "
                f"{tuple(sign_mask.shape)}, got "
                f"{tuple(image.shape) if isinstance(image, Tensor) else type(image).__name__}"
            )
    eot = EOT(conditions, image_size=image_size)
    held_out = (
        eot.sample(n_conditions, seed, device=sign_mask.device) if renderer == "eot" else None
    )
    sets: dict[str, ConditionSetMetrics] = {}
    views: dict[str, Tensor] = {}
    with eval_mode(model), torch.no_grad():
        for name, image in signs.items():
            if held_out is None:
                # The dataset renderer draws a chunk's randomness for all its scenes at once,
                # so the scenes are rendered together (the same ones for every variant).
                rendered = _dataset_views(image, sign_mask, seed, n_conditions, image_size)
            probabilities = []
            for start in range(0, n_conditions, batch_size):
                stop = min(n_conditions, start + batch_size)
                if held_out is not None:
                    batch = eot.apply(image, sign_mask, held_out.select(slice(start, stop)))
                else:
                    batch = rendered[start:stop]
                logits = check_logits(model(batch), f"held-out views of the {name!r} sign")
                if start == 0:
                    check_num_classes(logits, source, target)
                probabilities.append(logits.softmax(dim=1))
                if start == 0 and keep_views:
                    views[name] = batch[:keep_views].clone()
            sets[name] = _metrics(torch.cat(probabilities), source, target)
    return PhysicalEvaluation(
        n_conditions=n_conditions,
        seed=seed,
        renderer=renderer,
        source=source,
        target=target,
        target_name=None if target is None else class_name(target),
        sets=sets,
        conditions=eot.conditions.to_dict() if renderer == "eot" else None,
        views=views,
    )


def _dataset_views(image: Tensor, mask: Tensor, seed: int, n: int, image_size: int) -> Tensor:
    """``n`` scenes of the signs dataset's renderer for ``seed``, ``(n, 3, H, H)``.

    The renderer's randomness does not depend on what the sign shows, so the same ``seed``
    gives the same scenes for every variant.
    """
    from aisec.data.signs import render_scenes

    return render_scenes(
        image[None].expand(n, -1, -1, -1),
        mask[None].expand(n, -1, -1, -1),
        seed=seed,
        image_size=image_size,
    )


def _metrics(
    probabilities: Tensor, source: int | Tensor | None, target: int | None
) -> ConditionSetMetrics:
    predictions = probabilities.argmax(dim=1)
    n = int(predictions.shape[0])
    targeted = mean_target = None
    targeted_count = source_count = None
    if target is not None:
        hits = predictions == target
        targeted = float(hits.double().mean())
        targeted_count = int(hits.sum())
        mean_target = float(probabilities[:, target].double().mean())
    accuracy = misclassified = None
    if source is not None:
        correct = predictions == source
        accuracy = float(correct.double().mean())
        source_count = int(correct.sum())
        misclassified = 1.0 - accuracy
    return ConditionSetMetrics(
        n=n,
        targeted_success=targeted,
        source_accuracy=accuracy,
        misclassification=misclassified,
        mean_target_probability=mean_target,
        predictions=tuple(int(p) for p in predictions),
        targeted_count=targeted_count,
        source_count=source_count,
    )


def evaluate_patch(
    model: Model,
    patches: Mapping[str, Tensor | None],
    patch_mask: Tensor,
    backgrounds: Tensor,
    *,
    target: int | str,
    labels: Tensor | None = None,
    class_names: Sequence[str] | None = None,
    conditions: PhysicalConditions | None = None,
    n_conditions: int = 200,
    seed: int = 1,
    batch_size: int = 50,
    keep_views: int = 0,
) -> PhysicalEvaluation:
    """Read held-out scenes with each patch variant stuck on them, under the same placements.

    Args:
        model: the classifier; an ``nn.Module`` is put in eval mode (modes restored).
        patches: variant name -> ``(3, P, P)`` patch, or ``None`` for the scenes without a
            patch (e.g. ``{"clean": None, "patch": result.patch, "control": ...}``).
        patch_mask: ``(1, P, P)`` the patches' shape.
        backgrounds: ``(M, 3, H, H)`` held-out scenes (photos or signs the patch never saw).
        target: the patch's target class (index or name).
        labels: ``(M,)`` the scenes' true classes; scenes of the target class are left out,
            and ``source_accuracy`` is the accuracy on the scenes' labels.
        class_names: names of the model's classes (to resolve ``target``).
        conditions: placement/lighting ranges; default
            :meth:`PhysicalConditions.patch_defaults`.
        n_conditions: held-out (scene, placement, lighting) draws, at least 1.
        seed: seed of the draws; use a different one than the patch optimisation's.
        batch_size: views per forward pass.
        keep_views: views per variant kept for figures.

    Returns:
        A :class:`PhysicalEvaluation` (``source`` is ``None``; accuracies use ``labels``).
    """
    check_int("n_conditions", n_conditions, 1)
    check_int("seed", seed, 0)
    check_int("batch_size", batch_size, 1)
    target_label, target_name = resolve_target(target, class_names)
    pool = select_backgrounds(backgrounds, labels, target_label)
    pool_labels = None
    if labels is not None:
        checked = check_labels("labels", labels, len(backgrounds), pool.device)
        pool_labels = checked[checked != target_label]
    if conditions is None:
        conditions = PhysicalConditions.patch_defaults()
    eot = EOT(conditions, image_size=int(pool.shape[-1]), margin=0.0)
    held_out = eot.sample(n_conditions, seed, backgrounds=pool)
    truth = None if pool_labels is None else pool_labels[held_out.background_index]
    sets: dict[str, ConditionSetMetrics] = {}
    views: dict[str, Tensor] = {}
    with eval_mode(model), torch.no_grad():
        for name, patch in patches.items():
            if patch is None:  # nothing stuck on the scene: a fully transparent object
                image, mask = torch.zeros(3, *patch_mask.shape[1:]), torch.zeros_like(patch_mask)
            else:
                image, mask = patch, patch_mask
            probabilities = []
            for start in range(0, n_conditions, batch_size):
                part = held_out.select(slice(start, min(n_conditions, start + batch_size)))
                batch = eot.apply(image.to(pool.device), mask.to(pool.device), part)
                logits = check_logits(model(batch), f"held-out views of the {name!r} patch")
                if start == 0:
                    check_num_classes(logits, target_label, None)
                probabilities.append(logits.softmax(dim=1))
                if start == 0 and keep_views:
                    views[name] = batch[:keep_views].clone()
            sets[name] = _metrics_labelled(torch.cat(probabilities), truth, target_label)
    return PhysicalEvaluation(
        n_conditions=n_conditions,
        seed=seed,
        renderer="eot",
        source=None,
        target=target_label,
        target_name=target_name,
        sets=sets,
        conditions=conditions.to_dict(),
        views=views,
    )


def _metrics_labelled(
    probabilities: Tensor, truth: Tensor | None, target: int
) -> ConditionSetMetrics:
    metrics = _metrics(probabilities, None, target)
    if truth is None:
        return metrics
    correct = probabilities.argmax(dim=1) == truth
    accuracy = float(correct.double().mean())
    return ConditionSetMetrics(
        n=metrics.n,
        targeted_success=metrics.targeted_success,
        source_accuracy=accuracy,
        misclassification=1.0 - accuracy,
        mean_target_probability=metrics.mean_target_probability,
        predictions=metrics.predictions,
        targeted_count=metrics.targeted_count,
        source_count=int(correct.sum()),
    )
