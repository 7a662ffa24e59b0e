"""The defenses chapter's real code on a tiny plan: the digits models, no physical part."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

import aisec.experiments.defenses
import aisec.experiments.names
from aisec.experiments.defenses import DefensesPlan, DefensesResult
from aisec.report.chapters import defenses
from aisec.report.tour import ChapterContext, ChapterResult, chapter_record
from aisec.stats import Rate

N = 12

TINY = dataclasses.replace(
    defenses.QUICK,
    robust_model="digits-cnn-noise",  # a second cached digits model: nothing is trained
    n=N,
    preprocessing=("bits:2", "resize-pad:0.8"),
    robust_preprocessing="bits:2",  # JPEG's first use imports an image library (seconds)
    steps=3,
    eot_samples=2,
    square_queries=20,
    suite_n=N,
    suite_steps=3,
    suite_queries=20,
    squeeze_n=N,
    cw_iterations=3,
    smoothing_points=8,
    smoothing_n0=16,
    smoothing_n=32,
    smoothing_batch_size=64,
)


@pytest.fixture(scope="module")
def experiment(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[DefensesResult, ChapterContext]:
    context = ChapterContext(tmp_path_factory.mktemp("report"), quick=True, progress=False)
    return aisec.experiments.defenses.run(TINY, progress=False), context


@pytest.fixture(scope="module")
def chapter(
    experiment: tuple[DefensesResult, ChapterContext],
) -> tuple[ChapterResult, ChapterContext]:
    result, context = experiment
    return defenses.render(result, context), context


def _rate(value: object, total: int | None = None) -> Rate:
    assert isinstance(value, Rate), value
    assert 0 <= value.count <= value.total
    if total is not None:
        assert value.total == total
    return value


def test_the_defense_table_never_credits_a_defense_with_more_than_the_naive_number(
    chapter: tuple[ChapterResult, ChapterContext],
) -> None:
    result, _ = chapter
    rows = result.tables[0].rows
    names = [row["defense"] for row in rows]
    assert names == [
        "no defense",
        "bits:2",
        "resize-pad:0.8",
        "adversarial training",
        "adversarial training + bits:2",
    ]
    assert [row["gradient"] for row in rows] == ["exact", "BPDA", "exact + EOT×2", "exact", "BPDA"]
    for row in rows:
        clean = _rate(row["clean accuracy"], N)
        naive = _rate(row["non-adaptive (transferred PGD)"], N)
        adaptive = _rate(row["adaptive (worst case)"], N)
        # Adaptive <= non-adaptive <= clean: the worst case includes the transfer examples.
        assert adaptive.count <= naive.count <= clean.count, row
    numbers = result.numbers
    for name, row in zip(names, rows, strict=True):
        assert numbers[f"table.{name}.adaptive_accuracy"] == pytest.approx(
            row["adaptive (worst case)"].value
        )
        assert (
            numbers[f"table.{name}.adaptive_accuracy"]
            <= numbers[f"table.{name}.non_adaptive_accuracy"]
            <= numbers[f"table.{name}.clean_accuracy"]
        )
    assert numbers["settings"]["adversarially_trained_model"] == "digits-cnn-noise"
    assert [row["name"] for row in numbers["table"]["rows"]] == names
    assert isinstance(numbers["table_notes"], list)


def test_the_suite_is_a_worst_case_below_the_clean_accuracy(
    chapter: tuple[ChapterResult, ChapterContext],
) -> None:
    result, _ = chapter
    rows = result.tables[1].rows
    assert [row["model"] for row in rows] == ["digits-cnn", "digits-cnn-noise"]
    for row, key in zip(rows, ("undefended", "adversarially_trained"), strict=True):
        clean = _rate(row["clean accuracy"], N)
        robust = _rate(row["robust accuracy (worst case)"], N)
        assert robust.count <= clean.count
        assert result.numbers[f"suite.{key}.robust_accuracy"] == pytest.approx(robust.value)
        assert result.numbers[f"suite.{key}.clean_accuracy"] == pytest.approx(clean.value)
    gain = result.numbers["suite.gain_points"]
    robust_values = [row["robust accuracy (worst case)"].value for row in rows]
    assert gain == pytest.approx(100 * (robust_values[1] - robust_values[0]))


def test_the_adversarial_training_targets_are_checked_and_a_missed_one_quoted(
    experiment: tuple[DefensesResult, ChapterContext], monkeypatch: pytest.MonkeyPatch
) -> None:
    result, context = experiment
    plain = defenses.render(result, context)
    # The targets are about signs-cnn-at at 8/255: this tiny plan does not measure them.
    assert plain.targets_checked == 0 and plain.targets_not_reached == []
    assert plain.numbers["suite.n"] == N
    monkeypatch.setattr(defenses, "AT_TARGET_MODEL", "digits-cnn-noise")
    monkeypatch.setattr(defenses, "AT_TARGET_EPS", TINY.eps_value)
    monkeypatch.setattr(defenses, "MIN_AT_ROBUST_ACCURACY", 1.01)  # out of reach
    checked = defenses.render(result, context)
    assert checked.targets_checked == 2
    line = checked.targets_not_reached[0]
    assert line.startswith("digits-cnn-noise robust accuracy under the suite >= 101%")
    assert line.endswith(f"of {N}")
    assert chapter_record(checked)["targets"] == {
        "checked": 2,
        "not_reached": checked.targets_not_reached,
    }


def test_squeezing_and_smoothing_report_rates_with_their_sample_sizes(
    chapter: tuple[ChapterResult, ChapterContext],
) -> None:
    result, context = chapter
    squeezing = result.tables[2].rows
    assert any(row["knows the detector"] for row in squeezing)
    for row in squeezing:
        fooled = _rate(row["fooled the model"])
        _rate(row["fools the model and evades"], fooled.total)
        if row["detection rate"] is not None:
            _rate(row["detection rate"], fooled.count)
    assert "squeezing.adaptive.fool_and_evade" in result.numbers
    smoothing = result.tables[3].rows
    assert [row["model"] for row in smoothing] == ["digits-cnn-noise"]
    row = smoothing[0]
    at = [_rate(row[key], 8) for key in ("certified at r = 0", "certified at r = 0.25")]
    assert at[1].count <= at[0].count  # certified accuracy only falls with the radius
    assert result.numbers["smoothing.digits-cnn-noise.certified_r0"] == pytest.approx(at[0].value)
    # No physical part in this plan; the figures exist; the record serialises.
    assert len(result.tables) == 4
    assert not any(key.startswith("physical.") for key in result.numbers)
    for figure in result.figures:
        assert (context.out_dir / figure.path).is_file()
    record: dict[str, Any] = chapter_record(result)
    json.dumps(record)


def test_plan_for_uses_the_modes_sizes_and_the_tours_seed(tmp_path: Path) -> None:
    quick = defenses.plan_for(ChapterContext(tmp_path, quick=True, seed=7))
    assert quick == dataclasses.replace(defenses.QUICK, seed=7)
    full = defenses.plan_for(ChapterContext(tmp_path, quick=False, seed=0))
    assert full == defenses.FULL and full.physical and full.robust_model == "signs-cnn-at"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"model": "no-such-model"}, "no-such-model"),
        ({"robust_model": "digits-cnn"}, "differ"),
        ({"n": 0}, "n must be"),
        ({"eps": "8/0"}, "divides by zero"),
        ({"preprocessing": ("gzip:3",)}, "unknown defense"),
        ({"squeezers": ()}, "squeezer"),
        ({"smoothing_alpha": 2.0}, "alpha"),
        ({"physical": True}, "traffic-signs"),
        ({"physical": True, "robust_model": "digits-cnn-noise"}, "traffic-signs"),
        (
            {"physical": True, "model": "signs-cnn", "physical_defense": "gzip:3"},
            "unknown defense",
        ),
    ],
)
def test_a_bad_plan_fails_before_anything_loads(
    monkeypatch: pytest.MonkeyPatch, change: dict[str, Any], message: str
) -> None:
    loaded: list[str] = []

    def record(name: str) -> Any:
        loaded.append(name)
        raise AssertionError("a bad plan must fail before loading a model")

    monkeypatch.setattr(aisec.experiments.names, "zoo_model", record)
    with pytest.raises(ValueError, match=message):
        dataclasses.replace(defenses.QUICK, **change)
    with pytest.raises(ValueError, match=message):
        DefensesPlan(**{**dataclasses.asdict(defenses.QUICK), **change})
    assert loaded == []
