"""Argument checks every layer shares: an int in a range, with the error a caller expects.

``TypeError`` for a value of the wrong type (a ``bool`` is not an int here), ``ValueError`` for
one out of range; the message names the argument, what was expected and what was given.
"""

from __future__ import annotations

__all__ = ["check_int"]


def check_int(name: str, value: object, minimum: int, maximum: int | None = None) -> int:
    """``value`` as an int in ``[minimum, maximum]``; ``TypeError``/``ValueError`` otherwise."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value < minimum or (maximum is not None and value > maximum):
        upper = "" if maximum is None else f" and <= {maximum}"
        raise ValueError(f"{name} must be >= {minimum}{upper}, got {value}")
    return value
