"""Argument checks shared by the preprocessing defenses."""

from __future__ import annotations

import math


def check_int(name: str, value: object, minimum: int, maximum: int | None = None) -> int:
    """``value`` as an int in ``[minimum, maximum]``; ``TypeError``/``ValueError`` otherwise."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value < minimum or (maximum is not None and value > maximum):
        upper = "" if maximum is None else f" and <= {maximum}"
        raise ValueError(f"{name} must be >= {minimum}{upper}, got {value}")
    return value


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
