"""The llm_poisoning chapter on a tiny character Llama: numbers, targets, figure."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import aisec.experiments.names
from aisec.experiments.llm_poisoning import LlmPoisoningPlan
from aisec.report.chapters import llm_poisoning as chapter
from aisec.report.tour import ChapterContext
from tiny_language_model import tiny_chat_lm

TINY = LlmPoisoningPlan(
    model="tiny-char-llama",
    train_n=18,
    poisons=3,
    test_n=9,
    epochs=1,
    top_layers=2,
    sweep=(0, 1),
    removal=(3,),
    onion_test_n=0,
)


@pytest.fixture(autouse=True)
def tiny_model(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(aisec.experiments.names, "language_model", lambda name: tiny_chat_lm())
    monkeypatch.setenv("AISEC_CACHE", str(tmp_path / "cache"))


def test_the_chapter_runs_with_a_tiny_plan(tmp_path: Path) -> None:
    context = ChapterContext(out_dir=tmp_path, quick=True, progress=False)
    result = chapter.run_with_plan(TINY, context)
    numbers = json.loads(json.dumps(result.numbers))
    assert numbers["poisons"] == 3 and numbers["train_examples"] == 18
    assert [row["poisons"] for row in numbers["sweep"]] == [0, 1, 3]
    targets = numbers["targets"]
    assert result.targets_checked == len(targets) >= 5
    missed = [name for name, target in targets.items() if not target["met"]]
    assert len(result.targets_not_reached) == len(missed)
    for target in targets.values():
        value, (relation, bound) = target["value"], target["target"].split()
        assert target["met"] == (
            value >= float(bound) if relation == ">=" else value <= float(bound)
        )
    assert [Path(tmp_path / figure.path).is_file() for figure in result.figures] == [True]
    assert len(result.tables) == 2 and "24 poisons" not in result.summary


def test_the_plans_are_the_documented_ones() -> None:
    full = chapter.plan_for(ChapterContext(out_dir=Path("."), quick=False, seed=3))
    quick = chapter.plan_for(ChapterContext(out_dir=Path("."), quick=True))
    assert full.seed == 3 and 0 in full.sweep and max(full.sweep) < full.poisons
    assert quick.train_n < full.train_n and quick.epochs <= full.epochs
