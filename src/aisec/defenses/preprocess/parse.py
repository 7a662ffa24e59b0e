"""Preprocessing defenses from short strings such as ``"jpeg:75"`` (for the command line)."""

from __future__ import annotations

from collections.abc import Callable

from aisec.defenses.preprocess.base import Preprocessor
from aisec.defenses.preprocess.bits import BitDepthReduction
from aisec.defenses.preprocess.blur import GaussianBlur
from aisec.defenses.preprocess.jpeg import JPEGCompression
from aisec.defenses.preprocess.median import MedianFilter
from aisec.defenses.preprocess.resize_pad import RandomResizePad

__all__ = ["DEFENSE_NAMES", "DEFENSE_USAGE", "parse_defense"]

DEFENSE_USAGE: dict[str, str] = {
    "jpeg": "jpeg:QUALITY (1-100, default 75)",
    "blur": "blur:KERNEL:SIGMA (odd kernel >= 3, sigma > 0; default 3:1)",
    "median": "median:SIZE (2-15, default 3)",
    "bits": "bits:BITS (1-8, default 4)",
    "resize-pad": "resize-pad:MIN_SCALE (in (0, 1], default 0.8)",
}
"""The accepted spec of each defense."""

DEFENSE_NAMES: tuple[str, ...] = tuple(DEFENSE_USAGE)
"""The names :func:`parse_defense` accepts."""


def _number(text: str, kind: Callable[[str], float | int], spec: str) -> float | int:
    try:
        return kind(text)
    except ValueError:
        expected = "an integer" if kind is int else "a number"
        raise ValueError(f"in defense {spec!r}: {text!r} is not {expected}") from None


def parse_defense(spec: str, *, seed: int = 0, bpda: bool = False) -> Preprocessor:
    """The preprocessing defense described by ``spec``.

    Args:
        spec: ``NAME[:ARG[:ARG]]``, one of ``jpeg:75``, ``blur:3:1.0``, ``median:3``,
            ``bits:4``, ``resize-pad:0.8`` (arguments may be left out for the defaults; see
            :data:`DEFENSE_USAGE`). Names are case-insensitive.
        seed: seed of a randomized defense.
        bpda: build it in BPDA mode.

    Returns:
        The :class:`Preprocessor`.

    Raises:
        TypeError: if ``spec`` is not a string.
        ValueError: for an unknown name, the wrong number of arguments or invalid values;
            the message lists the accepted specs.
    """
    if not isinstance(spec, str):
        raise TypeError(
            f"a defense spec must be a string like 'jpeg:75', got {type(spec).__name__}"
        )
    name, *args = [part.strip() for part in spec.strip().split(":")]
    name = name.lower()
    usage = "; ".join(DEFENSE_USAGE.values())
    if name not in DEFENSE_USAGE:
        raise ValueError(f"unknown defense {spec!r}; choose one of: {usage}")
    limit = 2 if name == "blur" else 1
    if len(args) > limit or any(not a for a in args):
        raise ValueError(f"bad defense spec {spec!r}; expected {DEFENSE_USAGE[name]}")
    try:
        if name == "jpeg":
            return JPEGCompression(*(int(_number(a, int, spec)) for a in args), bpda=bpda)
        if name == "bits":
            return BitDepthReduction(*(int(_number(a, int, spec)) for a in args), bpda=bpda)
        if name == "median":
            return MedianFilter(*(int(_number(a, int, spec)) for a in args), bpda=bpda)
        if name == "blur":
            kernel = int(_number(args[0], int, spec)) if args else 3
            sigma = float(_number(args[1], float, spec)) if len(args) > 1 else 1.0
            return GaussianBlur(kernel, sigma, bpda=bpda)
        scale = float(_number(args[0], float, spec)) if args else 0.8
        return RandomResizePad(scale, seed=seed, bpda=bpda)
    except (TypeError, ValueError) as error:
        raise ValueError(
            f"bad defense spec {spec!r} ({error}); expected {DEFENSE_USAGE[name]}"
        ) from None
