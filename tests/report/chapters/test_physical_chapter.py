"""The "physical" chapter with a tiny plan: real chapter code, real experiment, zoo signs-cnn.

Guarantees checked: every rate is in [0, 1] and carries the number of held-out conditions; the
RP2 and control stickers stay inside their masks; the clean sign, RP2 and control are read under
the same held-out conditions, drawn with another seed than the optimisation's; a bad plan fails
before anything loads.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import aisec.experiments.names
import aisec.experiments.physical
from aisec.evaluate.physical import evaluate_signs
from aisec.experiments.physical import PhysicalPlan, PhysicalResult
from aisec.report.chapters.physical import (
    FULL,
    MIN_SMALL_CONTROL_SOURCE,
    MIN_SMALL_STICKER_SUCCESS,
    QUICK,
    SMALL_STICKER_AREA,
    _small_sticker_targets,
    plan_for,
    run_with_plan,
)
from aisec.report.tour import ChapterContext
from aisec.stats import Rate

TINY = PhysicalPlan(
    steps=3,
    batch_size=4,
    n_conditions=16,
    dataset_check=False,
    signs_patch=False,
    keep_views=4,
    compare_masks=("thin-bars",),
)


@pytest.fixture
def captured(monkeypatch: pytest.MonkeyPatch) -> list[PhysicalResult]:
    """The results the chapter's experiment returns (the chapter keeps only what it renders)."""
    results: list[PhysicalResult] = []
    real_run = aisec.experiments.physical.run

    def run(plan: PhysicalPlan) -> PhysicalResult:
        result = real_run(plan)
        results.append(result)
        return result

    monkeypatch.setattr(aisec.experiments.physical, "run", run)
    return results


def test_the_chapter_reports_held_out_rates_with_their_sample_size(
    tmp_path: Path, captured: list[PhysicalResult]
) -> None:
    context = ChapterContext(out_dir=tmp_path, quick=True, seed=0, progress=False)
    chapter = run_with_plan(TINY, context)
    (result,) = captured

    numbers = chapter.numbers
    assert numbers["n_conditions"] == TINY.n_conditions
    for key in (
        "sticker_area",
        "thin_bars.sticker_area",
        "thin_bars.rp2.targeted_success",
        *(
            f"{v}.{m}"
            for v in ("clean", "rp2", "control")
            for m in ("targeted_success", "source_accuracy")
        ),
    ):
        assert 0.0 <= numbers[key] <= 1.0, key
    assert isinstance(numbers["all_targets_met"], bool)
    assert chapter.targets_checked == 3
    assert (chapter.targets_not_reached == []) == numbers["all_targets_met"]
    assert numbers["thin_bars.sticker_area"] < numbers["sticker_area"]

    # The full tour also checks the small-sticker targets, on the best sticker of the paper's
    # size (here thin-bars: the default bars are larger).
    metrics = result.metrics()
    (thin,) = result.mask_comparisons
    assert thin.rp2.sticker_area <= SMALL_STICKER_AREA < metrics["sticker_area"]
    checked, missed = _small_sticker_targets(result, metrics)
    assert checked == 2
    success = thin.evaluation["rp2"].targeted_success
    control = thin.evaluation["control"].source_accuracy
    assert any("read as the target" in line for line in missed) == (
        success < MIN_SMALL_STICKER_SUCCESS
    )
    assert any("read as 'stop'" in line for line in missed) == (control < MIN_SMALL_CONTROL_SOURCE)
    assert all(line.startswith("thin-bars sticker (") for line in missed)

    held_out, sizes = chapter.tables
    assert len(held_out.rows) == 3
    for row in held_out.rows:
        for key in ("read as 'speed limit 30'", "read as 'stop'"):
            rate = row[key]
            assert isinstance(rate, Rate) and rate.total == TINY.n_conditions
            assert 0.0 <= rate.value <= 1.0
    assert [row["sticker"] for row in sizes.rows] == ["bars", "thin-bars"]
    assert all(row["RP2 read as target"].total == TINY.n_conditions for row in sizes.rows)
    for figure in chapter.figures:
        assert (tmp_path / figure.path).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    # The stickers are confined to their masks.
    for rp2 in (result.rp2, result.mask_comparisons[0].rp2):
        outside = rp2.mask[0] < 0.5
        assert torch.equal(rp2.adversarial_sign[:, outside], rp2.sign[:, outside])
        assert float(rp2.sticker[:, outside].abs().max()) == 0.0
    outside = result.rp2.mask[0] < 0.5
    assert torch.equal(result.control_sign[:, outside], result.rp2.sign[:, outside])
    # ... and so is the printed sticker the chapter wrote (transparent outside the mask).
    sticker = np.asarray(Image.open(tmp_path / "figures" / "physical" / "sticker.png"))
    assert np.array_equal(sticker[..., 3] > 127, result.rp2.mask[0].numpy() > 0.5)

    # Clean, RP2 and control are read under the same held-out conditions (another seed).
    evaluation = result.evaluation
    assert evaluation.seed == TINY.eval_seed != TINY.seed
    assert {m.n for m in evaluation.sets.values()} == {TINY.n_conditions}
    model = aisec.experiments.names.zoo_model(TINY.model)
    for variant, image in (("rp2", result.rp2.adversarial_sign), ("control", result.control_sign)):
        alone = evaluate_signs(
            model,
            {variant: image},
            result.rp2.sign_mask,
            source=result.rp2.source,
            target=result.rp2.target,
            n_conditions=TINY.n_conditions,
            seed=TINY.eval_seed,
            keep_views=TINY.keep_views,
        )
        # Each variant's views are exactly the views of the held-out seed, whatever else was read.
        assert torch.equal(alone.views[variant], evaluation.views[variant])
        assert alone[variant].predictions == evaluation[variant].predictions


def test_a_bad_plan_fails_before_anything_loads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_loading(name: str) -> None:
        raise AssertionError(f"loaded {name!r} for a bad plan")

    monkeypatch.setattr(aisec.experiments.names, "zoo_model", no_loading)
    context = ChapterContext(out_dir=tmp_path, quick=True, progress=False)
    with pytest.raises(ValueError, match="n_conditions must be >= 1"):
        run_with_plan(dataclasses.replace(TINY, n_conditions=0), context)
    with pytest.raises(ValueError, match="unknown model"):
        run_with_plan(dataclasses.replace(TINY, model="no-such-model"), context)
    with pytest.raises(ValueError, match="eval_seed must differ from seed"):
        run_with_plan(dataclasses.replace(TINY, seed=5, eval_seed=5), context)


def test_the_plans_keep_the_tour_sizes(tmp_path: Path) -> None:
    quick = plan_for(ChapterContext(out_dir=tmp_path, quick=True, seed=3))
    assert quick == dataclasses.replace(QUICK, seed=3, eval_seed=4)
    assert (quick.steps, quick.batch_size, quick.n_conditions) == (100, 16, 200)
    assert not quick.dataset_check and not quick.signs_patch
    full = plan_for(ChapterContext(out_dir=tmp_path, seed=0))
    assert full == dataclasses.replace(FULL, seed=0, eval_seed=1)
    assert (full.model, full.steps, full.batch_size, full.n_conditions) == (
        "signs-cnn",
        300,
        32,
        200,
    )
    assert full.dataset_check and full.signs_patch and full.compare_masks == ("thin-bars",)
