"""Numbers for people: one formatter for the HTML report, the console tables and the docs.

Results give their table rows as plain values: :class:`~aisec.stats.Rate` for every rate (so
the sample size travels with it), floats, ints, booleans, strings and ``None``. This module
turns them into text: a rate as a percentage with its count ("70.3% (45/64)", and with its 95%
interval in the report), a boolean as ✓/✗, a missing value as "—", a float to four significant
digits. It also turns rows into JSON-friendly values and back: a rate is stored as
``{"rate", "count", "n", "ci95"}``, so a page rendered from a stored ``results.json`` reads the
same as one rendered from a fresh run.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from aisec.stats import Rate

__all__ = [
    "format_rate",
    "format_rows",
    "format_value",
    "json_rows",
    "json_value",
    "restore_rows",
    "target_record",
]

_RATE_KEYS = frozenset({"rate", "count", "n", "ci95"})


def target_record(value: float, relation: str, bound: float) -> dict[str, Any]:
    """A chapter's target: the measured ``value`` against ``bound`` (``">="`` or ``"<="``)."""
    met = value >= bound if relation == ">=" else value <= bound
    return {"value": value, "target": f"{relation} {bound}", "met": met}


def format_rate(rate: Rate, *, interval: bool = False) -> str:
    """``"70.3% (45/64)"``; with ``interval``, ``"70.3% (45/64; 95% CI 58.2–80.1%)"``."""
    if rate.total == 0:
        return "— (0 points)"
    text = f"{100 * rate.value:.1f}% ({rate.count}/{rate.total}"
    if interval:
        low, high = rate.interval()
        text += f"; 95% CI {100 * low:.1f}–{100 * high:.1f}%"
    return text + ")"


def format_value(value: Any, *, interval: bool = False) -> str:
    """One cell as text (see the module docstring)."""
    if isinstance(value, Rate):
        return format_rate(value, interval=interval)
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "✓" if value else "✗"
    if isinstance(value, float):
        if math.isnan(value):
            return "—"
        if math.isinf(value):
            return "∞" if value > 0 else "−∞"
        return f"{value:.4g}"
    if isinstance(value, (list, tuple)):
        return ", ".join(format_value(v, interval=interval) for v in value)
    return str(value)


def format_rows(
    rows: Sequence[Mapping[str, Any]], *, interval: bool = False
) -> list[dict[str, str]]:
    """Every cell of ``rows`` as text, keys in the first row's order."""
    return [{k: format_value(v, interval=interval) for k, v in row.items()} for row in rows]


def json_value(value: Any) -> Any:
    """A JSON-friendly value: a :class:`Rate` becomes its :meth:`~Rate.to_dict`."""
    if isinstance(value, Rate):
        return value.to_dict()
    if isinstance(value, Mapping):
        return {str(k): json_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_value(v) for v in value]
    return value


def json_rows(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """``rows`` with JSON-friendly values (see :func:`json_value`)."""
    return [{str(k): json_value(v) for k, v in row.items()} for row in rows]


def _restore(value: Any) -> Any:
    if isinstance(value, Mapping) and set(value) == _RATE_KEYS:
        return Rate(int(value["count"]), int(value["n"]))
    return value


def restore_rows(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Rows read back from JSON, with stored rates turned back into :class:`Rate`."""
    return [{str(k): _restore(v) for k, v in row.items()} for row in rows]
