"""The stop-sign experiment (:mod:`aisec.experiments.physical`) and its files
(:mod:`aisec.report.physical`): documented metrics, a printable sticker, plan validation."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

import aisec.experiments.names
from aisec.attacks.physical import RP2, RP2Result
from aisec.defenses.preprocess import PreprocessedModel
from aisec.experiments.physical import PhysicalPlan, run, run_on_model
from aisec.report.physical import TARGETS, check_targets, save_physical_files, unmet_targets
from aisec.stats import Rate


def test_the_experiment_writes_the_documented_metrics_and_a_printable_sticker(
    signs_model: nn.Module, tmp_path: Path
) -> None:
    plan = PhysicalPlan(
        steps=3, batch_size=4, n_conditions=12, signs_patch=False, keep_views=4, seed=2, eval_seed=9
    )
    result = run_on_model(signs_model, plan)
    paths = save_physical_files(result, tmp_path)
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert paths["metrics"] == tmp_path / "metrics.json"
    assert metrics["n_conditions"] == 12
    for variant in ("clean", "rp2", "control"):
        assert set(metrics[variant]) >= {"targeted_success", "source_accuracy"}
        assert 0.0 <= metrics[variant]["targeted_success"] <= 1.0
    assert metrics["source"] == "stop" and metrics["target"] == "speed limit 30"
    assert metrics["seed"] == 2 and metrics["eval_seed"] == 9
    assert set(metrics["targets"]) == set(TARGETS)
    assert metrics["all_targets_met"] == all(
        record["met"] is not False for record in metrics["targets"].values()
    )
    assert metrics["dataset_renderer"]["n_conditions"] == 12
    assert "targets" not in result.metrics()  # the experiment reports measured values only
    assert json.loads(json.dumps(result.to_dict())) == json.loads(json.dumps(result.metrics()))
    sticker = np.asarray(Image.open(paths["sticker"]))
    assert sticker.shape == (256, 256, 4)
    lines = unmet_targets(result.metrics())
    assert all("required" in line for line in lines)
    assert len(lines) == sum(r["met"] is False for r in check_targets(result.metrics()).values())


def test_rows_give_rates_with_their_sample_size(signs_model: nn.Module) -> None:
    plan = PhysicalPlan(
        steps=2, batch_size=4, n_conditions=10, dataset_check=False, signs_patch=False
    )
    rows = run_on_model(signs_model, plan).rows()
    assert rows[0]["sign"] == "clean stop sign"
    for row in rows:
        assert set(row) == {"sign", "read as 'speed limit 30'", "read as 'stop'"}
        for key in ("read as 'speed limit 30'", "read as 'stop'"):
            assert isinstance(row[key], Rate) and row[key].total == 10


def test_run_resolves_the_model_and_puts_the_defense_in_front_with_bpda(
    tiny_model: nn.Module, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[nn.Module] = []
    requested: list[str] = []

    def zoo_model(name: str) -> nn.Module:
        requested.append(name)
        return tiny_model

    class SpyRP2(RP2):
        def __call__(self, model: Any, *args: Any, **kwargs: Any) -> RP2Result:
            seen.append(model)
            return super().__call__(model, *args, **kwargs)

    monkeypatch.setattr(aisec.experiments.names, "zoo_model", zoo_model)
    monkeypatch.setattr("aisec.experiments.physical.RP2", SpyRP2)
    plan = PhysicalPlan(
        model="signs-cnn-at",
        defense="jpeg:75",
        steps=1,
        batch_size=2,
        n_conditions=3,
        dataset_check=False,
        signs_patch=False,
        keep_views=0,
    )
    metrics = run(plan).metrics()
    assert requested == ["signs-cnn-at"]
    (victim,) = seen
    assert isinstance(victim, PreprocessedModel) and victim.model is tiny_model
    assert all(p.bpda for p in victim.preprocessors)
    assert metrics["model"] == "signs-cnn-at" and metrics["defense"] == "jpeg:75"
    assert metrics["rp2"]["targeted_success"] is not None


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"source": "stopp"}, "unknown sign class 'stopp'"),
        ({"target": "stop"}, "target must differ from the source"),
        ({"seed": 3, "eval_seed": 3}, "eval_seed must differ from seed"),
        ({"mask": "no-such-mask.png"}, "mask must be a built-in shape"),
        ({"compare_masks": ("thin-bars", "nope")}, "each of compare_masks must be a built-in"),
        ({"n_conditions": 0}, "n_conditions must be >= 1"),
        ({"model": "no-such-model"}, "unknown model 'no-such-model'"),
        ({"model": "digits-cnn"}, "attacks a traffic-signs classifier"),
        ({"defense": "jpeg:500"}, "jpeg"),
        ({"defense": "nope"}, "unknown defense 'nope'"),
        ({"imagenet_patch": True, "imagenet_target": "toastr"}, "unknown target class"),
    ],
)
def test_bad_plans_fail_when_made(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        PhysicalPlan(**kwargs)  # type: ignore[arg-type]


def test_run_refuses_what_is_not_a_plan(tiny_model: nn.Module) -> None:
    with pytest.raises(TypeError, match="plan must be a PhysicalPlan"):
        run({"steps": 3})  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"model must be an nn\.Module"):
        run_on_model(torch.zeros(1), PhysicalPlan())  # type: ignore[arg-type]
