"""RP2 (Robust Physical Perturbations): printable stickers that make a sign read as another.

Eykholt et al. optimise a perturbation ``δ`` restricted by a mask ``M_x`` to sticker-shaped
regions of a sign ``x``, over a distribution ``X^V`` of physical views of the sign:

    argmin_δ  λ ‖M_x · δ‖_p  +  NPS  +  E_{x_i ~ X^V} J(f_θ(x_i + T_i(M_x · δ)), y*)

where ``T_i`` maps the sticker onto the view ``x_i`` (the same camera geometry and lighting as
the sign), ``J`` is the classifier's loss for the target class ``y*`` and NPS is Sharif et al.'s
non-printability score. aisec implements it with these choices:

- a sticker is opaque, so the attacked sign is ``x' = (1 − M) · x + M · s`` with sticker colours
  ``s ∈ [0, 1]`` (``δ = M · (s − x)``); pixels outside the mask are exactly those of ``x``;
- ``X^V`` is the EOT distribution of :mod:`aisec.attacks.physical.transforms` (viewing angle,
  distance, rotation, lighting, blur, noise, occlusion, backgrounds); every step draws a fresh
  batch of views from a seeded generator;
- ``J`` is the cross-entropy of the target (targeted) or ``−log(1 − p_source)`` (untargeted),
  averaged over the views (``loss="probability"`` uses ``1 − p_target``, the expected success
  rate itself);
- the size penalty is the root-mean-square of ``δ`` over the mask (``p = 2``), plus a total
  variation term ``TV(s)`` (Sharif et al.) for smooth, printable stickers;
- ``s`` is optimised in square cells of ``cell`` canonical pixels (the finest detail the camera
  resolves), with Adam and a cosine-decaying step size;
- printability: by default each cell holds logits over the palette's colours and its colour is
  the softmax mixture, so the sticker never leaves the printable gamut; NPS pushes each mixture
  towards one colour; in the last ``straight_through`` fraction of the steps the views show the
  printed sticker (each cell's likeliest colour) with a straight-through gradient. With
  ``parametrization="rgb"`` the cells hold colours, as in the paper, and are printed as their
  nearest palette colour;
- the result's sticker is the *printed* one (palette colours): what
  :mod:`aisec.evaluate.physical` measures. ``printable=False`` turns printability off
  (free colours, no NPS, no quantization: the digital upper bound).

Reference:
    K. Eykholt, I. Evtimov, E. Fernandes, B. Li, A. Rahmati, C. Xiao, A. Prakash, T. Kohno,
    D. Song, "Robust Physical-World Attacks on Deep Learning Visual Classification", CVPR 2018.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from aisec.attacks.physical._common import (
    check_float,
    check_int,
    check_num_classes,
    class_name,
    cosine_lr,
    resolve_class,
    save_rgba_png,
)
from aisec.attacks.physical.masks import sticker_mask
from aisec.attacks.physical.palette import PRINTER_PALETTE, Palette
from aisec.attacks.physical.transforms import EOT, PhysicalConditions, make_generator
from aisec.data.signs import SignTemplate
from aisec.models.plumbing import CountingModel, Model, eval_mode

__all__ = ["RP2", "RP2Result", "total_variation"]


def total_variation(image: Tensor, mask: Tensor) -> Tensor:
    """Isotropic total variation of ``image`` inside ``mask``, per masked pixel.

    ``TV(p) = Σ_{i,j} sqrt((p_{i,j} − p_{i+1,j})² + (p_{i,j} − p_{i,j+1})²)`` over the pixel pairs
    that both lie in the mask (Sharif et al., 2016), divided by the mask's pixel count.

    Args:
        image: ``(3, H, W)`` colours.
        mask: ``(1, H, W)`` in ``{0, 1}``.

    Returns:
        A scalar, differentiable in ``image``.
    """
    dy = (image[:, 1:, :-1] - image[:, :-1, :-1]) * (mask[:, 1:, :-1] * mask[:, :-1, :-1])
    dx = (image[:, :-1, 1:] - image[:, :-1, :-1]) * (mask[:, :-1, 1:] * mask[:, :-1, :-1])
    tv = (dy.square().sum(0) + dx.square().sum(0) + 1e-8).sqrt() - math.sqrt(1e-8)
    return tv.sum() / mask.sum().clamp_min(1.0)


@dataclass
class RP2Result:
    """An RP2 sticker and the attacked sign.

    Attributes:
        source: the sign's true class; ``target`` the class aimed for (``None``: untargeted).
        sign: ``(3, S, S)`` the clean sign; ``sign_mask`` ``(1, S, S)`` its shape.
        mask: ``(1, S, S)`` where the sticker is (inside the sign).
        sticker: ``(3, S, S)`` the sticker to print: palette colours inside ``mask`` (the
            quantized optimum; the free colours if the attack ran with ``printable=False``),
            zero outside.
        sticker_continuous: ``(3, S, S)`` the optimised colours before quantization.
        adversarial_sign: ``(3, S, S)`` the sign with the printed sticker on it; equal to
            ``sign`` outside ``mask``.
        palette: the printer palette.
        history: per logged step: ``step``, ``loss``, ``adversarial_loss``, ``nps``, ``tv``,
            ``l2`` and ``batch_success`` (fraction of the step's views that succeeded).
        config: the attack's hyperparameters.
        forwards, backwards: batched model calls; ``views`` rendered views in all.
        time_s: wall-clock seconds.
    """

    source: int
    target: int | None
    sign: Tensor
    sign_mask: Tensor
    mask: Tensor
    sticker: Tensor
    sticker_continuous: Tensor
    adversarial_sign: Tensor
    palette: Palette
    history: list[dict[str, float]] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)
    forwards: int = 0
    backwards: int = 0
    views: int = 0
    time_s: float = 0.0

    @property
    def sticker_area(self) -> float:
        """The sticker's area as a fraction of the sign's area."""
        return float(self.mask.sum() / self.sign_mask.sum().clamp_min(1.0))

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly summary (no images): classes, area, palette, config, history."""
        return {
            "source": class_name(self.source),
            "target": None if self.target is None else class_name(self.target),
            "targeted": self.target is not None,
            "sticker_area": self.sticker_area,
            "sticker_size": list(self.sticker.shape[-2:]),
            "palette": self.palette.name,
            "config": self.config,
            "forwards": self.forwards,
            "backwards": self.backwards,
            "views": self.views,
            "time_s": self.time_s,
            "history": self.history,
        }

    def save_sticker_png(self, path: str | Path) -> Path:
        """Write the printable sticker: palette colours, transparent outside the mask."""
        return save_rgba_png(self.sticker, self.mask, path)


class RP2:
    """RP2 stickers (Eykholt et al., CVPR 2018): a masked, printable, EOT-robust perturbation.

    Args:
        steps: Adam steps.
        batch_size: views of the sign (EOT samples) per step.
        lr: Adam's (initial, cosine-decayed) learning rate; default 0.2 on the palette logits,
            0.03 on RGB colours.
        nps_weight: weight of the non-printability score (Sharif et al.'s product of distances
            to the palette colours, averaged over the sticker).
        tv_weight: weight of the total variation (smoothness).
        l2_weight: weight of the size penalty, the RMS of ``δ = M · (s − x)`` over the mask.
        straight_through: fraction of the last steps that see the palette-quantized sticker
            (straight-through gradient), in ``[0, 1]``.
        conditions: the EOT ranges; default :class:`PhysicalConditions` (the signs dataset's).
        image_size: side of the camera images the model sees.
        palette: the printer's colours.
        init: ``"sign"`` starts from the sign's own colours (``δ = 0``), ``"random"`` from
            random palette colours.
        parametrization: ``"palette"`` (default when printable) optimises, per pixel, logits
            of a mixture of the palette's colours (the sticker stays inside the printable gamut
            and NPS pushes each mixture to one colour; printing takes the likeliest colour);
            ``"rgb"`` optimises the colours directly as in the paper (printing takes the nearest
            palette colour).
        printable: ``True``: the result's sticker is quantized to the palette (and NPS and the
            straight-through phase apply). ``False``: free RGB colours, no NPS, no
            quantization: what a digital attacker could do, an upper bound for the printed one.
        cell: the sticker is optimised in square cells of ``cell`` canonical pixels (4: a
            256-px sign has 64 x 64 cells, about the finest detail a 32-px camera image of it
            resolves); the printed PNG keeps the canonical resolution.
        loss: the attack term ``J`` averaged over the views. ``"cross_entropy"`` (default, the
            paper's): ``−log p_target`` (untargeted: ``−log(1 − p_source)``).
            ``"probability"``: ``1 − p_target`` (untargeted: ``p_source``), the expected soft
            success rate, whose gradient comes from views near the decision boundary rather
            than from views no sticker can win; it can gain a point or two once the attack
            works, but it has no gradient to start from when the model is certain of the
            source class (small stickers then never move).
        log_every: steps between history records.
        seed: seeds the views and the initialization.

    Reference:
        Eykholt et al., "Robust Physical-World Attacks on Deep Learning Visual Classification",
        CVPR 2018; Sharif et al., ACM CCS 2016 (NPS and TV).
    """

    def __init__(
        self,
        *,
        steps: int = 300,
        batch_size: int = 32,
        lr: float | None = None,
        nps_weight: float = 0.5,
        tv_weight: float = 0.05,
        l2_weight: float = 0.02,
        straight_through: float = 0.3,
        conditions: PhysicalConditions | None = None,
        image_size: int = 32,
        palette: Palette = PRINTER_PALETTE,
        init: str = "sign",
        parametrization: str | None = None,
        printable: bool = True,
        cell: int = 4,
        loss: str = "cross_entropy",
        log_every: int = 25,
        seed: int = 0,
    ) -> None:
        self.steps = check_int("steps", steps, 1)
        self.batch_size = check_int("batch_size", batch_size, 1)
        if not isinstance(printable, bool):
            raise TypeError(f"printable must be a bool, got {type(printable).__name__}")
        self.printable = printable
        if parametrization is None:
            parametrization = "palette" if printable else "rgb"
        if parametrization not in ("palette", "rgb"):
            raise ValueError(f"parametrization must be 'palette' or 'rgb', got {parametrization!r}")
        if parametrization == "palette" and not printable:
            raise ValueError(
                "parametrization='palette' keeps colours printable; use 'rgb' with printable=False"
            )
        self.parametrization = parametrization
        if lr is None:
            lr = 0.2 if parametrization == "palette" else 0.03
        self.lr = check_float("lr", lr, positive=True)
        self.nps_weight = check_float("nps_weight", nps_weight)
        self.tv_weight = check_float("tv_weight", tv_weight)
        self.l2_weight = check_float("l2_weight", l2_weight)
        self.straight_through = check_float("straight_through", straight_through)
        if self.straight_through > 1.0:
            raise ValueError(f"straight_through must be in [0, 1], got {straight_through}")
        self.eot = EOT(conditions, image_size=image_size)
        if not isinstance(palette, Palette):
            raise TypeError(f"palette must be a Palette, got {type(palette).__name__}")
        self.palette = palette
        if init not in ("sign", "random"):
            raise ValueError(f"init must be 'sign' or 'random', got {init!r}")
        self.init = init
        self.cell = check_int("cell", cell, 1)
        if loss not in ("probability", "cross_entropy"):
            raise ValueError(f"loss must be 'probability' or 'cross_entropy', got {loss!r}")
        self.loss = loss
        self.log_every = check_int("log_every", log_every, 1)
        self.seed = check_int("seed", seed, 0)

    def config(self) -> dict[str, Any]:
        """The hyperparameters as a JSON-friendly dict."""
        return {
            "steps": self.steps,
            "batch_size": self.batch_size,
            "lr": self.lr,
            "nps_weight": self.nps_weight,
            "tv_weight": self.tv_weight,
            "l2_weight": self.l2_weight,
            "straight_through": self.straight_through,
            "image_size": self.eot.image_size,
            "conditions": self.eot.conditions.to_dict(),
            "palette": self.palette.name,
            "init": self.init,
            "parametrization": self.parametrization,
            "printable": self.printable,
            "cell": self.cell,
            "loss": self.loss,
            "seed": self.seed,
        }

    def __repr__(self) -> str:
        items = ", ".join(f"{k}={v!r}" for k, v in self.config().items() if k != "conditions")
        return f"RP2({items})"

    def _initial_parameters(
        self, image: Tensor, sticker: Tensor, generator: torch.Generator
    ) -> Tensor:
        """The optimised tensor, one value per cell: colours ``(3, G, G)`` or logits ``(K, G, G)``.

        ``G = ceil(S / cell)``; a cell's initial colour is the mean sign colour under the
        sticker in it (``init="sign"``) or a random palette colour (``init="random"``).
        """
        cells = math.ceil(image.shape[-1] / self.cell)
        if self.init == "random":
            start = self.palette.random_colours((cells, cells), generator).to(image.device)
        else:
            covered = _pool(sticker, self.cell)
            start = _pool(image * sticker, self.cell) / covered.clamp_min(1e-6)
            start = torch.where(covered > 0, start, _pool(image, self.cell)).clamp(0.0, 1.0)
        if self.parametrization == "rgb":
            return start.contiguous().requires_grad_(True)
        # Logits that put most weight (e^3 / (e^3 + K - 1), about 2/3) on the nearest colour.
        nearest = self.palette.distances(start).argmin(dim=0)
        logits = 3.0 * F.one_hot(nearest, len(self.palette)).permute(2, 0, 1).float()
        return logits.contiguous().requires_grad_(True)

    def _colours(self, parameters: Tensor) -> Tensor:
        """``(3, G, G)`` cell colours in ``[0, 1]`` from the optimised tensor."""
        if self.parametrization == "rgb":
            return parameters
        weights = parameters.softmax(dim=0)  # (K, G, G): a mixture of palette colours per cell
        return torch.einsum("khw,kc->chw", weights, self.palette.tensor(parameters.device))

    def _printed(self, parameters: Tensor) -> Tensor:
        """``(3, G, G)`` what is printed: the nearest (rgb) or likeliest (palette) colour."""
        if self.parametrization == "rgb":
            return self.palette.quantize(parameters)
        colours = self.palette.tensor(parameters.device)
        return colours[parameters.detach().argmax(dim=0)].permute(2, 0, 1)

    def _full(self, cells: Tensor, side: int) -> Tensor:
        """Cell values ``(C, G, G)`` spread over the canonical pixels, ``(C, S, S)``."""
        spread = cells.repeat_interleave(self.cell, dim=-2).repeat_interleave(self.cell, dim=-1)
        return spread[..., :side, :side]

    def __call__(
        self,
        model: Model,
        sign: SignTemplate,
        mask: Tensor | str,
        *,
        target: int | str | None,
        source: int | str | None = None,
    ) -> RP2Result:
        """Optimise a sticker on ``sign`` so that ``model`` reads it as ``target``.

        Args:
            model: a classifier mapping ``(N, 3, H, H)`` images in ``[0, 1]`` to logits; an
                ``nn.Module`` is put in eval mode and its modes are restored afterwards.
            sign: the canonical sign (``image (3, S, S)``, ``mask (1, S, S)``), e.g. from
                :func:`aisec.data.signs.canonical_sign`.
            mask: ``(1, S, S)`` (or ``(S, S)``) sticker mask in ``{0, 1}`` (e.g. from
                :func:`~aisec.attacks.physical.masks.load_mask_png`), or the name of a built-in
                shape (:data:`~aisec.attacks.physical.masks.STICKER_SHAPES`); it is cut to the
                sign's shape.
            target: the class to be read (index or sign class name), or ``None`` for an
                untargeted attack (any class but the source).
            source: the sign's true class; default: the class named ``sign.name``.

        Returns:
            An :class:`RP2Result` whose sticker is quantized to the palette.
        """
        start = time.perf_counter()
        if not callable(model):
            raise TypeError(f"model must be callable (an nn.Module), got {type(model).__name__}")
        image, sign_mask = _check_sign(sign)
        source_label = resolve_class("source", sign.name if source is None else source)
        target_label = None if target is None else resolve_class("target", target)
        if target_label is not None and target_label == source_label:
            raise ValueError(
                f"target must differ from the source class, got {class_name(target_label)!r} "
                "for both; pass target=None for an untargeted attack"
            )
        sticker = _check_mask(mask, sign_mask)
        device = image.device
        generator = make_generator(self.seed)
        side = image.shape[-1]
        parameters = self._initial_parameters(image, sticker, generator)
        # Cell-resolution weights of the regularisers: how much of each cell the sticker covers
        # (NPS), and which cells touch it (TV between neighbouring sticker cells).
        coverage = _pool(sticker, self.cell)
        touched = (coverage > 0).float()
        optimizer = torch.optim.Adam([parameters], lr=self.lr)
        counted = CountingModel(model)
        history: list[dict[str, float]] = []
        label = torch.tensor(target_label if target_label is not None else source_label)
        label = label.to(device).expand(self.batch_size)
        quantize_from = self.steps - round(self.straight_through * self.steps)
        if not self.printable:
            quantize_from = self.steps  # never quantize
        nps_weight = self.nps_weight if self.printable else 0.0
        views_stream = self.eot.stream(self.batch_size, generator, device=device)
        with eval_mode(model):
            for step in range(self.steps):
                colours = self._colours(parameters)
                shown = colours
                if step >= quantize_from:  # straight-through: print in the forward pass only
                    shown = colours + (self._printed(parameters) - colours).detach()
                painted = self._full(shown, side)
                adversarial = torch.where(sticker > 0.5, painted, image)
                views = self.eot.apply(adversarial, sign_mask, next(views_stream))
                logits = counted(views)
                if step == 0:
                    check_num_classes(logits, source_label, target_label)
                attack_loss = _attack_loss(logits, label, target_label is not None, self.loss)
                nps = self.palette.nps(colours, coverage)
                tv = total_variation(colours, touched)
                l2 = ((painted - image).square() * sticker).sum().div(3.0 * sticker.sum())
                l2 = l2.add(1e-12).sqrt()
                loss = attack_loss + nps_weight * nps + self.tv_weight * tv
                loss = loss + self.l2_weight * l2
                optimizer.zero_grad(set_to_none=True)
                for group in optimizer.param_groups:
                    group["lr"] = cosine_lr(self.lr, step, self.steps)
                loss.backward()
                optimizer.step()
                if self.parametrization == "rgb":
                    with torch.no_grad():
                        parameters.clamp_(0.0, 1.0)
                if step % self.log_every == 0 or step == self.steps - 1:
                    predictions = logits.detach().argmax(1)
                    hit = predictions == label if target_label is not None else predictions != label
                    history.append(
                        {
                            "step": float(step),
                            "loss": float(loss.detach()),
                            "adversarial_loss": float(attack_loss.detach()),
                            "nps": float(nps.detach()),
                            "tv": float(tv.detach()),
                            "l2": float(l2.detach()),
                            "batch_success": float(hit.float().mean()),
                        }
                    )
        with torch.no_grad():
            final = self._full(self._colours(parameters), side)
            printed = self._full(self._printed(parameters), side) if self.printable else final
            printed = printed * sticker
        return RP2Result(
            source=source_label,
            target=target_label,
            sign=image.detach().clone(),
            sign_mask=sign_mask.detach().clone(),
            mask=sticker,
            sticker=printed,
            sticker_continuous=final * sticker,
            adversarial_sign=torch.where(sticker > 0.5, printed, image.detach()),
            palette=self.palette,
            history=history,
            config=self.config(),
            forwards=counted.forwards,
            backwards=counted.backwards,
            views=self.steps * self.batch_size,
            time_s=time.perf_counter() - start,
        )


def _attack_loss(logits: Tensor, label: Tensor, targeted: bool, kind: str) -> Tensor:
    """The view-averaged attack loss ``J``.

    ``"cross_entropy"``: targeted ``−log p_target``, untargeted ``−log(1 − p_source)``.
    ``"probability"``: targeted ``1 − p_target``, untargeted ``p_source``.
    """
    log_p = logits.log_softmax(dim=1).gather(1, label[:, None]).squeeze(1)
    if kind == "probability":
        p = log_p.exp()
        return (1.0 - p).mean() if targeted else p.mean()
    if targeted:
        return -log_p.mean()
    # log(1 - p) computed stably from log p.
    return -torch.log1p(-log_p.exp().clamp(max=1.0 - 1e-6)).mean()


def _pool(image: Tensor, cell: int) -> Tensor:
    """Mean over ``cell x cell`` blocks (partial blocks at the edge averaged over what they
    hold): ``(C, S, S) -> (C, ceil(S / cell), ceil(S / cell))``."""
    return F.avg_pool2d(image[None], cell, ceil_mode=True, count_include_pad=False)[0]


def _check_sign(sign: object) -> tuple[Tensor, Tensor]:
    if not isinstance(sign, SignTemplate):
        raise TypeError(
            "sign must be a SignTemplate (e.g. aisec.data.signs.canonical_sign('stop')), got "
            f"{type(sign).__name__}"
        )
    image, mask = sign.image, sign.mask
    if (
        not isinstance(image, Tensor)
        or image.ndim != 3
        or image.shape[0] != 3
        or image.shape[1] != image.shape[2]
    ):
        raise ValueError(f"sign.image must be a (3, S, S) tensor, got {tuple(image.shape)}")
    if not isinstance(mask, Tensor) or tuple(mask.shape) != (1, *image.shape[1:]):
        raise ValueError(
            f"sign.mask must be (1, S, S) like sign.image {tuple(image.shape)}, got "
            f"{tuple(mask.shape)}"
        )
    return image.detach().float(), (mask.detach() > 0.5).float().to(image.device)


def _check_mask(mask: object, sign_mask: Tensor) -> Tensor:
    """The sticker mask as ``(1, S, S)`` in ``{0, 1}``, cut to the sign; errors if unusable."""
    if isinstance(mask, str):
        return _nonempty(sticker_mask(mask, sign_mask), f"built-in mask {mask!r}")
    if not isinstance(mask, Tensor):
        raise TypeError(
            f"mask must be a (1, S, S) tensor or a built-in shape name, got {type(mask).__name__}"
        )
    if mask.ndim == 2:
        mask = mask[None]
    side = int(sign_mask.shape[-1])
    if mask.ndim != 3 or mask.shape[0] != 1:
        raise ValueError(f"mask must have shape (1, S, S) or (S, S), got {tuple(mask.shape)}")
    if tuple(mask.shape[-2:]) != (side, side):
        raise ValueError(
            f"mask is {mask.shape[-2]}x{mask.shape[-1]} but the sign is {side}x{side}; the "
            "sticker mask must match the sign's size"
        )
    if not bool(torch.isfinite(mask.float()).all()):
        raise ValueError("mask contains NaN or infinite values")
    binary = (mask.detach().float().to(sign_mask.device) > 0.5).float()
    if not bool(binary.any()):
        raise ValueError("mask has no pixels: it must be 1 where the sticker goes")
    return _nonempty(binary * sign_mask, "mask")


def _nonempty(mask: Tensor, what: str) -> Tensor:
    if not bool(mask.any()):
        raise ValueError(f"{what} has no pixels on the sign: the sticker must overlap the sign")
    return mask
