"""The evasion chapter's real code on a tiny plan: the digits CNN and one ImageNet photo."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import torch

import aisec.experiments.names
from aisec.report.chapters import evasion
from aisec.report.tour import ChapterContext, ChapterResult, chapter_record
from aisec.stats import Rate

LINF = (16 / 255, 0.3)
L2 = (0.5, 1.0)
SUITE_EPS = 0.3  # large, so that the suite's published budgets have little left to attack
N = 12

TINY = dataclasses.replace(
    evasion.QUICK,
    n=N,
    linf_eps=LINF,
    l2_eps=L2,
    suite_eps=SUITE_EPS,
    pgd_steps=3,
    apgd_steps=3,
    square_queries=20,
    cw_search_steps=2,
    cw_iterations=5,
    imagenet_photos=1,
    imagenet_steps=1,
)


@pytest.fixture(scope="module")
def chapter(tmp_path_factory: pytest.TempPathFactory) -> tuple[ChapterResult, ChapterContext]:
    """The chapter's result on :data:`TINY`, on one thread (8×8 images gain nothing from two)."""
    context = ChapterContext(tmp_path_factory.mktemp("report"), quick=True, progress=False)
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return evasion.run_with_plan(TINY, context), context
    finally:
        torch.set_num_threads(previous)


def _rate(value: object) -> Rate:
    assert isinstance(value, Rate), value
    assert 0 <= value.count <= value.total
    return value


def test_the_sweep_table_holds_every_attack_with_rates_and_bounded_norms(
    chapter: tuple[ChapterResult, ChapterContext],
) -> None:
    result, _ = chapter
    sweep = result.tables[0].rows
    # L∞: FGSM, PGD, APGD-CE, Square per budget; L2: PGD, APGD-CE per budget; C&W once.
    assert len(sweep) == 4 * len(LINF) + 2 * len(L2) + 1
    assert sweep[-1]["attack"] == "CW-L2"
    for row in sweep:
        clean, robust = _rate(row["clean accuracy"]), _rate(row["robust accuracy"])
        success = _rate(row["success rate"])
        assert clean.total == robust.total == N and success.total == clean.count
        assert robust.count <= clean.count
        eps = row["eps"]
        bound = float(eps[:-4]) / 255 if row["norm"] == "linf" else float(eps)
        assert row["max norm"] <= bound + 1e-5, row


def test_the_suite_is_a_worst_case_per_example(
    chapter: tuple[ChapterResult, ChapterContext],
) -> None:
    result, _ = chapter
    stages = result.tables[1].rows
    assert [row["attack"] for row in stages] == ["clean", "APGD-CE", "APGD-T", "Square"]
    accuracies = [_rate(row["accuracy after"]) for row in stages]
    assert all(rate.total == N for rate in accuracies)
    counts = [rate.count for rate in accuracies]
    assert counts == sorted(counts, reverse=True)  # never above the clean accuracy
    for before, row in zip(counts, stages[1:], strict=False):
        assert row["attacked"] == before
    suite = result.numbers["suite"]
    assert suite["robust_accuracy"] == pytest.approx(counts[-1] / N)
    assert suite["robust_accuracy"] <= suite["clean_accuracy"]
    assert result.tables[2].rows  # the sanity warnings, or "(none)"


def test_numbers_curves_and_the_imagenet_demo(
    chapter: tuple[ChapterResult, ChapterContext],
) -> None:
    result, context = chapter
    numbers = result.numbers
    assert list(numbers) == [
        "cw.median_min_norm",
        "clean_accuracy",
        "sweep",
        "suite",
        "efficientnet-lite0.pgd",
        "n",
    ]
    assert numbers["n"] == TINY.n  # the sample size of every rate of the sweep
    sweep = numbers["sweep"]
    assert "PGD.linf.16/255" in sweep and "APGD-CE.l2.0.5" in sweep and "CW-L2.l2.1" in sweep
    for key, entry in sweep.items():
        assert 0.0 <= entry["robust_accuracy"] <= numbers["clean_accuracy"], key
    cw = [sweep[f"CW-L2.l2.{eps:.3g}"]["robust_accuracy"] for eps in L2]
    assert cw == sorted(cw, reverse=True)  # min-norm curve: more budget, fewer robust points
    demo = numbers["efficientnet-lite0.pgd"]
    assert demo["photos"] == 1 and demo["steps"] == 1
    assert demo["robust_accuracy"] <= demo["clean_accuracy"]
    (photo,) = result.tables[3].rows
    assert photo["L∞ norm ×255"] <= 1 + 1e-4
    # Figures: the curves, the PGD grid (the suite's budget is in the sweep), the photos.
    names = [Path(figure.path).name for figure in result.figures]
    assert names == [
        "evasion-robust-accuracy.png",
        "evasion-signs-grid.png",
        "evasion-imagenet-grid.png",
    ]
    for figure in result.figures:
        assert (context.out_dir / figure.path).read_bytes()[:4] == b"\x89PNG"
    json.dumps(chapter_record(result))  # the tour can store it


def test_the_full_and_quick_plans_keep_their_sizes() -> None:
    assert (evasion.FULL.model, evasion.FULL.n, evasion.FULL.pgd_steps) == ("signs-cnn", 64, 20)
    assert (evasion.QUICK.model, evasion.QUICK.n, evasion.QUICK.suite_eps) == (
        "digits-cnn",
        32,
        32 / 255,
    )
    context = ChapterContext(Path("."), quick=True, seed=3)
    assert evasion.plan_for(context) == dataclasses.replace(evasion.QUICK, seed=3)


def test_a_bad_plan_fails_before_anything_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("nothing may load before the plan is checked")

    monkeypatch.setattr(aisec.experiments.names, "zoo_model", refuse)
    monkeypatch.setattr(aisec.experiments.names, "load_task", refuse)
    for change, message in (
        ({"n": 0}, "n must be"),
        ({"model": "resnet-9000"}, "unknown model"),
        ({"l2_eps": (-0.5,)}, "eps must be"),
        ({"pgd_steps": 0}, "pgd_steps"),
    ):
        with pytest.raises(ValueError, match=message):
            dataclasses.replace(TINY, **change)
