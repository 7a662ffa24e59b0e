"""The poison-rate sweep is drawn as a curve with its intervals, from the sweep's reports."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from aisec.evaluate.poisoning import PoisoningReport
from aisec.report.poisoning import plot_poison_sweep


def _report(rate: float, success: float) -> PoisoningReport:
    return PoisoningReport(
        dataset="signs",
        attack={"attack": "badnets", "rate": rate},
        target="speed limit 30",
        source=None,
        poison_rate=rate,
        poisoned_examples=round(rate * 1000),
        train_examples=1000,
        test_examples=200,
        triggered_examples=180,
        clean_model={"clean_accuracy": 0.8, "attack_success": 0.05},
        poisoned_model={"clean_accuracy": 0.79, "attack_success": success},
        detection={},
        expected_fraction=None,
        cleaning={},
        training={},
        seconds={},
    )


def test_the_sweep_is_drawn_as_a_png(tmp_path: Path) -> None:
    reports = [_report(0.05, 0.99), _report(0.005, 0.05), _report(0.01, 0.5)]
    path = plot_poison_sweep(reports, tmp_path / "sweep" / "sweep.png")
    assert path == tmp_path / "sweep" / "sweep.png"
    with Image.open(path) as image:
        assert image.size[0] > image.size[1] > 100


def test_an_empty_sweep_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="at least one report"):
        plot_poison_sweep([], tmp_path / "sweep.png")
