"""What every experiment shares: the result protocol and the checks of a plan's values."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

from aisec.threat import ThreatModel, parse_eps

__all__ = [
    "ExperimentResult",
    "check_budget",
    "check_budgets",
    "check_float",
    "check_int",
    "check_names",
    "check_threat_for_model",
    "input_coordinates",
    "set_field",
]

_GRAYSCALE_DATASETS = frozenset({"digits", "mnist"})
"""Datasets of one-channel images; the others are RGB."""


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


def check_float(
    name: str,
    value: object,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    exclusive: bool = False,
) -> float:
    """``value`` as a finite float in ``[minimum, maximum]`` (``(minimum, maximum)`` if
    ``exclusive``); else a clear error.

    Raises:
        TypeError: for a value that is not a real number (bools included).
        ValueError: for NaN, an infinity, or a value outside the range.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}")
    number = float(value)
    low_bad = minimum is not None and (number <= minimum if exclusive else number < minimum)
    high_bad = maximum is not None and (number >= maximum if exclusive else number > maximum)
    if math.isfinite(number) and not low_bad and not high_bad:
        return number
    left = "(" if exclusive or minimum is None else "["
    right = ")" if exclusive or maximum is None else "]"
    low = "-inf" if minimum is None else f"{minimum:g}"
    high = "inf" if maximum is None else f"{maximum:g}"
    raise ValueError(f"{name} must be a finite number in {left}{low}, {high}{right}, got {value!r}")


def input_coordinates(model: str) -> int:
    """Coordinates ``C·H·W`` of one input of a zoo model (from its dataset; nothing loads)."""
    from aisec.data import dataset_info
    from aisec.zoo import model_spec

    info = dataset_info(model_spec(model).dataset)
    channels = 1 if info.name in _GRAYSCALE_DATASETS else 3
    return channels * info.default_image_size**2


def check_threat_for_model(threat: ThreatModel, model: str) -> None:
    """Refuse a budget larger than the diameter of the box of a zoo model's inputs.

    For L∞ the threat model checks itself; an L2 (L1) budget above ``(hi − lo)·√d``
    (``(hi − lo)·d``) is only known to be a mistake once ``d`` is known, here before the model
    and its data load.

    Raises:
        ValueError: for an unknown model or a budget larger than the diameter.
    """
    threat.check_dimension(input_coordinates(model))


def check_budget(name: str, value: object) -> float:
    """A budget > 0 given as a number or a string such as ``"8/255"``."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise TypeError(f"{name} must be a number or a string like '8/255', got {value!r}")
    eps = parse_eps(value, name=name)
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
