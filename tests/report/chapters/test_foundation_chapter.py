"""The foundation chapter on a tiny plan: the real chapter code, the digits model."""

from __future__ import annotations

from pathlib import Path

import pytest

from aisec.experiments import foundation
from aisec.experiments.foundation import FoundationPlan
from aisec.report.chapters.foundation import run_with_plan
from aisec.report.tour import ChapterContext
from aisec.stats import Rate


def test_the_chapter_measures_every_model_and_photo(tmp_path: Path) -> None:
    plan = FoundationPlan(models=("digits-cnn",), preview_n=48)
    chapter = run_with_plan(plan, ChapterContext(out_dir=tmp_path, quick=True, progress=False))
    accuracy = chapter.numbers["digits-cnn.clean_accuracy"]
    assert 0.5 < accuracy <= 1.0
    (models, photos) = chapter.tables
    (row,) = models.rows
    assert isinstance(row["clean accuracy"], Rate)
    assert row["clean accuracy"].total == row["test examples"] > 0
    assert row["clean accuracy"].value == accuracy
    assert 0.0 <= chapter.numbers["efficientnet-lite0.photo_top1"] <= 1.0
    assert len(photos.rows) >= 2 and all(isinstance(r["correct"], bool) for r in photos.rows)
    for figure in chapter.figures:
        assert (tmp_path / figure.path).stat().st_size > 1_000


def test_a_bad_plan_fails_before_anything_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(name: str) -> None:
        raise AssertionError(f"{name} was loaded for a bad plan")

    monkeypatch.setattr(foundation.names, "zoo_model", refuse)
    with pytest.raises(ValueError, match="unknown"):
        FoundationPlan(models=("resnet-9000",))
    with pytest.raises(ValueError, match="preview_n"):
        FoundationPlan(preview_n=3)
    with pytest.raises(ValueError, match="at least one"):
        FoundationPlan(models=())
