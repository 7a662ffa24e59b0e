"""The text chapter on a tiny plan: the real chapter code, the tweets-bow victim."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from aisec.attacks.text import build_recipe
from aisec.attacks.text.attack import AttackRun
from aisec.attacks.text.core import AttackText
from aisec.experiments import text_defenses as experiment
from aisec.experiments.text_defenses import TextDefensesPlan, TextDefensesResult
from aisec.report.chapters import text as chapter_module
from aisec.report.chapters.text import run_with_plan
from aisec.report.tour import ChapterContext
from aisec.stats import Rate

TINY = TextDefensesPlan(
    victims=("tweets-bow",),
    recipes=("deepwordbug", "bad_characters"),
    n=6,
    encoder=False,
    defenses=("none", "sanitizer"),
)


def _check_constraints(recipe: str, run: AttackRun) -> None:
    """Every returned text is within the recipe's budget and passes its constraints."""
    constraints = build_recipe(recipe).constraints
    for result in run.results:
        original = AttackText.from_text(result.original)
        candidate = original
        for index, word in zip(result.changed_indices, result.adversarial_words, strict=True):
            candidate = candidate.replace_word(index, word)
        assert candidate.text == result.adversarial
        if result.status == "skipped":
            assert result.adversarial == result.original
        for constraint in constraints:
            assert constraint.check(original, [candidate]) == [True], (constraint, result)


def _check_rate(rate: Any, total: int | None = None) -> None:
    assert isinstance(rate, Rate)
    assert 0.0 <= rate.value <= 1.0 or rate.total == 0
    if total is not None:
        assert rate.total == total


def test_the_chapter_attacks_and_defends_tweets_bow(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    results: list[TextDefensesResult] = []

    def run_and_keep(plan: TextDefensesPlan, *, progress: bool = False) -> TextDefensesResult:
        results.append(experiment.run_defenses(plan, progress=progress))
        return results[-1]

    monkeypatch.setattr(chapter_module, "run_defenses", run_and_keep)
    context = ChapterContext(out_dir=tmp_path, quick=True, progress=False)
    chapter = run_with_plan(TINY, context)
    (result,) = results

    attacks, examples, defenses = chapter.tables
    assert [(r["victim"], r["recipe"]) for r in attacks.rows] == [
        ("tweets-bow", "deepwordbug"),
        ("tweets-bow", "bad_characters"),
    ]
    for row, outcome in zip(attacks.rows, result.attacks, strict=True):
        summary = outcome.summary
        _check_rate(row["clean accuracy"], TINY.n)
        _check_rate(row["accuracy under attack"], TINY.n)
        _check_rate(row["success rate"], summary.succeeded + summary.failed)
        _check_rate(row["accuracy after sanitizer"], TINY.n)
        _check_rate(row["flagged by sanitizer"], summary.succeeded)
        assert row["accuracy under attack"].value <= row["clean accuracy"].value
        _check_constraints(outcome.recipe, outcome.run)
        key = f"tweets-bow.{outcome.recipe}"
        assert chapter.numbers[f"{key}.accuracy_under_attack"] == summary.accuracy_under_attack
    unicode_row = attacks.rows[1]
    # The sanitizer undoes what the Unicode attack did (a non-adaptive check).
    assert (
        unicode_row["accuracy after sanitizer"].value >= unicode_row["accuracy under attack"].value
    )
    assert all(e["adversarial"] for e in examples.rows)

    assert [r["defense"] for r in defenses.rows] == ["none", "sanitizer (adaptive)"]
    for row in defenses.rows:
        _check_rate(row["clean accuracy"], TINY.n)
        for recipe in TINY.recipes:
            _check_rate(row[recipe], TINY.n)
            assert row[recipe].value <= row["clean accuracy"].value
    none, sanitized = result.defenses
    for recipe in TINY.recipes:
        _check_constraints(recipe, none.runs[recipe])
        _check_constraints(recipe, sanitized.runs[recipe])
    bare = none.summaries()["bad_characters"]
    defended = sanitized.summaries()["bad_characters"]
    assert defended.succeeded <= bare.succeeded  # attacked adaptively, through the sanitizer
    assert "tweets-bow.test_accuracy" in chapter.numbers
    assert (
        chapter.numbers["defense.sanitizer (adaptive).bad_characters.accuracy_under_attack"]
        == defended.accuracy_under_attack
    )


def test_the_tour_runs_the_quick_or_full_plan_with_its_seed(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    seen: list[TextDefensesPlan] = []

    def fake_run(plan: TextDefensesPlan, *, progress: bool = False) -> Any:
        seen.append(plan)
        raise RuntimeError("stop")

    monkeypatch.setattr(chapter_module, "run_defenses", fake_run)
    context = ChapterContext(out_dir=tmp_path, quick=True, seed=3, progress=False)
    with pytest.raises(RuntimeError, match="stop"):
        chapter_module.run_text(context)
    assert seen == [chapter_module.plan_for(context)]
    assert seen[0].seed == 3 and seen[0].recipes == chapter_module.QUICK.recipes
    full = chapter_module.plan_for(ChapterContext(out_dir=tmp_path, quick=False))
    assert full == chapter_module.FULL and "tweets-minilm" in full.victims


def test_a_bad_plan_fails_before_anything_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("something was loaded for a bad plan")

    monkeypatch.setattr(experiment.names, "text_model", refuse)
    monkeypatch.setattr(experiment, "load_tweets", refuse)
    monkeypatch.setattr(experiment, "MiniLMEncoder", refuse)
    with pytest.raises(ValueError, match="known recipes"):
        TextDefensesPlan(recipes=("nope",))
    with pytest.raises(ValueError, match="unknown text model"):
        TextDefensesPlan(victims=("tweets-nope",), encoder=False, recipes=("pwws",))
    with pytest.raises(ValueError, match="n must be >= 1"):
        TextDefensesPlan(n=0)
    with pytest.raises(ValueError, match="needs the MiniLM encoder"):
        TextDefensesPlan(encoder=False)
