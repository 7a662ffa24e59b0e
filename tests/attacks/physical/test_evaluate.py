"""Held-out evaluation and the end-to-end scenario's outputs (metrics.json, printable PNG)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from aisec.attacks.physical import PRINTER_PALETTE, control_sticker, evaluate_signs
from aisec.attacks.physical.scenario import ScenarioConfig, run_scenario
from aisec.data.signs import canonical_sign


@pytest.mark.parametrize("renderer", ["eot", "dataset"])
def test_every_variant_is_read_under_the_same_conditions(
    signs_model: nn.Module, renderer: str
) -> None:
    sign = canonical_sign("stop", size=64)
    evaluation = evaluate_signs(
        signs_model,
        {"a": sign.image, "b": sign.image.clone()},
        sign.mask,
        source=0,
        target=1,
        n_conditions=30,
        seed=4,
        renderer=renderer,  # type: ignore[arg-type]
        batch_size=7,
        keep_views=5,
    )
    assert evaluation["a"].predictions == evaluation["b"].predictions
    assert evaluation["a"].n == 30 and evaluation.n_conditions == 30
    assert evaluation.views["a"].shape == (5, 3, 32, 32)
    other = evaluate_signs(
        signs_model, {"a": sign.image}, sign.mask, source=0, target=1, n_conditions=30, seed=5
    )
    assert not torch.equal(evaluation.views["a"], other.views.get("a", torch.zeros(0)))


def test_the_control_sticker_is_printable_and_inside_its_mask() -> None:
    mask = torch.zeros(1, 64, 64)
    mask[:, 10:30, 5:60] = 1.0
    sticker = control_sticker(mask, seed=3, cell=8)
    assert float(sticker[:, mask[0] < 0.5].abs().max()) == 0.0
    inside = sticker[:, mask[0] > 0.5]
    distances = PRINTER_PALETTE.distances(inside[:, :, None]).min(dim=0).values
    assert float(distances.max()) < 1e-6
    assert torch.equal(sticker, control_sticker(mask, seed=3, cell=8))


def test_evaluation_errors() -> None:
    sign = canonical_sign("stop", size=64)
    model = nn.Flatten()
    with pytest.raises(ValueError, match="renderer must be 'eot' or 'dataset'"):
        evaluate_signs(model, {"a": sign.image}, sign.mask, source=0, target=1, renderer="x")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="must be a \\(3, S, S\\) tensor matching the mask"):
        evaluate_signs(model, {"a": sign.image[:, :32]}, sign.mask, source=0, target=1)
    with pytest.raises(ValueError, match="n_conditions must be >= 1"):
        evaluate_signs(model, {"a": sign.image}, sign.mask, source=0, target=1, n_conditions=0)


def test_the_scenario_writes_the_documented_metrics_and_a_printable_sticker(
    signs_model: nn.Module, tmp_path: Path
) -> None:
    config = ScenarioConfig(
        steps=3, batch_size=4, n_conditions=12, signs_patch=False, keep_views=4, seed=2, eval_seed=9
    )
    result = run_scenario(signs_model, config)
    paths = result.save(tmp_path)
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert paths["metrics"] == tmp_path / "metrics.json"
    assert metrics["n_conditions"] == 12
    for variant in ("clean", "rp2", "control"):
        assert set(metrics[variant]) >= {"targeted_success", "source_accuracy"}
        assert 0.0 <= metrics[variant]["targeted_success"] <= 1.0
    assert metrics["source"] == "stop" and metrics["target"] == "speed limit 30"
    assert metrics["seed"] == 2 and metrics["eval_seed"] == 9
    assert set(metrics["targets"]) == {
        "rp2_targeted_success",
        "control_targeted_success",
        "clean_source_accuracy",
    }
    assert metrics["dataset_renderer"]["n_conditions"] == 12
    sticker = np.asarray(Image.open(paths["sticker"]))
    assert sticker.shape == (256, 256, 4)
    assert result.unmet_targets() == [] or all(
        "required" in line for line in result.unmet_targets()
    )


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"source": "stopp"}, "unknown sign class 'stopp'"),
        ({"target": "stop"}, "target must differ from the source"),
        ({"seed": 3, "eval_seed": 3}, "eval_seed must differ from seed"),
        ({"mask": "no-such-mask.png"}, "mask must be a built-in shape"),
        ({"n_conditions": 0}, "n_conditions must be >= 1"),
    ],
)
def test_bad_scenario_settings(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        ScenarioConfig(**kwargs)  # type: ignore[arg-type]
