"""Batched torch synthesis of street scenes around sign textures, for :mod:`aisec.data.signs`.

One chunk of examples is rendered at a time from a premultiplied RGBA texture per example:

1. a homography per example (pinhole camera looking at a tilted, rolled, scaled and shifted
   planar sign) is inverted and the texture is sampled with ``grid_sample`` at twice the output
   resolution, then area-downsampled (anti-aliasing);
2. a procedural background (sky/foliage/building gradient, colour blotches, clutter rectangles
   and ellipses in sign-like colours, a sign pole) is composited under the warped sign, with
   an illumination gradient across the sign;
3. occasionally an occluder (a branch- or pole-like bar, or a patch) covers part of the sign;
4. global brightness, contrast, colour cast, Gaussian blur and sensor noise are applied.

All randomness comes from the ``torch.Generator`` passed in (drawn on the CPU, then moved to
the textures' device), so a chunk is a deterministic function of its generator's seed.
"""

from __future__ import annotations

import hashlib
import math

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = [
    "BRIGHTNESS",
    "CAST",
    "CONTRAST",
    "FILL",
    "FOCAL",
    "MAX_BLUR_PX",
    "MAX_NOISE",
    "MAX_ROLL_DEG",
    "MAX_TILT_DEG",
    "OCCLUDER_COLOURS",
    "OCCLUSION_P",
    "SUPERSAMPLE",
    "Sampler",
    "background",
    "chunk_generator",
    "chunk_size",
    "downsample",
    "gaussian_blur",
    "occluder",
    "pixel_coords",
    "prepare_textures",
    "render_chunk",
    "texture_size",
]

SUPERSAMPLE = 2
"""The sign is warped at this multiple of the output resolution, then area-downsampled."""

_CHUNK_PIXELS = 1024 * 32 * 32
"""Examples per chunk times output pixels: 1024 examples at 32 x 32 (fixed, for determinism)."""

# Appearance ranges (output images are square with normalized coordinates in [-1, 1]). They, the
# sampler and the drawing helpers below are public because the physical attacks' EOT
# (aisec.attacks.physical.transforms) renders its conditions exactly like this dataset.
FILL = (0.45, 0.9)  # sign width as a fraction of the frame width
FOCAL = (1.5, 3.0)  # focal length in half-frame units: smaller means stronger perspective
MAX_TILT_DEG = 40.0  # out-of-plane rotation (viewing angle)
MAX_ROLL_DEG = 15.0  # in-plane rotation
OCCLUSION_P = 0.2
_POLE_P = 0.5
BRIGHTNESS = (0.5, 1.25)
CONTRAST = (0.6, 1.3)
CAST = 0.12
MAX_BLUR_PX = 0.9  # Gaussian sigma at 32 px; scaled with the image size
MAX_NOISE = 0.03

_BACKGROUND_COLOURS = (
    (0.55, 0.70, 0.90),  # blue sky
    (0.80, 0.84, 0.90),  # hazy sky
    (0.68, 0.70, 0.72),  # overcast
    (0.20, 0.34, 0.14),  # foliage
    (0.34, 0.44, 0.20),  # grass
    (0.14, 0.22, 0.12),  # dark trees
    (0.60, 0.55, 0.50),  # stone
    (0.55, 0.30, 0.24),  # brick
    (0.76, 0.70, 0.58),  # plaster
    (0.40, 0.40, 0.42),  # concrete
    (0.28, 0.28, 0.29),  # asphalt
    (0.45, 0.38, 0.30),  # soil
)
_SIGN_LIKE_COLOURS = (
    (0.75, 0.08, 0.12),  # red
    (0.05, 0.30, 0.65),  # blue
    (0.95, 0.75, 0.05),  # yellow
    (0.92, 0.92, 0.90),  # white
)
OCCLUDER_COLOURS = (
    (0.33, 0.24, 0.15),  # bark
    (0.18, 0.32, 0.12),  # leaves
    (0.45, 0.45, 0.46),  # metal pole
    (0.12, 0.12, 0.12),  # dark
)


def chunk_size(image_size: int) -> int:
    """Examples per chunk: a fixed pixel budget, so memory stays bounded for large images."""
    return max(1, _CHUNK_PIXELS // (image_size * image_size))


def texture_size(image_size: int) -> int:
    """Side of the pre-downsampled sign texture for a given output size."""
    return SUPERSAMPLE * image_size


def chunk_generator(seed: int, chunk: int) -> torch.Generator:
    """A CPU generator seeded from ``(seed, chunk)`` by hashing, independent across chunks."""
    digest = hashlib.sha256(f"aisec.data.signs:{seed}:{chunk}".encode()).digest()
    return torch.Generator().manual_seed(int.from_bytes(digest[:8], "little") >> 1)


def prepare_textures(images: Tensor, masks: Tensor, image_size: int) -> Tensor:
    """Premultiplied RGBA textures resized (area interpolation) for rendering at ``image_size``.

    Args:
        images: ``(N, 3, S, S)`` sign colours in ``[0, 1]``.
        masks: ``(N, 1, S, S)`` sign shapes in ``[0, 1]``.
        image_size: side of the scenes that will be rendered.

    Returns:
        ``(N, 4, T, T)`` float32 tensor (RGB multiplied by the mask, then the mask) with
        ``T = texture_size(image_size)``.
    """
    masks = masks.float().clamp(0.0, 1.0)
    rgba = torch.cat([images.float().clamp(0.0, 1.0) * masks, masks], dim=1)
    side = texture_size(image_size)
    if rgba.shape[-1] > side:
        return F.interpolate(rgba, size=(side, side), mode="area")
    if rgba.shape[-1] < side:
        return F.interpolate(rgba, size=(side, side), mode="bilinear", align_corners=False)
    return rgba


class Sampler:
    """Draws random tensors from one CPU generator and moves them to a device."""

    def __init__(self, generator: torch.Generator, n: int, device: torch.device) -> None:
        self.generator = generator
        self.n = n
        self.device = device

    def uniform(self, low: float, high: float, *shape: int) -> Tensor:
        values = torch.rand((self.n, *shape), generator=self.generator)
        return (low + (high - low) * values).to(self.device)

    def normal(self, *shape: int) -> Tensor:
        return torch.randn((self.n, *shape), generator=self.generator).to(self.device)

    def bernoulli(self, p: float) -> Tensor:
        return torch.rand(self.n, generator=self.generator).to(self.device) < p

    def colours(self, palette: tuple[tuple[float, float, float], ...], jitter: float) -> Tensor:
        """``(n, 3)`` colours drawn uniformly from ``palette`` with Gaussian jitter."""
        table = torch.tensor(palette, device=self.device)
        index = torch.randint(len(palette), (self.n,), generator=self.generator)
        return (table[index.to(self.device)] + jitter * self.normal(3)).clamp(0.0, 1.0)


class _Geometry:
    """Per-example camera geometry: inverse homographies and where the sign lands."""

    def __init__(self, sample: Sampler, margin: float) -> None:
        n = sample.n
        # Skewed towards larger signs (mean 0.71), as in GTSRB crops.
        self.fill = FILL[0] + (FILL[1] - FILL[0]) * sample.uniform(0.0, 1.0) ** 0.7
        focal = sample.uniform(*FOCAL)
        tilt = math.radians(MAX_TILT_DEG) * sample.uniform(0.0, 1.0)
        axis_angle = sample.uniform(0.0, 2.0 * math.pi)
        roll = math.radians(MAX_ROLL_DEG) * sample.uniform(-1.0, 1.0)
        slack = 1.05 - self.fill
        self.center = sample.uniform(-1.0, 1.0, 2) * slack[:, None]

        dtype = torch.float64
        # In-plane roll, then an out-of-plane tilt about an in-plane axis (Rodrigues' formula).
        cos_r, sin_r = torch.cos(roll).to(dtype), torch.sin(roll).to(dtype)
        zeros, ones = torch.zeros_like(cos_r), torch.ones_like(cos_r)
        rot_roll = torch.stack(
            [cos_r, -sin_r, zeros, sin_r, cos_r, zeros, zeros, zeros, ones], dim=1
        ).view(n, 3, 3)
        ax, ay = torch.cos(axis_angle).to(dtype), torch.sin(axis_angle).to(dtype)
        cross = torch.stack([zeros, zeros, ay, zeros, zeros, -ax, -ay, ax, zeros], 1).view(n, 3, 3)
        tilt64 = tilt.to(dtype)[:, None, None]
        eye = torch.eye(3, dtype=dtype, device=sample.device).expand(n, 3, 3)
        rot_tilt = eye + torch.sin(tilt64) * cross + (1 - torch.cos(tilt64)) * (cross @ cross)
        rot = rot_tilt @ rot_roll

        # Sign plane at depth 1: texture (u, v) in [-1, 1] -> 3D s * (u r1 + v r2) + t.
        f64 = focal.to(dtype)
        scale = (self.fill.to(dtype) / (f64 * (1.0 - 2.0 * margin)))[:, None]
        t = torch.stack(
            [self.center[:, 0].to(dtype) / f64, self.center[:, 1].to(dtype) / f64, ones], 1
        )
        extrinsic = torch.stack([scale * rot[:, :, 0], scale * rot[:, :, 1], t], dim=2)
        intrinsic = torch.diag_embed(torch.stack([f64, f64, ones], dim=1))
        self.inverse_homography = torch.linalg.inv(intrinsic @ extrinsic).float()

    def sample_grid(self, side: int) -> Tensor:
        """``(n, side, side, 2)`` texture coordinates of the output pixel centres."""
        xs, ys = pixel_coords(side, self.center.device)
        h = self.inverse_homography[:, :, :, None, None]  # (n, 3, 3, 1, 1)
        # Row i of H^-1 applied to (x, y, 1), separably: (n, 1, W) + (n, H, 1) -> (n, H, W).
        rows: list[Tensor] = [
            h[:, i, 0] * xs[0] + (h[:, i, 1] * ys[0] + h[:, i, 2]) for i in range(3)
        ]
        u, v, w = rows
        # w > 0 over the whole frame: with tilt <= 40 degrees and focal >= 1.5 the sign plane's
        # horizon lies outside the image. The clamp only guards against degenerate inputs.
        return torch.stack([u, v], dim=-1) / w.clamp_min(1e-6)[..., None]


def pixel_coords(side: int, device: torch.device) -> tuple[Tensor, Tensor]:
    """Normalized coordinates of pixel centres: x as ``(1, 1, 1, side)``, y as ``(1, 1, side, 1)``.

    Kept separable so that masks of axis-aligned or additive shapes broadcast cheaply.
    """
    coords = (torch.arange(side, device=device, dtype=torch.float32) + 0.5) * (2.0 / side) - 1.0
    return coords.view(1, 1, 1, side), coords.view(1, 1, side, 1)


def _clutter_colours(sample: Sampler) -> Tensor:
    """``(n, 3, 1, 1)`` clutter colours: scenery, sign-like (red/blue/yellow/white) or random."""
    scenery = sample.colours(_BACKGROUND_COLOURS, 0.08)
    sign_like = sample.colours(_SIGN_LIKE_COLOURS, 0.06)
    random = sample.uniform(0.0, 1.0, 3)
    kind = sample.uniform(0.0, 1.0)[:, None]
    colour = torch.where(kind < 0.4, sign_like, torch.where(kind < 0.6, random, scenery))
    return colour[:, :, None, None]


def background(sample: Sampler, side: int) -> Tensor:
    """``(n, 3, side, side)`` procedural backgrounds in roughly ``[0, 1]``.

    Shapes are drawn at half resolution and upsampled: the background is slightly out of focus
    (the camera focuses on the sign), and this halves the cost of the scene.
    """
    full_side, side = side, min(side, max(8, side // 2))
    xs, ys = pixel_coords(side, sample.device)
    top = sample.colours(_BACKGROUND_COLOURS, 0.06)[:, :, None, None]
    bottom = sample.colours(_BACKGROUND_COLOURS, 0.06)[:, :, None, None]
    horizon = sample.uniform(-0.7, 0.7)[:, None, None, None]
    softness = sample.uniform(0.05, 0.6)[:, None, None, None]
    mix = torch.sigmoid((ys - horizon) / softness)
    image = top + (bottom - top) * mix

    # Low-frequency colour and brightness blotches (foliage, shadows, facades).
    blotches = sample.normal(3, 4, 4) * sample.uniform(0.0, 0.12)[:, None, None, None]
    shading = sample.normal(1, 8, 8) * sample.uniform(0.0, 0.12)[:, None, None, None]
    size = (side, side)
    image = image + F.interpolate(blotches, size=size, mode="bilinear", align_corners=False)
    image = image + F.interpolate(shading, size=size, mode="bilinear", align_corners=False)

    half_pixel = 1.0 / side
    for _ in range(4):  # rectangles: windows, vehicles, billboards
        active = sample.bernoulli(0.55)[:, None, None, None]
        c = sample.uniform(-1.0, 1.0, 2)[:, :, None, None]
        half = sample.uniform(0.05, 0.6, 2)[:, :, None, None]
        inside = ((xs - c[:, :1]).abs() < half[:, :1]) & ((ys - c[:, 1:]).abs() < half[:, 1:])
        image = torch.where(inside & active, _clutter_colours(sample), image)
    for _ in range(3):  # ellipses: lights, foliage, other round things
        active = sample.bernoulli(0.5)[:, None, None, None]
        c = sample.uniform(-1.0, 1.0, 2)[:, :, None, None]
        radii = sample.uniform(0.06, 0.35, 2)[:, :, None, None]
        dist = (
            ((xs - c[:, :1]) / radii[:, :1]) ** 2 + ((ys - c[:, 1:]) / radii[:, 1:]) ** 2
        ).sqrt()
        edge = radii.min(dim=1, keepdim=True).values / (2.0 * half_pixel)
        alpha = ((1.0 - dist) * edge + 0.5).clamp(0.0, 1.0) * active
        image = image + (_clutter_colours(sample) - image) * alpha

    if side != full_side:
        image = F.interpolate(
            image, size=(full_side, full_side), mode="bilinear", align_corners=False
        )
    grain = sample.normal(1, full_side, full_side) * sample.uniform(0.0, 0.05)[:, None, None, None]
    return image + grain


def _pole(sample: Sampler, geometry: _Geometry, side: int) -> tuple[Tensor, Tensor]:
    """Alpha ``(n, 1, side, side)`` and colour ``(n, 3, 1, 1)`` of a post below the sign."""
    xs, ys = pixel_coords(side, sample.device)
    active = sample.bernoulli(_POLE_P)[:, None, None, None]
    half_width = (sample.uniform(0.03, 0.07) * geometry.fill)[:, None, None, None]
    grey = sample.uniform(0.3, 0.7)[:, None] + 0.03 * sample.normal(3)
    cx = geometry.center[:, 0, None, None, None]
    cy = geometry.center[:, 1, None, None, None]
    alpha = ((half_width - (xs - cx).abs()) * (side / 2.0) + 0.5).clamp(0.0, 1.0)
    alpha = alpha * (ys > cy) * active
    return alpha, grey.clamp(0.0, 1.0)[:, :, None, None]


def occluder(
    sample: Sampler, radius: Tensor, center: Tensor, probability: float, side: int
) -> tuple[Tensor, Tensor]:
    """Alpha ``(n, 1, side, side)`` and colour ``(n, 3, 1, 1)`` of a bar or patch over the sign.

    With ``probability`` per example, a bar (branch, pole) runs along a chord at 0.25-0.8 sign
    radii from the centre and is at most 0.28 radii wide, or a patch of at most 0.7 x 0.7 radii
    is placed; either covers at most about a sixth of a round sign. ``radius`` ``(n,)`` and
    ``center`` ``(n, 2)`` are the sign's in normalized frame coordinates. The physical attacks'
    EOT draws its occluders here too.
    """
    xs, ys = pixel_coords(side, sample.device)
    active = sample.bernoulli(probability)[:, None, None, None]
    is_bar = sample.bernoulli(0.5)[:, None, None, None]
    radius = radius[:, None, None, None]
    dx = xs - center[:, 0, None, None, None]
    dy = ys - center[:, 1, None, None, None]
    pixels = side / 2.0

    angle = sample.uniform(0.0, math.pi)[:, None, None, None]
    offset = sample.uniform(0.25, 0.8)[:, None, None, None] * radius
    offset = torch.where(sample.bernoulli(0.5)[:, None, None, None], offset, -offset)
    half_width = sample.uniform(0.06, 0.14)[:, None, None, None] * radius
    chord_distance = (dx * torch.cos(angle) + dy * torch.sin(angle) - offset).abs()
    bar = ((half_width - chord_distance) * pixels + 0.5).clamp(0.0, 1.0)

    rho = sample.uniform(0.3, 0.9)[:, None, None, None] * radius
    phi = sample.uniform(0.0, 2.0 * math.pi)[:, None, None, None]
    half = sample.uniform(0.15, 0.35, 2)[:, :, None, None] * radius
    px = ((half[:, :1] - (dx - rho * torch.cos(phi)).abs()) * pixels + 0.5).clamp(0.0, 1.0)
    py = ((half[:, 1:] - (dy - rho * torch.sin(phi)).abs()) * pixels + 0.5).clamp(0.0, 1.0)

    alpha = torch.where(is_bar, bar, px * py) * active
    return alpha, sample.colours(OCCLUDER_COLOURS, 0.05)[:, :, None, None]


def downsample(images: Tensor) -> Tensor:
    """Average ``SUPERSAMPLE x SUPERSAMPLE`` blocks: ``(n, c, sH, sW) -> (n, c, H, W)``.

    Sums of strided slices, which is several times faster than ``avg_pool2d`` on the CPU.
    """
    rows = images[..., 0::SUPERSAMPLE, :]
    for k in range(1, SUPERSAMPLE):
        rows = rows + images[..., k::SUPERSAMPLE, :]
    out = rows[..., 0::SUPERSAMPLE]
    for k in range(1, SUPERSAMPLE):
        out = out + rows[..., k::SUPERSAMPLE]
    return out * (1.0 / SUPERSAMPLE**2)


def gaussian_blur(images: Tensor, sigma: Tensor, radius: int) -> Tensor:
    """Blur each image with its own Gaussian ``sigma`` (pixels), separable, reflect padding."""
    n, c, h, w = images.shape
    taps = torch.arange(-radius, radius + 1, device=images.device, dtype=images.dtype)
    kernel = torch.exp(-(taps**2) / (2.0 * sigma.clamp_min(1e-3)[:, None] ** 2))
    kernel = (kernel / kernel.sum(dim=1, keepdim=True)).repeat_interleave(c, dim=0)
    flat = images.reshape(1, n * c, h, w)
    flat = F.conv2d(
        F.pad(flat, (radius, radius, 0, 0), mode="reflect"), kernel[:, None, None, :], groups=n * c
    )
    flat = F.conv2d(
        F.pad(flat, (0, 0, radius, radius), mode="reflect"), kernel[:, None, :, None], groups=n * c
    )
    return flat.reshape(n, c, h, w)


def render_chunk(
    textures: Tensor, generator: torch.Generator, image_size: int, margin: float
) -> Tensor:
    """Render one scene per texture.

    Args:
        textures: ``(n, 4, T, T)`` premultiplied RGBA sign textures from
            :func:`prepare_textures`.
        generator: CPU generator that supplies all randomness of this chunk.
        image_size: side ``H`` of the output images.
        margin: empty border on each side of the texture, as a fraction of its side.

    Returns:
        ``(n, 3, H, H)`` float32 scenes in ``[0, 1]``.
    """
    n, side = textures.shape[0], image_size
    sample = Sampler(generator, n, textures.device)
    geometry = _Geometry(sample, margin)

    grid = geometry.sample_grid(SUPERSAMPLE * side)
    warped = F.grid_sample(
        textures, grid, mode="bilinear", padding_mode="zeros", align_corners=False
    )
    warped = downsample(warped)
    sign, alpha = warped[:, :3], warped[:, 3:]

    image = background(sample, side)
    pole_alpha, pole_colour = _pole(sample, geometry, side)
    image = image + (pole_colour - image) * pole_alpha

    # Illumination across the sign: overall level plus a linear gradient (shadow, sun angle).
    xs, ys = pixel_coords(side, sample.device)
    level = sample.uniform(0.75, 1.1)[:, None, None, None]
    strength = sample.uniform(0.0, 0.3)[:, None, None, None]
    direction = sample.uniform(0.0, 2.0 * math.pi)[:, None, None, None]
    along = (xs - geometry.center[:, 0, None, None, None]) * torch.cos(direction) + (
        ys - geometry.center[:, 1, None, None, None]
    ) * torch.sin(direction)
    shade = level * (1.0 + strength * along / geometry.fill[:, None, None, None])
    image = image * (1.0 - alpha) + sign * shade

    occluder_alpha, occluder_colour = occluder(
        sample, geometry.fill, geometry.center, OCCLUSION_P, side
    )
    image = image + (occluder_colour - image) * occluder_alpha

    # Camera: exposure, colour cast, contrast, defocus blur, sensor noise.
    log_b = sample.uniform(math.log(BRIGHTNESS[0]), math.log(BRIGHTNESS[1]))
    cast = 1.0 + sample.uniform(-CAST, CAST, 3)
    image = image * (torch.exp(log_b)[:, None] * cast)[:, :, None, None]
    contrast = sample.uniform(*CONTRAST)[:, None, None, None]
    mean = image.mean(dim=(1, 2, 3), keepdim=True)
    image = (image - mean) * contrast + mean
    blur_scale = side / 32.0
    sigma = MAX_BLUR_PX * blur_scale * sample.uniform(0.0, 1.0) ** 2
    radius = min(math.ceil(3.0 * MAX_BLUR_PX * blur_scale), side - 1)
    image = gaussian_blur(image, sigma, radius)
    image = image + sample.uniform(0.0, MAX_NOISE)[:, None, None, None] * sample.normal(
        3, side, side
    )
    return image.clamp(0.0, 1.0)
