"""Rates carry their sample size; their Wilson interval covers them and stays in [0, 1]."""

from __future__ import annotations

import math

import pytest
import torch

from aisec.report.format import format_rate, format_value, json_rows, restore_rows
from aisec.stats import Rate, wilson_interval


@pytest.mark.parametrize(("count", "total"), [(0, 1), (0, 50), (1, 50), (25, 50), (50, 50)])
def test_the_interval_contains_the_rate_and_stays_in_the_unit_interval(
    count: int, total: int
) -> None:
    low, high = wilson_interval(count, total)
    assert 0.0 <= low <= count / total <= high <= 1.0
    assert (low == 0.0) == (count == 0) and (high == 1.0) == (count == total)


def test_the_interval_narrows_with_the_sample_size() -> None:
    small = wilson_interval(5, 10)
    large = wilson_interval(500, 1000)
    assert large[1] - large[0] < small[1] - small[0]
    # A known value: 45/64 has the Wilson 95% interval [0.5818, 0.8013].
    low, high = wilson_interval(45, 64)
    assert math.isclose(low, 0.5818, abs_tol=5e-4) and math.isclose(high, 0.8013, abs_tol=5e-4)


def test_a_rate_checks_its_counts() -> None:
    assert Rate.of(torch.tensor([True, False, True, True])) == Rate(3, 4)
    assert math.isnan(Rate(0, 0).value)
    with pytest.raises(ValueError, match="count <= total"):
        Rate(5, 4)
    with pytest.raises(TypeError, match="int"):
        Rate(1.0, 4)  # type: ignore[arg-type]


def test_rates_read_with_their_sample_size_and_survive_json() -> None:
    rate = Rate(45, 64)
    assert format_rate(rate) == "70.3% (45/64)"
    assert format_rate(rate, interval=True) == "70.3% (45/64; 95% CI 58.2–80.1%)"
    assert format_value(True) == "✓" and format_value(None) == "—"
    assert format_value(0.123456) == "0.1235"
    rows = [{"model": "m", "robust accuracy": rate, "flag": False}]
    assert restore_rows(json_rows(rows)) == rows
