"""``aisec physical``: metrics.json with the documented keys, exit code 2 on bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from torch import nn
from typer.testing import CliRunner

import aisec.experiments.names
from aisec.cli import app

runner = CliRunner()


def test_physical_writes_metrics_and_the_sticker(
    signs_model: nn.Module, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The zoo's signs-cnn takes minutes to train; the command is the same with the test model.
    # Patch the experiments' one seam for models by name: patching ``aisec.zoo.load`` would
    # leak into every module that imports it by name while the patch is active.
    monkeypatch.setattr(aisec.experiments.names, "zoo_model", lambda name: signs_model)
    out = tmp_path / "run"
    arguments = ["physical", "--out", str(out), "--steps", "3", "--conditions", "10", "--no-patch"]
    result = runner.invoke(app, arguments)
    assert result.exit_code == 0, result.output
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["n_conditions"] == 10
    for variant in ("clean", "rp2", "control"):
        assert {"targeted_success", "source_accuracy"} <= set(metrics[variant])
    for name in ("sticker.png", "signs.png", "views.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--target", "speed limit 31"], "unknown sign class"),
        (["--target", "stop"], "target must differ from the source"),
        (["--source", "stp"], "unknown sign class"),
        (["--mask", "missing.png"], "mask must be a built-in shape"),
        (["--conditions", "0"], "n_conditions must be >= 1"),
    ],
)
def test_bad_input_exits_with_code_2(arguments: list[str], message: str, tmp_path: Path) -> None:
    result = runner.invoke(app, ["physical", "--out", str(tmp_path / "x"), *arguments])
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.output.split())
    assert not (tmp_path / "x" / "metrics.json").exists()


def test_physical_on_your_own_signs_classifier(
    signs_model: nn.Module, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``--model torchscript:FILE``: the user's classifier is the victim, not the zoo's."""
    import torch

    from aisec.data.signs import SIGN_CLASSES

    def refuse(name: str) -> nn.Module:
        raise AssertionError(f"the zoo model {name} was loaded instead of the user's")

    monkeypatch.setattr(aisec.experiments.names, "zoo_model", refuse)
    traced = torch.jit.trace(signs_model.eval(), torch.rand(2, 3, 32, 32))
    torch.jit.save(traced, str(tmp_path / "signs.pt"))
    out = tmp_path / "run"
    arguments = ["physical", "--out", str(out), "--steps", "2", "--conditions", "6", "--no-patch"]
    arguments += ["--model", f"torchscript:{tmp_path / 'signs.pt'}", "--input-size", "32"]
    result = runner.invoke(app, [*arguments, "--class-names", ",".join(SIGN_CLASSES)])
    assert result.exit_code == 0, result.output
    assert json.loads((out / "metrics.json").read_text())["n_conditions"] == 6
    out.rename(tmp_path / "first")
    wrong = runner.invoke(app, [*arguments, "--class-names", ",".join(reversed(SIGN_CLASSES))])
    assert wrong.exit_code == 2 and "not the sign classes" in wrong.output
    assert not out.exists()  # refused before --out was made
