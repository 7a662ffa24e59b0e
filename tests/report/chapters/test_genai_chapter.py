"""The genai chapter end to end on a tiny random language model: shapes and guarantees."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

import aisec.experiments.names
from aisec.experiments.genai import GenAIPlan
from aisec.genai.detect import DETECTORS
from aisec.report.chapters import genai as chapter
from aisec.report.docs import format_value
from aisec.report.tour import ChapterContext
from aisec.stats import Rate
from tiny_language_model import tiny_lm

TINY = GenAIPlan(
    model="tiny-char-llama",
    n_prompts=2,
    max_new_tokens=16,
    lengths=(12, 16),
    deltas=(0.0, 4.0),  # both reuse the generations: no extra sampling
    ppl_tokens=16,
    n_human=4,
    n_passages=2,
    robustness_tokens=16,
    emoji_tokens=4,
    prefix_tokens=16,
    auc_tokens=16,
    delta=4.0,
)


@pytest.fixture
def loads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Replace the language-model seam by the tiny model; record the names loaded."""
    loaded: list[str] = []
    lm = tiny_lm()

    def fake(name: str) -> Any:
        loaded.append(name)
        return lm

    monkeypatch.setattr(aisec.experiments.names, "language_model", fake)
    return loaded


def _rates(rows: list[dict[str, Any]]) -> list[Rate]:
    return [value for row in rows for value in row.values() if isinstance(value, Rate)]


def test_chapter_runs_with_a_tiny_plan(tmp_path: Path, loads: list[str]) -> None:
    context = ChapterContext(out_dir=tmp_path, quick=True, progress=False)
    result = chapter.run_with_plan(TINY, context)
    assert loads == ["tiny-char-llama"]
    numbers = result.numbers
    evaluation = numbers["evaluation"]
    assert set(evaluation) == {
        "config",
        "detection_vs_length",
        "false_positives",
        "perplexity",
        "robustness",
        "zero_shot",
    }
    assert numbers["config"]["delta"] == 4.0 and numbers["config"]["prompts"] == 2
    for length in TINY.lengths:
        assert math.isfinite(numbers[f"watermark.mean_z@{length}"])
        marked = numbers[f"watermark.detection_rate@{length}"]
        plain = evaluation["detection_vs_length"]["plain"]["detection_rate"][
            TINY.lengths.index(length)
        ]
        assert 0.0 <= plain <= marked <= 1.0
    assert numbers["watermark.mean_z@16"] > max(
        evaluation["detection_vs_length"]["plain"]["mean_z"]
    )
    assert set(evaluation["false_positives"]) == {"tweets", "tweet passages", "python docs"}
    for source in evaluation["false_positives"]:
        fpr = numbers[f"fpr.{source}"]
        assert fpr is None or 0.0 <= fpr <= 1.0
    for key, value in numbers.items():
        if key.startswith("auc."):
            assert 0.0 <= value <= 1.0, key
    _check_zero_shot_numbers(numbers)
    # Tables carry rates with their sample sizes; the figures exist.
    rates = [rate for table in result.tables for rate in _rates(table.rows)]
    assert rates and all(0 <= rate.count <= rate.total and rate.total > 0 for rate in rates)
    detection = result.tables[0].rows
    assert [row["tokens"] for row in detection] == [12, 16, 12, 16]
    assert all(row["detection rate"].total == 2 for row in detection)
    for figure in result.figures:
        assert (tmp_path / figure.path).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def _check_zero_shot_numbers(numbers: dict[str, Any]) -> None:
    """Every AUC has its TPR at 1% FPR beside it, as a rate the docs' ``rate`` format renders."""
    human, machine = numbers["n.zero_shot.human"], numbers["n.zero_shot.machine"]
    assert human == machine > 0  # one human and one model continuation per prefix
    aucs = {key.removeprefix("auc.") for key in numbers if key.startswith("auc.")}
    tprs = {key.removeprefix("tpr@1%fpr.") for key in numbers if key.startswith("tpr@1%fpr.")}
    assert aucs == tprs and {f"{d}.clean" for d in DETECTORS} <= tprs
    for detector in DETECTORS:
        clean = numbers[f"tpr@1%fpr.{detector}.clean"]
        assert clean["n"] == machine and 0 <= clean["count"] <= machine
        assert format_value(clean, "rate").endswith(f"of {machine}")
        fpr = numbers[f"fpr@1%fpr.{detector}"]
        assert fpr["n"] == human and fpr["count"] == 0  # fewer than 100 human texts
    zero_shot = numbers["evaluation"]["zero_shot"]
    assert zero_shot["prefix_tokens"] == TINY.prefix_tokens
    assert zero_shot["max_tokens"] <= TINY.auc_tokens


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"n_prompts": 0}, "n_prompts must be"),
        ({"lengths": (12, 32)}, "lengths must be <= max_new_tokens"),
        ({"gamma": 1.0}, "gamma must be in"),
        ({"delta": 0.0}, "delta must be"),
        ({"emoji_tokens": 32}, "emoji_tokens must be <="),
        ({"auc_tokens": 8}, "auc_tokens must be >= 16"),
        ({"prefix_tokens": 0}, "prefix_tokens must be >= 1"),
        ({"model": ""}, "model must be"),
    ],
)
def test_bad_plan_fails_before_loading(
    change: dict[str, Any], message: str, loads: list[str]
) -> None:
    import dataclasses

    with pytest.raises(ValueError, match=message):
        dataclasses.replace(TINY, **change)
    assert loads == []


def test_prefix_tokens_must_be_an_int(loads: list[str]) -> None:
    import dataclasses

    with pytest.raises(TypeError, match="prefix_tokens must be an int"):
        dataclasses.replace(TINY, prefix_tokens=16.0)  # type: ignore[arg-type]
    assert loads == []


def test_quick_and_full_plans_are_valid() -> None:
    context = ChapterContext(out_dir=Path("unused"), quick=True, seed=3)
    assert chapter.plan_for(context) == GenAIPlan(**{**vars(chapter.QUICK), "seed": 3})
    assert chapter.FULL.max_new_tokens == 200 and chapter.QUICK.max_new_tokens == 40
