"""What every experiment shares: the result protocol and the checks of a plan's values."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

from aisec.threat import parse_eps

__all__ = [
    "ExperimentResult",
    "check_budget",
    "check_budgets",
    "check_int",
    "check_names",
    "set_field",
]


@runtime_checkable
class ExperimentResult(Protocol):
    """A typed experiment result.

    ``to_dict()`` is its JSON form (what ``--out`` writes and the tour stores); ``rows()`` its
    main table, one dict per row with the same keys, values that
    :mod:`aisec.report.format` knows how to print (rates as :class:`~aisec.stats.Rate`).
    """

    def to_dict(self) -> dict[str, Any]: ...

    def rows(self) -> list[dict[str, Any]]: ...


def check_int(name: str, value: object, minimum: int | None = None) -> int:
    """``value`` if it is an int (not a bool) and at least ``minimum``; else a clear error.

    Raises:
        TypeError: for a value that is not an int.
        ValueError: for an int below ``minimum``.
    """
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return value


def check_budget(name: str, value: object) -> float:
    """A budget > 0 given as a number or a string such as ``"8/255"``."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise TypeError(f"{name} must be a number or a string like '8/255', got {value!r}")
    eps = parse_eps(value)
    if eps <= 0:
        raise ValueError(f"{name} must be > 0, got {value!r}")
    return eps


def check_budgets(name: str, values: object) -> tuple[float, ...]:
    """A tuple of budgets > 0 (numbers or strings such as ``"8/255"``)."""
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
        raise TypeError(f"{name} must be a sequence of budgets, got {values!r}")
    return tuple(check_budget(name, value) for value in values)


def check_names(name: str, values: object) -> tuple[str, ...]:
    """``values`` if it is a tuple of strings; ``TypeError`` otherwise."""
    if not isinstance(values, tuple) or not all(isinstance(v, str) for v in values):
        raise TypeError(f"{name} must be a tuple of strings, got {values!r}")
    return values


def set_field(plan: object, name: str, value: object) -> None:
    """Store a normalised value on a frozen plan (from its ``__post_init__``)."""
    object.__setattr__(plan, name, value)
