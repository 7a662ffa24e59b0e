"""Universal adversarial patch (Brown et al., 2017): one printable image that, stuck anywhere in
a scene, makes the classifier output a chosen class.

Brown et al. train a patch ``p̂`` to maximise the expected log-probability of the target
class ``ŷ`` over images ``x ~ X``, patch transformations ``t ~ T`` (rotation, scale) and
locations ``l ~ L``:

    p̂ = argmax_p  E_{x ~ X, t ~ T, l ~ L}  log Pr(ŷ | A(p, x, l, t)),

where the patch application operator ``A`` pastes the transformed patch onto the image. Here
``A`` is :meth:`aisec.attacks.physical.transforms.EOT.apply` with the patch as the object
(a round patch: its mask is a disc) and the images as backgrounds, so the patch also meets the
camera's lighting, blur and noise; ``T`` and ``L`` are the ranges of
:meth:`PhysicalConditions.patch_defaults`. The optimiser is Adam on the patch's colours,
projected onto ``[0, 1]``.

Reference:
    T. B. Brown, D. Mané, A. Roy, M. Abadi, J. Gilmer, "Adversarial Patch", arXiv:1712.09665,
    2017.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from aisec.attacks.base import check_labels
from aisec.attacks.physical._common import (
    check_float,
    check_int,
    check_num_classes,
    class_name,
    cosine_lr,
    resolve_class,
    save_rgba_png,
)
from aisec.attacks.physical.transforms import EOT, PhysicalConditions, make_generator
from aisec.models.plumbing import CountingModel, Model, eval_mode

__all__ = ["AdversarialPatch", "PatchResult", "patch_mask"]

_SHAPES = ("circle", "square")


def patch_mask(size: int, shape: str = "circle") -> Tensor:
    """The ``(1, size, size)`` mask of a round (``"circle"``) or ``"square"`` patch."""
    if shape not in _SHAPES:
        raise ValueError(f"shape must be one of {_SHAPES}, got {shape!r}")
    if shape == "square":
        return torch.ones(1, size, size)
    coords = (torch.arange(size, dtype=torch.float32) + 0.5) / size * 2.0 - 1.0
    return ((coords.view(1, -1) ** 2 + coords.view(-1, 1) ** 2) <= 1.0).float()[None]


@dataclass
class PatchResult:
    """A universal adversarial patch.

    Attributes:
        patch: ``(3, P, P)`` colours in ``[0, 1]`` (zero outside ``mask``).
        mask: ``(1, P, P)`` the patch's shape.
        target: the class the patch makes the model output.
        target_name: its name (if class names were known).
        history: per logged step: ``step``, ``loss`` and ``batch_success``.
        config: the attack's hyperparameters.
        forwards, backwards: batched model calls; ``views`` rendered images in all.
        time_s: wall-clock seconds.
    """

    patch: Tensor
    mask: Tensor
    target: int
    target_name: str
    history: list[dict[str, float]] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)
    forwards: int = 0
    backwards: int = 0
    views: int = 0
    time_s: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly summary (no images)."""
        return {
            "target": self.target_name,
            "target_index": self.target,
            "patch_size": int(self.patch.shape[-1]),
            "config": self.config,
            "forwards": self.forwards,
            "backwards": self.backwards,
            "views": self.views,
            "time_s": self.time_s,
            "history": self.history,
        }

    def save_png(self, path: str | Path) -> Path:
        """Write the patch as an RGBA PNG (transparent outside its shape)."""
        return save_rgba_png(self.patch, self.mask, path)


class AdversarialPatch:
    """Brown et al.'s universal, targeted adversarial patch, optimised over EOT placements.

    Args:
        size: side ``P`` of the patch in pixels (it is resampled to its size in each view).
        shape: ``"circle"`` (as in the paper) or ``"square"``.
        steps: Adam steps.
        batch_size: views per step (each a random background, placement and lighting).
        lr: Adam's learning rate on the patch colours.
        conditions: placement and lighting ranges; default
            :meth:`PhysicalConditions.patch_defaults`.
        image_size: side of the images the model sees (32 for signs, 224 for ImageNet).
        log_every: steps between history records.
        seed: seeds the initial patch and the views.

    Reference:
        Brown, Mané, Roy, Abadi, Gilmer, "Adversarial Patch", arXiv:1712.09665, 2017.
    """

    def __init__(
        self,
        *,
        size: int = 64,
        shape: str = "circle",
        steps: int = 200,
        batch_size: int = 16,
        lr: float = 0.05,
        conditions: PhysicalConditions | None = None,
        image_size: int = 32,
        log_every: int = 25,
        seed: int = 0,
    ) -> None:
        self.size = check_int("size", size, 4)
        if shape not in _SHAPES:
            raise ValueError(f"shape must be one of {_SHAPES}, got {shape!r}")
        self.shape = shape
        self.steps = check_int("steps", steps, 1)
        self.batch_size = check_int("batch_size", batch_size, 1)
        self.lr = check_float("lr", lr, positive=True)
        if conditions is None:
            conditions = PhysicalConditions.patch_defaults()
        self.eot = EOT(conditions, image_size=image_size, margin=0.0)
        self.log_every = check_int("log_every", log_every, 1)
        self.seed = check_int("seed", seed, 0)

    def config(self) -> dict[str, Any]:
        """The hyperparameters as a JSON-friendly dict."""
        return {
            "size": self.size,
            "shape": self.shape,
            "steps": self.steps,
            "batch_size": self.batch_size,
            "lr": self.lr,
            "image_size": self.eot.image_size,
            "conditions": self.eot.conditions.to_dict(),
            "seed": self.seed,
        }

    def __repr__(self) -> str:
        items = ", ".join(f"{k}={v!r}" for k, v in self.config().items() if k != "conditions")
        return f"AdversarialPatch({items})"

    def __call__(
        self,
        model: Model,
        backgrounds: Tensor,
        *,
        target: int | str,
        labels: Tensor | None = None,
        class_names: Sequence[str] | None = None,
    ) -> PatchResult:
        """Optimise a patch that turns ``model``'s output on ``backgrounds`` into ``target``.

        Args:
            model: a classifier of ``(N, 3, H, H)`` images in ``[0, 1]`` (``H = image_size``);
                an ``nn.Module`` is put in eval mode and its modes are restored afterwards.
            backgrounds: ``(M, 3, H, H)`` the scenes the patch is stuck on (photos, signs).
            target: the class to produce, as an index or a name in ``class_names`` (default:
                the sign classes).
            labels: ``(M,)`` the scenes' true classes; scenes of the target class are left out.
            class_names: names of the model's classes, to resolve ``target`` given by name.

        Returns:
            A :class:`PatchResult`.
        """
        start = time.perf_counter()
        if not callable(model):
            raise TypeError(f"model must be callable (an nn.Module), got {type(model).__name__}")
        target_label, target_name = resolve_target(target, class_names)
        pool = select_backgrounds(backgrounds, labels, target_label)
        generator = make_generator(self.seed)
        device = pool.device
        mask = patch_mask(self.size, self.shape).to(device)
        patch = torch.rand((3, self.size, self.size), generator=generator).to(device)
        patch.requires_grad_(True)
        optimizer = torch.optim.Adam([patch], lr=self.lr)
        counted = CountingModel(model)
        label = torch.full((self.batch_size,), target_label, dtype=torch.long, device=device)
        history: list[dict[str, float]] = []
        stream = self.eot.stream(self.batch_size, generator, backgrounds=pool)
        with eval_mode(model):
            for step in range(self.steps):
                conditions = next(stream)
                logits = counted(self.eot.apply(patch, mask, conditions))
                if step == 0:
                    check_num_classes(logits, target_label, None)
                loss = F.cross_entropy(logits, label)
                optimizer.zero_grad(set_to_none=True)
                for group in optimizer.param_groups:
                    group["lr"] = cosine_lr(self.lr, step, self.steps)
                loss.backward()
                optimizer.step()
                with torch.no_grad():
                    patch.clamp_(0.0, 1.0)
                if step % self.log_every == 0 or step == self.steps - 1:
                    success = (logits.detach().argmax(1) == label).float().mean()
                    history.append(
                        {
                            "step": float(step),
                            "loss": float(loss.detach()),
                            "batch_success": float(success),
                        }
                    )
        return PatchResult(
            patch=patch.detach() * mask,
            mask=mask,
            target=target_label,
            target_name=target_name,
            history=history,
            config=self.config(),
            forwards=counted.forwards,
            backwards=counted.backwards,
            views=self.steps * self.batch_size,
            time_s=time.perf_counter() - start,
        )


def resolve_target(target: int | str, class_names: Sequence[str] | None) -> tuple[int, str]:
    """``(index, name)`` of a target class given by index or by name."""
    if isinstance(target, str) and class_names is not None:
        names = list(class_names)
        if target not in names:
            close = [name for name in names if target.lower() in name.lower()][:10]
            hint = f"; similar names: {close}" if close else ""
            raise ValueError(f"unknown target class {target!r}{hint}")
        return names.index(target), target
    label = resolve_class("target", target)
    if class_names is not None:
        if label >= len(class_names):
            raise ValueError(f"target {label} is beyond the {len(class_names)} class names")
        return label, class_names[label]
    return label, class_name(label)


def select_backgrounds(backgrounds: object, labels: object, target: int) -> Tensor:
    """The ``(M', 3, H, W)`` backgrounds whose label is not ``target`` (all if no labels)."""
    if not isinstance(backgrounds, Tensor) or not backgrounds.is_floating_point():
        raise TypeError("backgrounds must be a floating-point torch.Tensor (M, 3, H, W)")
    if backgrounds.ndim != 4 or backgrounds.shape[1] != 3 or backgrounds.shape[0] < 1:
        raise ValueError(
            f"backgrounds must have shape (M, 3, H, W) with M >= 1, got {tuple(backgrounds.shape)}"
        )
    if labels is None:
        return backgrounds.detach()
    labels = check_labels("labels", labels, int(backgrounds.shape[0]), backgrounds.device)
    keep = labels != target
    if not bool(keep.any()):
        raise ValueError("every background is of the target class; give scenes of other classes")
    return backgrounds.detach()[keep]
