"""Pillow drawings of the canonical traffic signs used by :mod:`aisec.data.signs`.

Each sign is drawn on a square canvas whose side is the supersampled template size. Geometry is
expressed relative to the sign's radius ``r`` (half the side minus the margin) around the
canvas centre, so every drawing scales with the canvas. Colours are close to the European
(RAL) sign colours used in GTSRB; the stop sign follows the Vienna-convention octagon.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence

from PIL import Image, ImageDraw, ImageFont

__all__ = ["MARGIN", "SIGN_DRAWINGS", "draw_sign"]

MARGIN = 0.03
"""Empty border on each side of a template, as a fraction of its side."""

_FONT_PATH = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"

RED = (196, 18, 48)
WHITE = (246, 246, 242)
BLACK = (22, 22, 24)
BLUE = (0, 86, 158)
YELLOW = (250, 192, 0)

Color = tuple[int, int, int]
Point = tuple[float, float]
Font = ImageFont.FreeTypeFont | ImageFont.ImageFont


class _Canvas:
    """An RGB image and its shape mask, with coordinates relative to the sign's centre."""

    def __init__(self, side: int) -> None:
        self.side = side
        self.image = Image.new("RGB", (side, side), (0, 0, 0))
        self.mask = Image.new("L", (side, side), 0)
        self.draw = ImageDraw.Draw(self.image)
        self.draw_mask = ImageDraw.Draw(self.mask)
        self.c = side / 2.0
        self.r = side * (0.5 - MARGIN)

    def pt(self, x: float, y: float) -> Point:
        """Canvas pixel of the point ``(x, y)`` given in units of the sign radius."""
        return (self.c + x * self.r, self.c + y * self.r)

    def polygon(self, points: Sequence[Point], fill: Color, *, shape: bool = False) -> None:
        """Fill a polygon given in radius units; ``shape=True`` also adds it to the mask."""
        xy = [self.pt(x, y) for x, y in points]
        self.draw.polygon(xy, fill=fill)
        if shape:
            self.draw_mask.polygon(xy, fill=255)

    def disc(self, radius: float, fill: Color, *, shape: bool = False) -> None:
        """Fill a centred disc of ``radius`` (radius units)."""
        x0, y0 = self.pt(-radius, -radius)
        x1, y1 = self.pt(radius, radius)
        self.draw.ellipse((x0, y0, x1, y1), fill=fill)
        if shape:
            self.draw_mask.ellipse((x0, y0, x1, y1), fill=255)

    def line(self, points: Sequence[Point], width: float, fill: Color) -> None:
        """Draw a thick polyline with rounded joints; ``width`` in radius units."""
        xy = [self.pt(x, y) for x, y in points]
        self.draw.line(xy, fill=fill, width=max(1, round(width * self.r)), joint="curve")

    def text(self, text: str, box: tuple[float, float, float, float], fill: Color) -> None:
        """Draw ``text`` as large as fits in ``box`` = (x0, y0, x1, y1) (radius units), centred."""
        x0, y0 = self.pt(box[0], box[1])
        x1, y1 = self.pt(box[2], box[3])
        ref = 100
        left, top, right, bottom = _font(ref).getbbox(text)
        scale = min((x1 - x0) / (right - left), (y1 - y0) / (bottom - top))
        font = _font(max(1, int(ref * scale)))
        left, top, right, bottom = font.getbbox(text)
        x = (x0 + x1) / 2 - (left + right) / 2
        y = (y0 + y1) / 2 - (top + bottom) / 2
        self.draw.text((x, y), text, fill=fill, font=font)


def _font(size: int) -> Font:
    """DejaVu Sans Bold at ``size`` px when installed, else Pillow's scalable default font."""
    if os.path.exists(_FONT_PATH):
        return ImageFont.truetype(_FONT_PATH, size)
    return ImageFont.load_default(size=size)


def _regular_polygon(sides: int, radius: float, start_deg: float) -> list[Point]:
    """Vertices of a regular polygon of circumradius ``radius`` (radius units)."""
    return [
        (
            radius * math.cos(math.radians(start_deg + 360.0 * k / sides)),
            radius * math.sin(math.radians(start_deg + 360.0 * k / sides)),
        )
        for k in range(sides)
    ]


def _triangle(apothem_top: float, *, inverted: bool) -> list[Point]:
    """Equilateral triangle of side ``2 * apothem_top``, centred in the square."""
    side = 2.0 * apothem_top
    height = side * math.sqrt(3.0) / 2.0
    # Centre the triangle's bounding box vertically; flip for the inverted (yield) shape.
    top, bottom = -height / 2.0, height / 2.0
    if inverted:
        return [(-side / 2, top), (side / 2, top), (0.0, bottom)]
    return [(-side / 2, bottom), (side / 2, bottom), (0.0, top)]


def _scaled_about_centroid(points: Sequence[Point], scale: float) -> list[Point]:
    cx = sum(p[0] for p in points) / len(points)
    cy = sum(p[1] for p in points) / len(points)
    return [(cx + (x - cx) * scale, cy + (y - cy) * scale) for x, y in points]


def _warning_triangle(canvas: _Canvas, *, inverted: bool) -> None:
    """Red-bordered white triangle (warning signs upright, yield inverted)."""
    outer = _triangle(1.0, inverted=inverted)
    canvas.polygon(outer, RED, shape=True)
    # A border of 0.1 of the side: the inradius is side / (2 sqrt 3).
    inradius = 2.0 / (2.0 * math.sqrt(3.0))
    canvas.polygon(_scaled_about_centroid(outer, 1.0 - 0.2 / inradius), WHITE)


def _stop(canvas: _Canvas) -> None:
    apothem_to_circum = 1.0 / math.cos(math.pi / 8)
    canvas.polygon(_regular_polygon(8, apothem_to_circum, 22.5), WHITE, shape=True)
    canvas.polygon(_regular_polygon(8, 0.92 * apothem_to_circum, 22.5), RED)
    canvas.text("STOP", (-0.8, -0.32, 0.8, 0.32), WHITE)


def _speed_limit(value: str) -> Callable[[_Canvas], None]:
    def draw(canvas: _Canvas) -> None:
        canvas.disc(1.0, RED, shape=True)
        canvas.disc(0.78, WHITE)
        canvas.text(value, (-0.64, -0.46, 0.64, 0.46), BLACK)

    return draw


def _yield(canvas: _Canvas) -> None:
    _warning_triangle(canvas, inverted=True)


def _no_entry(canvas: _Canvas) -> None:
    canvas.disc(1.0, RED, shape=True)
    canvas.polygon([(-0.72, -0.19), (0.72, -0.19), (0.72, 0.19), (-0.72, 0.19)], WHITE)


def _priority_road(canvas: _Canvas) -> None:
    def diamond(r: float) -> list[Point]:
        return [(0.0, -r), (r, 0.0), (0.0, r), (-r, 0.0)]

    canvas.polygon(diamond(1.0), BLACK, shape=True)
    canvas.polygon(diamond(0.95), WHITE)
    canvas.polygon(diamond(0.62), BLACK)
    canvas.polygon(diamond(0.59), YELLOW)


def _blue_disc(canvas: _Canvas) -> None:
    canvas.disc(1.0, WHITE, shape=True)
    canvas.disc(0.95, BLUE)


def _ahead_only(canvas: _Canvas) -> None:
    _blue_disc(canvas)
    canvas.polygon([(-0.12, 0.72), (0.12, 0.72), (0.12, -0.12), (-0.12, -0.12)], WHITE)
    canvas.polygon([(-0.4, -0.1), (0.4, -0.1), (0.0, -0.72)], WHITE)


def _turn_right_ahead(canvas: _Canvas) -> None:
    _blue_disc(canvas)
    canvas.line(
        [(-0.22, 0.74), (-0.22, 0.0), (-0.2, -0.1), (-0.1, -0.2), (0.2, -0.22)], 0.24, WHITE
    )
    canvas.polygon([(0.15, -0.58), (0.15, 0.14), (0.68, -0.22)], WHITE)


def _keep_right(canvas: _Canvas) -> None:
    _blue_disc(canvas)
    canvas.line([(-0.48, -0.48), (0.14, 0.14)], 0.24, WHITE)
    # Arrowhead pointing down-right: tip on the diagonal, base perpendicular to it.
    base, tip, half = 0.06, 0.56, 0.28
    canvas.polygon([(tip, tip), (base + half, base - half), (base - half, base + half)], WHITE)


def _general_caution(canvas: _Canvas) -> None:
    _warning_triangle(canvas, inverted=False)
    canvas.polygon([(-0.09, -0.38), (0.09, -0.38), (0.05, 0.2), (-0.05, 0.2)], BLACK)
    x0, y0 = canvas.pt(-0.085, 0.28)
    x1, y1 = canvas.pt(0.085, 0.45)
    canvas.draw.ellipse((x0, y0, x1, y1), fill=BLACK)


def _pedestrian_crossing(canvas: _Canvas) -> None:
    _warning_triangle(canvas, inverted=False)
    x0, y0 = canvas.pt(-0.06, -0.44)
    x1, y1 = canvas.pt(0.12, -0.26)
    canvas.draw.ellipse((x0, y0, x1, y1), fill=BLACK)  # head
    w = 0.11
    canvas.line([(0.02, -0.2), (-0.03, 0.12)], 0.15, BLACK)  # body
    canvas.line([(-0.03, 0.1), (-0.13, 0.3), (-0.26, 0.5)], w, BLACK)  # back leg
    canvas.line([(-0.03, 0.1), (0.12, 0.28), (0.24, 0.5)], w, BLACK)  # front leg
    canvas.line([(0.01, -0.15), (-0.2, 0.06)], w, BLACK)  # back arm
    canvas.line([(0.01, -0.15), (0.15, -0.02), (0.24, 0.1)], w, BLACK)  # front arm


SIGN_DRAWINGS: tuple[tuple[str, Callable[[_Canvas], None]], ...] = (
    ("stop", _stop),
    ("speed limit 30", _speed_limit("30")),
    ("speed limit 50", _speed_limit("50")),
    ("speed limit 80", _speed_limit("80")),
    ("yield", _yield),
    ("no entry", _no_entry),
    ("priority road", _priority_road),
    ("ahead only", _ahead_only),
    ("turn right ahead", _turn_right_ahead),
    ("keep right", _keep_right),
    ("general caution", _general_caution),
    ("pedestrian crossing", _pedestrian_crossing),
)
"""Class names in label order, each with the function that draws it."""


def draw_sign(index: int, side: int) -> tuple[Image.Image, Image.Image]:
    """Draw sign ``index`` of :data:`SIGN_DRAWINGS` on a ``side`` x ``side`` canvas.

    Args:
        index: position of the sign in :data:`SIGN_DRAWINGS`.
        side: canvas side in pixels (already supersampled by the caller).

    Returns:
        The RGB drawing and its ``"L"`` shape mask (255 inside the sign, 0 outside).
    """
    canvas = _Canvas(side)
    SIGN_DRAWINGS[index][1](canvas)
    return canvas.image, canvas.mask
