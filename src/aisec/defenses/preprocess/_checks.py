"""Argument checks shared by the preprocessing defenses."""

from __future__ import annotations

import math

from aisec.checks import check_int

__all__ = ["check_float", "check_int"]


def check_float(name: str, value: object, low: float, high: float, *, open_low: bool) -> float:
    """``value`` as a finite float in ``(low, high]`` (``open_low``) or ``[low, high]``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}")
    result = float(value)
    bad_low = result <= low if open_low else result < low
    if not math.isfinite(result) or bad_low or result > high:
        interval = f"{'(' if open_low else '['}{low:g}, {high:g}]"
        raise ValueError(f"{name} must lie in {interval}, got {value!r}")
    return result
