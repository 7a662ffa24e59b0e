"""``aisec defend``: the table, metrics.json with its documented keys, and bad input."""

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

ROW_KEYS = {
    "name",
    "defenses",
    "differentiable",
    "randomized",
    "bpda",
    "eot_samples",
    "clean_accuracy",
    "undefended_clean_accuracy",
    "non_adaptive_accuracy",
    "adaptive_accuracy",
    "robust_accuracy",
    "transfer_attack",
    "stages",
    "naive_gradient_warnings",
    "warnings",
    "time_s",
}
SETTINGS = {"steps", "eot_samples", "square_queries", "seed", "transfer_attack", "adaptive_attacks"}


class _Pixels(nn.Module):
    """A fixed digits classifier: a seeded linear map of the 8×8 pixels (no training)."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(64, 10)
        generator = torch.Generator().manual_seed(0)
        with torch.no_grad():
            self.linear.weight.copy_(torch.randn(10, 64, generator=generator))
            self.linear.bias.zero_()

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


FAST = ["--n", "12", "--steps", "2", "--eot-samples", "2", "--square-queries", "0"]


def test_defend_writes_metrics(tiny_zoo: list[str], tmp_path: Path) -> None:
    args = ["defend", "--model", "digits-cnn", "--defense", "jpeg:75", "--defense"]
    args += ["bits:4+resize-pad:0.9", "--eps", "8/255", "--out", str(tmp_path), *FAST]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert tiny_zoo == ["digits-cnn"]
    assert "non-adaptive" in result.output and "jpeg:75" in result.output
    record = json.loads((tmp_path / "metrics.json").read_text())
    assert {"model", "threat", "n", "settings", "rows"} <= set(record)
    assert record["model"] == "digits-cnn" and record["n"] == 12
    assert record["threat"]["eps"] == pytest.approx(8 / 255)
    assert set(record["settings"]) >= SETTINGS
    assert [row["name"] for row in record["rows"]] == [
        "no defense",
        "jpeg:75",
        "bits:4+resize-pad:0.9",
    ]
    for row in record["rows"]:
        assert set(row) >= ROW_KEYS
        assert row["adaptive_accuracy"] <= row["non_adaptive_accuracy"] <= row["clean_accuracy"]
    stacked = record["rows"][2]
    assert stacked["defenses"] == ["bits:4", "resize-pad:0.9"]
    assert stacked["randomized"] and stacked["bpda"] and stacked["eot_samples"] == 2


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--defense", "gzip:3"], "unknown defense"),
        (["--defense", "jpeg:500"], "quality"),
        (["--eps", "8/0"], "divides by zero"),
        (["--norm", "l7"], "norm"),
        (["--n", "0"], "--n"),
        (["--eot-samples", "0"], "--eot-samples"),
        (["--square-queries", "-1"], "--square-queries"),
        (["--model", "no-such-model"], "no-such-model"),
    ],
)
def test_bad_input_exits_2(tiny_zoo: list[str], extra: list[str], message: str) -> None:
    result = runner.invoke(app, ["defend", "--model", "digits-cnn", *FAST, *extra])
    assert result.exit_code == 2, result.output
    assert "error" in result.output and message in result.output
    assert tiny_zoo == []  # failed before loading a model
