"""Printable colours: a small printer palette, nearest-colour quantization and the NPS.

A digital perturbation may use any of the 16.7 million sRGB colours; a printed sticker can only
use what the printer reproduces. Sharif et al. (2016) measure a set of printable colours ``P``
(print a chart, photograph it) and add to the attack's loss the *non-printability score*

    NPS(p̂) = Σ_{p̂ ∈ pixels}  Π_{p ∈ P} ‖p̂ − p‖₂,

which is zero for a pixel whose colour is one of the printable colours (one factor vanishes)
and grows as the pixel moves away from all of them. aisec takes the pixels' *mean* instead of
the sum, so the weight of the term does not depend on the sticker's size.

:data:`PRINTER_PALETTE` is a deliberately small palette: twelve flat colours that a consumer
inkjet printer on matte sticker paper (or cut vinyl) reproduces, given as the sRGB values such
a print reads as under daylight — less saturated than the screen primaries, a paper white that
is not pure white and an ink black that is not pure black. They are stored as 8-bit values so
that a quantized sticker saved as PNG holds exactly the palette colours.

Reference:
    M. Sharif, S. Bhagavatula, L. Bauer, M. K. Reiter, "Accessorize to a Crime: Real and
    Stealthy Attacks on State-of-the-Art Face Recognition", ACM CCS 2016 (Section 4.3.3).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

__all__ = ["PRINTER_PALETTE", "Palette"]


@dataclass(frozen=True)
class Palette:
    """A set of printable colours.

    Attributes:
        name: a short identifier, e.g. ``"inkjet-matte-12"``.
        colours: ``K`` RGB triples of 8-bit values (0-255), ``K >= 2``.
        colour_names: one name per colour (for documentation and figures).
    """

    name: str
    colours: tuple[tuple[int, int, int], ...]
    colour_names: tuple[str, ...]

    def __post_init__(self) -> None:
        if len(self.colours) < 2:
            raise ValueError(f"a palette needs at least 2 colours, got {len(self.colours)}")
        if len(self.colour_names) != len(self.colours):
            raise ValueError(
                f"got {len(self.colour_names)} colour names for {len(self.colours)} colours"
            )
        for colour in self.colours:
            if len(colour) != 3 or any(
                isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= 255 for v in colour
            ):
                raise ValueError(f"palette colours must be 3 ints in [0, 255], got {colour!r}")

    def __len__(self) -> int:
        return len(self.colours)

    def tensor(self, device: torch.device | str | None = None) -> Tensor:
        """The colours as a ``(K, 3)`` float32 tensor in ``[0, 1]``."""
        return torch.tensor(self.colours, dtype=torch.float32, device=device) / 255.0

    def distances(self, image: Tensor) -> Tensor:
        """Euclidean RGB distance of every pixel to every palette colour.

        Args:
            image: ``(..., 3, H, W)`` colours in ``[0, 1]``.

        Returns:
            ``(..., K, H, W)`` distances.
        """
        colours = self.tensor(image.device).to(image.dtype)  # (K, 3)
        difference = image.unsqueeze(-4) - colours[:, :, None, None]  # (..., K, 3, H, W)
        return (difference.square().sum(dim=-3) + 1e-12).sqrt()

    def quantize(self, image: Tensor) -> Tensor:
        """Replace every pixel by its nearest palette colour (what the printer would print).

        Args:
            image: ``(..., 3, H, W)`` colours in ``[0, 1]``.

        Returns:
            ``(..., 3, H, W)`` palette colours, same dtype; not differentiable.
        """
        nearest = self.distances(image.detach()).argmin(dim=-3)  # (..., H, W)
        colours = self.tensor(image.device).to(image.dtype)
        return colours[nearest].movedim(-1, -3)

    def nps(self, image: Tensor, mask: Tensor) -> Tensor:
        """Sharif et al.'s non-printability score, averaged over the masked pixels.

        Args:
            image: ``(3, H, W)`` or ``(N, 3, H, W)`` colours in ``[0, 1]``.
            mask: ``(1, H, W)`` or ``(N, 1, H, W)`` weights in ``{0, 1}`` (the sticker).

        Returns:
            A scalar: ``mean over masked pixels of Π_k ‖pixel − colour_k‖₂``; zero when every
            masked pixel is a palette colour. Differentiable in ``image``.
        """
        score = self.distances(image).prod(dim=-3, keepdim=True)  # (..., 1, H, W)
        weights = mask.to(score.dtype).expand_as(score)
        return (score * weights).sum() / weights.sum().clamp_min(1.0)

    def random_colours(self, shape: tuple[int, int], generator: torch.Generator) -> Tensor:
        """Palette colours drawn uniformly at random, one per cell of a ``(rows, cols)`` grid.

        Args:
            shape: ``(rows, cols)`` of the grid.
            generator: the CPU generator that supplies the randomness.

        Returns:
            ``(3, rows, cols)`` float32 colours in ``[0, 1]`` on the CPU.
        """
        index = torch.randint(len(self.colours), shape, generator=generator)
        return self.tensor()[index].movedim(-1, 0)


PRINTER_PALETTE = Palette(
    name="inkjet-matte-12",
    colours=(
        (236, 234, 226),  # paper white
        (28, 28, 30),  # ink black
        (128, 128, 126),  # mid grey
        (200, 36, 40),  # red
        (120, 22, 30),  # dark red
        (232, 118, 34),  # orange
        (240, 208, 44),  # yellow
        (40, 140, 66),  # green
        (22, 78, 44),  # dark green
        (30, 140, 200),  # cyan blue
        (28, 62, 150),  # ultramarine
        (136, 52, 138),  # purple
    ),
    colour_names=(
        "paper white",
        "ink black",
        "mid grey",
        "red",
        "dark red",
        "orange",
        "yellow",
        "green",
        "dark green",
        "cyan blue",
        "ultramarine",
        "purple",
    ),
)
"""Twelve colours a consumer inkjet reproduces on matte sticker paper, as a camera reads them
in daylight (see the module docstring). Pass your own :class:`Palette`, measured from a printed
and photographed chart, for a real printer."""
