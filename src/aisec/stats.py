"""Rates with their sample size and a 95% interval: how every reported rate is carried.

A :class:`Rate` is a count out of a total (``45`` successes of ``64`` points). It knows its
value and its Wilson score interval, so a table can print "70.3% (45/64)" and a report
"70.3% [58.2–80.1%] of 64" without anyone re-deriving the sample size.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

__all__ = ["Rate", "wilson_interval"]

_Z95 = 1.959963984540054


def wilson_interval(count: int, total: int, z: float = _Z95) -> tuple[float, float]:
    """The Wilson score interval of ``count / total`` (95% by default); ``(0, 1)`` when empty."""
    if total <= 0:
        return 0.0, 1.0
    p = count / total
    denominator = 1 + z * z / total
    centre = (p + z * z / (2 * total)) / denominator
    half = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / denominator
    low = 0.0 if count == 0 else max(0.0, centre - half)
    high = 1.0 if count == total else min(1.0, centre + half)
    return low, high


@dataclass(frozen=True)
class Rate:
    """``count`` of ``total`` (e.g. robust points of the points evaluated).

    Attributes:
        count: how many (``0 <= count <= total``).
        total: the sample size.
    """

    count: int
    total: int

    def __post_init__(self) -> None:
        for name in ("count", "total"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError(f"Rate.{name} must be an int, got {type(value).__name__}")
        if not 0 <= self.count <= self.total:
            raise ValueError(f"a rate needs 0 <= count <= total, got {self.count}/{self.total}")

    @classmethod
    def of(cls, mask: Any) -> Rate:
        """The rate of true values in a boolean tensor or sequence."""
        values = [bool(v) for v in (mask.tolist() if hasattr(mask, "tolist") else mask)]
        return cls(sum(values), len(values))

    @classmethod
    def from_fraction(cls, fraction: float, total: int) -> Rate:
        """The rate ``fraction`` of ``total`` points, for a fraction computed as ``count / total``
        (rounding recovers the count exactly); ``Rate(0, 0)`` for an empty sample."""
        return cls(round(fraction * total), total) if total else cls(0, 0)

    @property
    def value(self) -> float:
        """``count / total`` (``nan`` for an empty sample)."""
        return self.count / self.total if self.total else math.nan

    def interval(self) -> tuple[float, float]:
        """The 95% Wilson score interval."""
        return wilson_interval(self.count, self.total)

    def __float__(self) -> float:
        return self.value

    def to_dict(self) -> dict[str, Any]:
        low, high = self.interval()
        return {"rate": self.value, "count": self.count, "n": self.total, "ci95": [low, high]}
