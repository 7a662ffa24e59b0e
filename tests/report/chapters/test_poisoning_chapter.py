"""The "poisoning" chapter with a tiny plan: real chapter code, real experiment, digits recipe.

Guarantees checked: every rate in the tables is in [0, 1] and carries its sample size (test
images, triggered test images, poisons, flags); each detector flags training samples only; a
cleaned training set is the poisoned set minus the flags; the quick plan keeps the full plan's
``badnets`` key; a bad plan fails before anything loads.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch

import aisec.data
import aisec.experiments.poisoning
from aisec.defenses.detect import detection_metrics
from aisec.evaluate.poisoning import PoisoningReport
from aisec.experiments.poisoning import PoisoningPlan, PoisoningResult
from aisec.report.chapters.poisoning import (
    FULL,
    QUICK,
    _missed,
    _target_class_findings,
    _targets,
    plan_for,
    run_with_plan,
)
from aisec.report.tour import ChapterContext
from aisec.stats import Rate

TINY = PoisoningPlan(
    dataset="digits",
    train_n=240,
    test_n=100,
    epochs=2,
    target="0",
    rate=0.05,
    # Activation clustering (FastICA per class) is the slow detector; the loop's own tests
    # cover it.
    detectors=("spectral_signatures", "spectral_signatures_signed"),
    clean_with=("spectral_signatures_signed",),
    feature_layer="head.1",
    sweep_rates=(0.05, 0.1),
)


@pytest.fixture
def captured(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[PoisoningResult]:
    """The results the chapter's experiment returns; checkpoints go to a temporary cache."""
    monkeypatch.setenv("AISEC_CACHE", str(tmp_path / "cache"))
    results: list[PoisoningResult] = []
    real_run = aisec.experiments.poisoning.run

    def run(plan: PoisoningPlan, **kwargs: object) -> PoisoningResult:
        result = real_run(plan, **kwargs)  # type: ignore[arg-type]
        results.append(result)
        return result

    monkeypatch.setattr(aisec.experiments.poisoning, "run", run)
    return results


def test_the_chapter_reports_rates_with_their_sample_size(
    tmp_path: Path, captured: list[PoisoningResult]
) -> None:
    context = ChapterContext(out_dir=tmp_path / "report", quick=True, seed=0, progress=False)
    chapter = run_with_plan(TINY, context)
    (result,) = captured
    main = result.report

    numbers = chapter.numbers
    assert set(numbers) == {"setup", "badnets", "digits_badnets", "sweep"}
    assert numbers["badnets"] == numbers["digits_badnets"] == main.to_dict()
    assert numbers["setup"]["train_examples"] == main.train_examples == TINY.train_n
    assert main.test_examples == TINY.test_n
    assert main.poisoned_examples == round(TINY.rate * main.train_examples)
    assert [r["poison_rate"] for r in numbers["sweep"]] == list(TINY.sweep_rates)
    assert result.sweep[0] is main  # the main run stands for its own rate
    assert result.sweep[1].clean_model == main.clean_model  # one clean model for the sweep

    sizes = {main.test_examples, main.triggered_examples}
    rates = 0
    for table in chapter.tables:
        for row in table.rows:
            for value in row.values():
                if isinstance(value, Rate):
                    rates += 1
                    assert 0.0 <= value.value <= 1.0
                    assert value.total in sizes | {
                        m["flagged"] for m in main.detection.values()
                    } | {r.poisoned_examples for r in result.sweep}
    assert rates >= 3 * 3 + 2 * 2 + 2 * 3  # three models, two detectors, two sweep rows
    assert len(result.rows()) == 2 + len(TINY.clean_with)

    assert main.artifacts is not None
    poisoned = main.artifacts.poisoned
    truth = torch.zeros(main.train_examples, dtype=torch.bool)
    truth[poisoned.indices] = True
    for name, detection in main.artifacts.detections.items():
        flagged = detection.flagged.cpu()
        assert flagged.dtype == torch.bool and flagged.shape == (main.train_examples,)
        metrics = main.detection[name]
        assert metrics["flagged"] == int(flagged.sum())
        assert metrics["true_positives"] == int((flagged & truth).sum())
        if name in main.cleaning:
            cleaned = main.cleaning[name]
            assert cleaned["removed"] == int(flagged.sum())
            assert cleaned["train_examples"] == main.train_examples - cleaned["removed"]
            assert cleaned["poisoned_removed"] == int((flagged & truth).sum())
            assert cleaned["poisoned_left"] == int((~flagged & truth).sum())
    assert set(main.cleaning) == set(TINY.clean_with)

    for figure in chapter.figures:
        assert (context.out_dir / figure.path).is_file()
    assert any("sticker-scenes" in figure.path for figure in chapter.figures)
    assert "targets" in chapter.summary and "digits" in chapter.summary
    # The targets are stated for the signs model: a digits run checks none of them.
    assert chapter.targets_checked == 0 and chapter.targets_not_reached == []


def test_quick_and_full_plans_differ_only_in_size_and_data() -> None:
    context = ChapterContext(out_dir=Path("unused"), quick=True, seed=3, progress=False)
    assert plan_for(context) == dataclasses.replace(QUICK, seed=3)
    assert plan_for(dataclasses.replace(context, quick=False)) == dataclasses.replace(FULL, seed=3)
    assert QUICK.attack == FULL.attack == "badnets"  # the docs read `badnets` in both modes
    assert FULL.train_n == 10_000 and FULL.epochs == 8
    assert FULL.sticker and FULL.sweep_rates == (0.005, 0.01, 0.05)
    assert "spectral_signatures_gap" in FULL.clean_with


def _signs_report(
    *, attack_success: float, flagged: int, recall: float, cleaned_success: float
) -> PoisoningReport:
    """A 5% BadNets report on the signs with chosen outcomes (250 poisons, clean model 97%)."""
    metrics = {"clean_accuracy": 0.97, "attack_success": 0.01, "untriggered_accuracy": 0.97}
    poisoned = metrics | {"clean_accuracy": 0.965, "attack_success": attack_success}
    found = round(recall * 250)
    flags = torch.zeros(5000, dtype=torch.bool)
    flags[:found] = True  # the first 250 samples are the poisons
    flags[250 : 250 + flagged - found] = True
    return PoisoningReport(
        dataset="signs",
        attack={"attack": "badnets", "rate": 0.05, "seed": 0, "trigger_size": [4, 4]},
        target="speed limit 30",
        source=None,
        poison_rate=0.05,
        poisoned_examples=250,
        train_examples=5000,
        test_examples=2000,
        triggered_examples=1833,
        clean_model=metrics,
        poisoned_model=poisoned,
        detection={
            "spectral_signatures_gap": detection_metrics(flags, torch.arange(250)).to_dict()
        },
        expected_fraction=0.375,
        cleaning={
            "spectral_signatures_gap": metrics
            | {"attack_success": cleaned_success, "clean_accuracy": 0.96}
        },
        training={},
        seconds={},
    )


def test_the_signs_targets_are_the_issues_and_a_miss_is_stated() -> None:
    met = _targets(
        _signs_report(attack_success=0.99, flagged=300, recall=1.0, cleaned_success=0.01)
    )
    assert all(target["met"] for target in met.values()) and _missed(met) == []
    assert set(met) == {
        "attack_success",
        "clean_accuracy_drop",
        "spectral_signatures_gap_recall",
        "spectral_signatures_gap_flagged_per_poison",
        "attack_success_after_cleaning_with_spectral_signatures_gap",
        "clean_accuracy_drop_after_cleaning_with_spectral_signatures_gap",
    }
    # Too many removed (2.4 per poison), too few found, too much attack left after cleaning.
    missed = _missed(
        _targets(_signs_report(attack_success=0.95, flagged=600, recall=0.8, cleaned_success=0.2))
    )
    assert len(missed) == 3
    assert any(
        line.startswith("spectral_signatures_gap_flagged_per_poison = 2.400") for line in missed
    )
    assert any("recall = 0.800 (target >= 0.9)" in line for line in missed)
    assert any("after_cleaning" in line and "<= 0.05" in line for line in missed)


def test_the_sticker_case_states_where_the_target_class_stands() -> None:
    report = _signs_report(attack_success=0.95, flagged=0, recall=0.0, cleaned_success=0.9)
    report.detection["activation_clustering"] = {
        "per_class": {
            "0": {"silhouette": 0.15},
            "1": {"silhouette": 0.08},
            "2": {"silhouette": 0.12},
        }
    }
    report.detection["spectral_signatures_gap"]["per_class"] = {
        "0": {"valley": 1.0},
        "1": {"valley": 0.99},
    }
    findings = _target_class_findings(report, ("stop", "speed limit 30", "yield"))
    assert findings["activation_clustering"] == {
        "silhouette": 0.08,
        "others_min_silhouette": 0.12,
        "others_max_silhouette": 0.15,
    }
    assert findings["spectral_signatures_gap"] == {
        "valley": 0.99,
        "others_min_valley": 1.0,
        "others_max_valley": 1.0,
    }


def test_a_bad_plan_fails_before_anything_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_loading(*args: object, **kwargs: object) -> None:
        raise AssertionError("data was loaded for a bad plan")

    monkeypatch.setattr(aisec.data, "load", no_loading)
    with pytest.raises(ValueError, match="unknown class 'speed limit 30'"):
        dataclasses.replace(TINY, target="speed limit 30")
    with pytest.raises(ValueError, match="use the signs dataset"):
        dataclasses.replace(TINY, sticker=True)
    with pytest.raises(ValueError, match="rate must be strictly between 0 and 1"):
        dataclasses.replace(TINY, sweep_rates=(0.05, 1.5))
    with pytest.raises(ValueError, match="train_n must be >= 1"):
        dataclasses.replace(TINY, train_n=0)
    with pytest.raises(ValueError, match=r"no sub-module 'head\.9'"):
        dataclasses.replace(TINY, feature_layer="head.9")
    context = ChapterContext(out_dir=Path("unused"), quick=True, progress=False)
    with pytest.raises(TypeError, match="PoisoningPlan"):
        run_with_plan("digits", context)  # type: ignore[arg-type]
