"""Expectation over Transformation (EOT): a batched, differentiable distribution of physical
conditions for a printed object (a sign with stickers, a patch) seen by a camera.

A physical attack must work for every way the camera may see the printed object, so it
optimises the *expected* loss over a distribution ``T`` of transformations (Athalye et al.,
2018): ``min_δ E_{t ~ T} L(f(t(x + δ)))``, estimated on a batch of sampled ``t``. This module
is that distribution, split in two steps so that the same conditions can be replayed:

1. :meth:`EOT.sample` draws ``n`` conditions from the ranges of a :class:`PhysicalConditions`
   with a seeded ``torch.Generator`` into a :class:`ConditionBatch` (plain tensors, no
   gradients): camera pose, lighting, blur, noise, an occluder and a background
   (:meth:`EOT.stream` hands out such batches one after another for an optimisation loop);
2. :meth:`EOT.apply` renders an object — an RGB image with a shape mask, as from
   :func:`aisec.data.signs.canonical_sign` — under those conditions. It is differentiable with
   respect to the image (and the mask), so the gradient of a classifier's loss reaches every
   pixel of a sticker or patch.

The rendering follows the signs dataset's renderer (:mod:`aisec.data.signs_scene`) step by step
and reuses its parts (texture preparation, supersampled warping, procedural backgrounds,
blur); the default ranges *are* that renderer's constants, so an attack optimised over the
default EOT covers the conditions the signs classifier was trained on. The differences: every
range is a parameter, the conditions are a value that can be reused (the same 200 held-out
views for a clean sign, an attacked one and a control), and backgrounds may be given (photos
for an ImageNet patch, sign scenes for a patch on the signs model).

Geometry (a pinhole camera looking at a planar object). The object's texture spans ``[-1, 1]²``
with an empty ``margin`` (a fraction of its side) on each side. It is rolled in its plane by
``roll``, tilted out of plane by ``tilt`` about an in-plane axis at a random angle, and placed at
depth 1 in front of a camera of focal length ``focal`` (in half-frame units; smaller means
stronger perspective) so that its width, seen frontally, is ``scale`` of the frame's width;
its centre sits at ``shift · (1.05 − scale)`` in normalized frame coordinates, i.e. ``shift =
±1`` lets it overhang the frame's edge by 5 % as in the dataset.

Reference:
    A. Athalye, L. Engstrom, A. Ilyas, K. Kwok, "Synthesizing Robust Adversarial Examples",
    ICML 2018; K. Eykholt et al., "Robust Physical-World Attacks on Deep Learning Visual
    Classification", CVPR 2018 (Section 4: the physical conditions).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator
from dataclasses import dataclass, fields

import torch
import torch.nn.functional as F
from torch import Tensor

from aisec.data import signs_scene as _scene
from aisec.data.signs import MARGIN

__all__ = ["EOT", "ConditionBatch", "PhysicalConditions", "make_generator"]

Range = tuple[float, float]

# Hard limits of each range: (lowest, highest) allowed value, and a one-line meaning.
_LIMITS: dict[str, tuple[float, float, str]] = {
    "scale": (0.05, 2.0, "the object's width as a fraction of the frame's width"),
    "shift": (-1.0, 1.0, "the object's centre as a fraction of the room left in the frame"),
    "tilt_deg": (0.0, 75.0, "out-of-plane rotation (viewing angle) in degrees"),
    "roll_deg": (-180.0, 180.0, "in-plane rotation in degrees"),
    "focal": (0.5, 20.0, "focal length in half-frame units"),
    "brightness": (0.05, 4.0, "global exposure factor"),
    "contrast": (0.0, 4.0, "contrast factor about the image mean"),
    "colour_cast": (-0.5, 0.5, "per-channel relative gain change (colour cast)"),
    "illumination": (0.05, 4.0, "light level on the object"),
    "shading": (0.0, 0.9, "strength of the light gradient across the object"),
    "blur": (0.0, 4.0, "Gaussian blur sigma in pixels at 32 px (scaled with the image size)"),
    "noise": (0.0, 0.5, "sensor noise standard deviation"),
}


@dataclass(frozen=True)
class PhysicalConditions:
    """Ranges of the physical conditions under which a printed object is photographed.

    Each range is ``(low, high)`` with ``low <= high`` (equal values fix a condition) inside the
    documented limits; values are drawn uniformly unless stated. The defaults are the signs
    dataset renderer's ranges (:mod:`aisec.data.signs_scene`), so optimising over them covers
    the conditions the signs classifier was trained on.

    Attributes:
        scale: the object's width as a fraction of the frame's width (viewing distance), drawn
            skewed towards large objects (``low + (high - low) · u^0.7``) as in the dataset.
        shift: the object's centre, per axis, as a fraction of the room left in the frame
            (translation); ``±1`` puts it at the frame's edge.
        tilt_deg: out-of-plane rotation (viewing angle) in degrees, about a random in-plane
            axis; must keep the plane's horizon out of the frame: ``tan(tilt) < focal / √2``.
        roll_deg: in-plane rotation in degrees.
        focal: focal length in half-frame units (smaller means stronger perspective).
        brightness: global exposure factor, drawn log-uniformly.
        contrast: contrast factor about each image's mean.
        colour_cast: relative gain change of each colour channel (white balance).
        illumination: light level on the object (multiplies its colours).
        shading: strength of a linear light gradient across the object (shadows, sun angle).
        blur: Gaussian blur sigma in pixels at a 32-px image (scaled with the image size),
            drawn as ``low + (high - low) · u²`` (most images sharp), as in the dataset.
        noise: standard deviation of additive Gaussian sensor noise.
        occlusion: probability that a bar (branch, pole) or a patch hides part of the object
            (up to about a sixth of it), in ``[0, 1]``.
    """

    scale: Range = _scene.FILL
    shift: Range = (-1.0, 1.0)
    tilt_deg: Range = (0.0, _scene.MAX_TILT_DEG)
    roll_deg: Range = (-_scene.MAX_ROLL_DEG, _scene.MAX_ROLL_DEG)
    focal: Range = _scene.FOCAL
    brightness: Range = _scene.BRIGHTNESS
    contrast: Range = _scene.CONTRAST
    colour_cast: Range = (-_scene.CAST, _scene.CAST)
    illumination: Range = (0.75, 1.1)
    shading: Range = (0.0, 0.3)
    blur: Range = (0.0, _scene.MAX_BLUR_PX)
    noise: Range = (0.0, _scene.MAX_NOISE)
    occlusion: float = _scene.OCCLUSION_P

    def __post_init__(self) -> None:
        for name, (low_limit, high_limit, meaning) in _LIMITS.items():
            value = getattr(self, name)
            if not isinstance(value, (tuple, list)) or len(value) != 2:
                raise TypeError(
                    f"{name} must be a (low, high) pair of numbers ({meaning}), got {value!r}"
                )
            low, high = (_number(f"{name}[{i}]", v) for i, v in enumerate(value))
            if low > high:
                raise ValueError(
                    f"{name} range ({low}, {high}) is empty: low must be <= high ({meaning})"
                )
            if low < low_limit or high > high_limit:
                raise ValueError(
                    f"{name} range ({low}, {high}) is out of range: {meaning} must lie in "
                    f"[{low_limit}, {high_limit}]"
                )
            object.__setattr__(self, name, (low, high))
        occlusion = _number("occlusion", self.occlusion)
        if not 0.0 <= occlusion <= 1.0:
            raise ValueError(f"occlusion is a probability and must be in [0, 1], got {occlusion}")
        object.__setattr__(self, "occlusion", occlusion)
        tilt, focal = math.radians(self.tilt_deg[1]), self.focal[0]
        if math.tan(tilt) >= 0.95 * focal / math.sqrt(2.0):
            limit = math.degrees(math.atan(0.95 * focal / math.sqrt(2.0)))
            raise ValueError(
                f"tilt_deg up to {self.tilt_deg[1]} is too strong for focal down to {focal}: the "
                f"object's plane would reach the horizon inside the frame; keep tilt_deg below "
                f"{limit:.1f} for this focal, or raise focal"
            )

    def replace(self, **changes: object) -> PhysicalConditions:
        """A copy with some ranges changed (validated again)."""
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]

    def to_dict(self) -> dict[str, object]:
        """The ranges as a JSON-friendly dict."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def patch_defaults(cls) -> PhysicalConditions:
        """Ranges for an adversarial patch stuck anywhere in a photo (Brown et al., 2017).

        The patch covers 25-40 % of the frame's width (about 5-13 % of the area for a round
        patch), anywhere in the frame, rotated by up to ±45°, seen at up to 20° off-axis,
        under milder lighting and blur than a sign in a street (the scenes it is stuck on
        have their own) and without occlusion.
        """
        return cls(
            scale=(0.25, 0.4),
            shift=(-1.0, 1.0),
            tilt_deg=(0.0, 20.0),
            roll_deg=(-45.0, 45.0),
            focal=(2.0, 3.0),
            brightness=(0.8, 1.2),
            contrast=(0.85, 1.15),
            colour_cast=(-0.05, 0.05),
            illumination=(0.9, 1.1),
            shading=(0.0, 0.15),
            blur=(0.0, 0.2),
            noise=(0.0, 0.01),
            occlusion=0.0,
        )


def _number(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}")
    result = float(value)
    if not math.isfinite(result):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return result


def make_generator(seed_or_generator: int | torch.Generator) -> torch.Generator:
    """A CPU ``torch.Generator``: the given one, or a new one seeded with the given int."""
    if isinstance(seed_or_generator, torch.Generator):
        return seed_or_generator
    if isinstance(seed_or_generator, bool) or not isinstance(seed_or_generator, int):
        raise TypeError(
            "generator must be a torch.Generator or an int seed, got "
            f"{type(seed_or_generator).__name__}"
        )
    return torch.Generator().manual_seed(seed_or_generator)


@dataclass(frozen=True)
class ConditionBatch:
    """``n`` sampled physical conditions (see :meth:`EOT.sample`); all tensors on one device.

    Attributes:
        image_size: side ``H`` of the rendered images.
        scale: ``(n,)`` object width / frame width.
        center: ``(n, 2)`` object centre ``(x, y)`` in normalized frame coordinates.
        focal: ``(n,)`` focal lengths.
        tilt: ``(n,)`` out-of-plane rotation in radians; ``tilt_axis`` ``(n,)`` its axis angle.
        roll: ``(n,)`` in-plane rotation in radians.
        illumination: ``(n,)`` light level; ``shading`` ``(n,)`` gradient strength;
            ``shading_direction`` ``(n,)`` its direction in radians.
        occluder_alpha: ``(n, 1, H, H)`` coverage of the occluder (zero where none).
        occluder_colour: ``(n, 3, 1, 1)``.
        gain: ``(n, 3)`` brightness times colour cast per channel.
        contrast: ``(n,)``.
        blur_sigma: ``(n,)`` in pixels at ``image_size``; ``blur_radius`` the kernel radius.
        noise: ``(n, 3, H, H)`` sensor noise, already scaled.
        background: ``(n, 3, H, H)`` what lies behind the object.
        background_index: ``(n,)`` which given background each condition uses (``-1``:
            procedural).
    """

    image_size: int
    scale: Tensor
    center: Tensor
    focal: Tensor
    tilt: Tensor
    tilt_axis: Tensor
    roll: Tensor
    illumination: Tensor
    shading: Tensor
    shading_direction: Tensor
    occluder_alpha: Tensor
    occluder_colour: Tensor
    gain: Tensor
    contrast: Tensor
    blur_sigma: Tensor
    blur_radius: int
    noise: Tensor
    background: Tensor
    background_index: Tensor

    def __len__(self) -> int:
        return int(self.scale.shape[0])

    def select(self, index: Tensor | slice) -> ConditionBatch:
        """The conditions at ``index`` (a slice or an index tensor), e.g. a mini-batch."""
        values = {
            f.name: getattr(self, f.name)[index]
            for f in fields(self)
            if isinstance(getattr(self, f.name), Tensor)
        }
        return ConditionBatch(image_size=self.image_size, blur_radius=self.blur_radius, **values)

    def inverse_homographies(self, margin: float) -> Tensor:
        """``(n, 3, 3)`` maps from frame coordinates to texture coordinates.

        Args:
            margin: empty border of the texture on each side, as a fraction of its side.
        """
        n, dtype = len(self), torch.float64
        cos_r, sin_r = torch.cos(self.roll).to(dtype), torch.sin(self.roll).to(dtype)
        zeros, ones = torch.zeros_like(cos_r), torch.ones_like(cos_r)
        rot_roll = torch.stack(
            [cos_r, -sin_r, zeros, sin_r, cos_r, zeros, zeros, zeros, ones], dim=1
        ).view(n, 3, 3)
        # Tilt about the in-plane axis a = (cos φ, sin φ, 0), by Rodrigues' formula.
        ax, ay = torch.cos(self.tilt_axis).to(dtype), torch.sin(self.tilt_axis).to(dtype)
        cross = torch.stack([zeros, zeros, ay, zeros, zeros, -ax, -ay, ax, zeros], 1).view(n, 3, 3)
        tilt = self.tilt.to(dtype)[:, None, None]
        eye = torch.eye(3, dtype=dtype, device=cos_r.device).expand(n, 3, 3)
        rot = (eye + torch.sin(tilt) * cross + (1 - torch.cos(tilt)) * (cross @ cross)) @ rot_roll
        # Texture (u, v) -> 3D point  s · (u r1 + v r2) + t  on the plane at depth 1.
        focal = self.focal.to(dtype)
        size = (self.scale.to(dtype) / (focal * (1.0 - 2.0 * margin)))[:, None]
        center = self.center.to(dtype)
        t = torch.stack([center[:, 0] / focal, center[:, 1] / focal, ones], dim=1)
        extrinsic = torch.stack([size * rot[:, :, 0], size * rot[:, :, 1], t], dim=2)
        intrinsic = torch.diag_embed(torch.stack([focal, focal, ones], dim=1))
        inverse: Tensor = torch.linalg.inv(intrinsic @ extrinsic)
        return inverse.float()


class EOT:
    """A distribution of physical conditions: :meth:`sample` draws them, :meth:`apply` renders.

    Args:
        conditions: the ranges; default :class:`PhysicalConditions` (the signs dataset's).
        image_size: side ``H`` of the rendered (camera) images, in ``[8, 512]``.
        margin: empty border of the objects' textures on each side, as a fraction of the side:
            :data:`aisec.data.signs.MARGIN` for sign templates, ``0`` for a patch.

    Example:
        >>> eot = EOT(image_size=32)
        >>> views = eot(sign.image, sign.mask, eot.sample(64, 0))  # (64, 3, 32, 32)

        A randomized defense transforms a batch of whole images (one object per condition,
        ``margin=0``, a plain background):

        >>> eot = EOT(PhysicalConditions(scale=(0.85, 1.0), ...), image_size=32, margin=0.0)
        >>> grey = torch.full((1, 3, 32, 32), 0.5)
        >>> x_t = eot(x, torch.ones(1, 32, 32), eot.sample(len(x), gen, backgrounds=grey))

    Reference:
        Athalye et al., "Synthesizing Robust Adversarial Examples", ICML 2018.
    """

    def __init__(
        self,
        conditions: PhysicalConditions | None = None,
        *,
        image_size: int = 32,
        margin: float = MARGIN,
    ) -> None:
        if conditions is None:
            conditions = PhysicalConditions()
        if not isinstance(conditions, PhysicalConditions):
            raise TypeError(
                f"conditions must be a PhysicalConditions, got {type(conditions).__name__}"
            )
        if isinstance(image_size, bool) or not isinstance(image_size, int):
            raise TypeError(f"image_size must be an int, got {type(image_size).__name__}")
        if not 8 <= image_size <= 512:
            raise ValueError(f"image_size must be in [8, 512], got {image_size}")
        margin = _number("margin", margin)
        if not 0.0 <= margin < 0.5:
            raise ValueError(f"margin must be in [0, 0.5), got {margin}")
        self.conditions = conditions
        self.image_size = image_size
        self.margin = margin

    def __repr__(self) -> str:
        return f"EOT({self.conditions!r}, image_size={self.image_size}, margin={self.margin})"

    def sample(
        self,
        n: int,
        generator: int | torch.Generator,
        *,
        backgrounds: Tensor | None = None,
        device: torch.device | str | None = None,
    ) -> ConditionBatch:
        """Draw ``n`` conditions.

        All randomness comes from ``generator`` (drawn on the CPU, then moved to ``device``), so
        the same seed gives the same conditions, whatever is rendered under them.

        Args:
            n: number of conditions, at least 1.
            generator: a CPU ``torch.Generator`` or an int seed.
            backgrounds: ``None`` for procedural street backgrounds (as in the signs dataset),
                or ``(M, 3, H, H)`` images in ``[0, 1]`` (``H = image_size``) from which each
                condition draws one uniformly.
            device: where the tensors live (default: the backgrounds' device, else the CPU).

        Returns:
            A :class:`ConditionBatch` of ``n`` conditions.
        """
        if isinstance(n, bool) or not isinstance(n, int):
            raise TypeError(f"n must be an int, got {type(n).__name__}")
        if n < 1:
            raise ValueError(f"n must be at least 1, got {n}")
        generator = make_generator(generator)
        side = self.image_size
        if backgrounds is not None:
            _check_backgrounds(backgrounds, side)
        target = torch.device(
            device
            if device is not None
            else (backgrounds.device if backgrounds is not None else "cpu")
        )
        c = self.conditions
        sample = _scene.Sampler(generator, n, target)

        def uniform(bounds: Range, *shape: int) -> Tensor:
            return sample.uniform(bounds[0], bounds[1], *shape)

        scale = c.scale[0] + (c.scale[1] - c.scale[0]) * sample.uniform(0.0, 1.0) ** 0.7
        focal = uniform(c.focal)
        tilt = torch.deg2rad(uniform(c.tilt_deg))
        tilt_axis = sample.uniform(0.0, 2.0 * math.pi)
        roll = torch.deg2rad(uniform(c.roll_deg))
        center = uniform(c.shift, 2) * (1.05 - scale).clamp_min(0.0)[:, None]
        illumination = uniform(c.illumination)
        shading = uniform(c.shading)
        shading_direction = sample.uniform(0.0, 2.0 * math.pi)
        occluder_alpha, occluder_colour = _scene.occluder(sample, scale, center, c.occlusion, side)
        log_b = sample.uniform(math.log(c.brightness[0]), math.log(c.brightness[1]))
        gain = torch.exp(log_b)[:, None] * (1.0 + uniform(c.colour_cast, 3))
        contrast = uniform(c.contrast)
        blur_scale = side / 32.0
        blur_sigma = blur_scale * (c.blur[0] + (c.blur[1] - c.blur[0]) * sample.uniform(0, 1) ** 2)
        blur_radius = min(math.ceil(3.0 * c.blur[1] * blur_scale), side - 1)
        noise = uniform(c.noise)[:, None, None, None] * sample.normal(3, side, side)
        if backgrounds is None:
            background = _scene.background(sample, side).clamp(0.0, 1.0)
            background_index = torch.full((n,), -1, dtype=torch.long, device=target)
        else:
            index = torch.randint(backgrounds.shape[0], (n,), generator=generator)
            background_index = index.to(target)
            background = backgrounds.detach().to(target, torch.float32)[background_index]
        return ConditionBatch(
            image_size=side,
            scale=scale,
            center=center,
            focal=focal,
            tilt=tilt,
            tilt_axis=tilt_axis,
            roll=roll,
            illumination=illumination,
            shading=shading,
            shading_direction=shading_direction,
            occluder_alpha=occluder_alpha,
            occluder_colour=occluder_colour,
            gain=gain,
            contrast=contrast,
            blur_sigma=blur_sigma,
            blur_radius=blur_radius,
            noise=noise,
            background=background,
            background_index=background_index,
        )

    def stream(
        self,
        batch_size: int,
        generator: int | torch.Generator,
        *,
        block: int = 16,
        backgrounds: Tensor | None = None,
        device: torch.device | str | None = None,
    ) -> Iterator[ConditionBatch]:
        """An endless stream of batches of conditions, as an optimisation loop consumes them.

        Conditions are drawn ``block`` batches at a time (one vectorised draw instead of many
        small ones, several times faster for small batches) and handed out a batch at a time.
        The stream is a deterministic function of the generator's seed, ``batch_size`` and
        ``block``.

        Args:
            batch_size: conditions per batch, at least 1.
            generator: a CPU ``torch.Generator`` or an int seed.
            block: batches drawn at once, at least 1.
            backgrounds: as in :meth:`sample`.
            device: as in :meth:`sample`.

        Yields:
            :class:`ConditionBatch` es of ``batch_size`` conditions.
        """
        if isinstance(block, bool) or not isinstance(block, int) or block < 1:
            raise ValueError(f"block must be an int >= 1, got {block!r}")
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be an int >= 1, got {batch_size!r}")
        generator = make_generator(generator)
        while True:
            drawn = self.sample(
                block * batch_size, generator, backgrounds=backgrounds, device=device
            )
            for start in range(0, block * batch_size, batch_size):
                yield drawn.select(slice(start, start + batch_size))

    def apply(self, image: Tensor, mask: Tensor, conditions: ConditionBatch) -> Tensor:
        """Render the object ``(image, mask)`` under each of the ``n`` conditions.

        Differentiable with respect to ``image`` and ``mask``.

        Args:
            image: ``(3, S, S)`` or ``(B, 3, S, S)`` colours in ``[0, 1]`` with ``B`` 1 or ``n``
                (one object for every condition, or one per condition).
            mask: ``(1, S, S)`` or ``(B, 1, S, S)`` the object's shape in ``[0, 1]`` (1 on the
                sign, 0 around it).
            conditions: from :meth:`sample` with this EOT's ``image_size``.

        Returns:
            ``(n, 3, H, H)`` float32 camera images in ``[0, 1]``.
        """
        if not isinstance(conditions, ConditionBatch):
            raise TypeError(
                f"conditions must be a ConditionBatch from EOT.sample, got "
                f"{type(conditions).__name__}"
            )
        if conditions.image_size != self.image_size:
            raise ValueError(
                f"the conditions were sampled for {conditions.image_size}-px images but this "
                f"EOT renders {self.image_size}-px images"
            )
        image, mask = _check_object(image, mask, len(conditions))
        n, side = len(conditions), self.image_size
        device = conditions.scale.device
        textures = _scene.prepare_textures(image.to(device), mask.to(device), side)
        textures = textures.expand(n, -1, -1, -1) if textures.shape[0] == 1 else textures

        # 1. Warp the texture into the frame (supersampled, then area-downsampled).
        grid = _sample_grid(conditions.inverse_homographies(self.margin), _scene.SUPERSAMPLE * side)
        warped = F.grid_sample(
            textures, grid, mode="bilinear", padding_mode="zeros", align_corners=False
        )
        warped = _scene.downsample(warped)
        colour, alpha = warped[:, :3], warped[:, 3:]

        # 2. Light the object (level and gradient) and composite it over the background.
        xs, ys = _scene.pixel_coords(side, device)
        cx = conditions.center[:, 0, None, None, None]
        cy = conditions.center[:, 1, None, None, None]
        direction = conditions.shading_direction[:, None, None, None]
        along = (xs - cx) * torch.cos(direction) + (ys - cy) * torch.sin(direction)
        shade = conditions.illumination[:, None, None, None] * (
            1.0
            + conditions.shading[:, None, None, None]
            * along
            / conditions.scale[:, None, None, None]
        )
        out = conditions.background * (1.0 - alpha) + colour * shade

        # 3. Occluder, then the camera: exposure and cast, contrast, blur, noise.
        out = out + (conditions.occluder_colour - out) * conditions.occluder_alpha
        out = out * conditions.gain[:, :, None, None]
        mean = out.mean(dim=(1, 2, 3), keepdim=True)
        out = (out - mean) * conditions.contrast[:, None, None, None] + mean
        if conditions.blur_radius > 0:
            out = _scene.gaussian_blur(out, conditions.blur_sigma, conditions.blur_radius)
        return (out + conditions.noise).clamp(0.0, 1.0)

    def __call__(self, image: Tensor, mask: Tensor, conditions: ConditionBatch) -> Tensor:
        """Same as :meth:`apply`."""
        return self.apply(image, mask, conditions)


def _sample_grid(inverse_homography: Tensor, side: int) -> Tensor:
    """``(n, side, side, 2)`` texture coordinates of the output pixel centres."""
    xs, ys = _scene.pixel_coords(side, inverse_homography.device)
    h = inverse_homography[:, :, :, None, None]
    u, v, w = (h[:, i, 0] * xs[0] + (h[:, i, 1] * ys[0] + h[:, i, 2]) for i in range(3))
    # w > 0 over the frame: PhysicalConditions keeps the plane's horizon out of the frame.
    return torch.stack([u, v], dim=-1) / w.clamp_min(1e-6)[..., None]


def _check_backgrounds(backgrounds: object, side: int) -> None:
    if not isinstance(backgrounds, Tensor):
        raise TypeError(f"backgrounds must be a torch.Tensor, got {type(backgrounds).__name__}")
    if not backgrounds.is_floating_point():
        raise TypeError(f"backgrounds must be floating point, got {backgrounds.dtype}")
    if (
        backgrounds.ndim != 4
        or backgrounds.shape[0] < 1
        or tuple(backgrounds.shape[1:])
        != (
            3,
            side,
            side,
        )
    ):
        raise ValueError(
            f"backgrounds must have shape (M, 3, {side}, {side}) to match image_size={side}, "
            f"got {tuple(backgrounds.shape)}"
        )


def _check_tensor(name: str, value: object, channels: int) -> Tensor:
    """``value`` as ``(B, channels, S, S)`` if it is a float ``(channels, S, S)`` or 4-D tensor."""
    if not isinstance(value, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(value).__name__}")
    if not value.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor, got dtype {value.dtype}")
    if value.ndim not in (3, 4) or value.shape[-3] != channels:
        raise ValueError(
            f"{name} must have shape ({channels}, S, S) or (B, {channels}, S, S), got "
            f"{tuple(value.shape)}"
        )
    return value[None] if value.ndim == 3 else value


def _check_object(image: object, mask: object, n: int) -> tuple[Tensor, Tensor]:
    """Batch ``image`` ``(B, 3, S, S)`` and ``mask`` ``(B, 1, S, S)`` with ``B`` in ``{1, n}``."""
    image = _check_tensor("image", image, 3)
    mask = _check_tensor("mask", mask, 1)
    if image.shape[-1] != image.shape[-2] or image.shape[-2:] != mask.shape[-2:]:
        raise ValueError(
            f"image and mask must be square and of the same size, got {tuple(image.shape)} and "
            f"{tuple(mask.shape)}"
        )
    if image.shape[0] not in (1, n) or mask.shape[0] not in (1, n):
        raise ValueError(
            f"image and mask must hold 1 object or one per condition ({n}), got "
            f"{image.shape[0]} and {mask.shape[0]}"
        )
    if image.shape[0] != mask.shape[0]:
        batch = max(image.shape[0], mask.shape[0])
        image = image.expand(batch, -1, -1, -1)
        mask = mask.expand(batch, -1, -1, -1)
    return image, mask
