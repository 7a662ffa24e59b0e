"""``aisec certify``: the table, metrics.json with its documented keys, the PNG, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from torch import Tensor, nn
from typer.testing import CliRunner

import aisec.experiments.names
from aisec.cli import app

runner = CliRunner()


class _Pixels(nn.Module):
    """A tiny fixed digits classifier: a linear map of the 8×8 pixels (no training needed)."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.linear = nn.Linear(64, 10)

    def forward(self, x: Tensor) -> Tensor:
        out: Tensor = self.linear(x.flatten(1))
        return out


@pytest.fixture
def tiny_zoo(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    loaded: list[str] = []

    def fake(name: str) -> nn.Module:
        loaded.append(name)
        return _Pixels().eval()

    monkeypatch.setattr(aisec.experiments.names, "zoo_model", fake)
    return loaded


def test_certify_writes_metrics_and_the_curve(tmp_path: Path, tiny_zoo: list[str]) -> None:
    out = tmp_path / "cert"
    arguments = ["certify", "--model", "digits-cnn", "--sigma", "0.25", "--n", "200"]
    arguments += ["--n0", "20", "--alpha", "0.01", "--points", "12", "--out", str(out)]
    result = runner.invoke(app, arguments)
    assert result.exit_code == 0, result.output
    assert tiny_zoo == ["digits-cnn"]
    assert "certified accuracy" in result.output and "metrics.json" in result.output
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["settings"]["sigma"] == 0.25 and metrics["settings"]["n"] == 200
    assert metrics["settings"]["points"] == 12
    curve = metrics["certified_accuracy"]
    assert curve[0]["radius"] == 0 and curve[0]["certified_accuracy"] == metrics["clean_accuracy"]
    accuracies = [point["certified_accuracy"] for point in curve]
    assert accuracies == sorted(accuracies, reverse=True)
    assert 0 <= metrics["abstain_rate"] <= 1 and metrics["time_s"]["total"] > 0
    assert metrics["smoothed"]["predict_accuracy"] is not None
    per_point = metrics["per_point"]
    assert len(per_point["radius"]) == 12
    for prediction, radius in zip(per_point["prediction"], per_point["radius"], strict=True):
        assert radius >= 0.0 and (prediction != -1 or radius == 0.0)
    assert (out / "certified_accuracy.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--sigma", "0"], "sigma"),
        (["--alpha", "1.5"], "alpha"),
        (["--n", "0"], "n must be"),
        (["--points", "0"], "points"),
        (["--model", "resnet-9000"], "known models"),
    ],
)
def test_bad_input_exits_2_with_a_message(
    tmp_path: Path, tiny_zoo: list[str], arguments: list[str], message: str
) -> None:
    out = tmp_path / "cert"
    result = runner.invoke(app, ["certify", "--points", "2", *arguments, "--out", str(out)])
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert not out.exists()


def test_plan_is_checked_before_anything_loads(tiny_zoo: list[str]) -> None:
    from aisec.experiments.certify import CertifyPlan, run

    for bad, message in [
        ({"sigma": 0.0}, "sigma"),
        ({"alpha": 1.0}, "alpha"),
        ({"n": 0}, "n must be"),
        ({"n_points": 0}, "n_points"),
        ({"radius_steps": 0}, "radius_steps"),
    ]:
        with pytest.raises(ValueError, match=message):
            CertifyPlan(**bad)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="n0 must be an int"):
        CertifyPlan(n0=1.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="known models"):
        run(CertifyPlan(model="resnet-9000"))
    assert tiny_zoo == []


def test_experiment_equals_the_evaluation_on_the_same_points(tiny_zoo: list[str]) -> None:
    from aisec.evaluate.certify import evaluate_smoothing
    from aisec.experiments import names
    from aisec.experiments.certify import CertifyPlan, run
    from aisec.stats import Rate

    plan = CertifyPlan(model="digits-cnn", n_points=10, data_seed=3, n0=20, n=100, seed=1)
    result = run(plan)
    task = names.load_task("digits-cnn", n=10, seed=3)
    # The experiment keys each point's noise by its index (it runs in shards).
    direct = evaluate_smoothing(
        task.model,
        task.x,
        task.y,
        sigma=0.25,
        n0=20,
        n=100,
        seed=1,
        name="digits-cnn",
        ids=torch.arange(10),
    )
    assert result.curve.certified_accuracy == direct.curve.certified_accuracy
    assert result.to_dict()["per_point"] == direct.to_dict()["per_point"]
    rows = result.rows()
    assert rows[0]["L2 radius"] == 0.0 and len(rows) == 6
    for row in rows:
        rate = row["certified accuracy"]
        assert isinstance(rate, Rate) and rate.total == 10 and 0.0 <= rate.value <= 1.0
    assert rows[0]["certified accuracy"].value == result.curve.clean_accuracy
