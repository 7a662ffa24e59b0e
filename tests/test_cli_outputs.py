"""What the commands write: atomically (never half a file), after checking ``--out`` up front.

The report writers render into memory and replace the target in one rename
(:mod:`aisec.files`): when the write fails, the previous file is intact and no temporary file
is left behind. The command line prints its errors as one line, whatever they contain.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch
from rich.console import Console
from torch import Tensor, nn
from typer.testing import CliRunner

import aisec.cli._common
import aisec.experiments.names
import aisec.files
from aisec.attacks.physical._common import save_rgba_png
from aisec.cli import app
from aisec.evaluate.certify import evaluate_smoothing
from aisec.report.certify import write_smoothing_outputs
from aisec.report.figures import save_image_grid

runner = CliRunner()

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _fail_renames(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the final rename of every atomic write fail (a full disk, a vanished folder)."""

    def refuse(source: object, target: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(aisec.files.os, "replace", refuse)


def _names(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir())


def test_figures_are_written_atomically(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "grid.png"
    save_image_grid(torch.rand(4, 3, 8, 8), target)
    first = target.read_bytes()
    assert first[:8] == PNG_MAGIC and _names(tmp_path) == ["grid.png"]
    _fail_renames(monkeypatch)
    with pytest.raises(OSError, match="No space left"):
        save_image_grid(torch.rand(2, 1, 8, 8), target)
    assert target.read_bytes() == first  # the old figure, whole
    assert _names(tmp_path) == ["grid.png"]  # no temporary file left


def test_stickers_are_written_atomically(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "sticker.png"
    save_rgba_png(torch.rand(3, 16, 16), torch.ones(1, 16, 16), target)
    first = target.read_bytes()
    assert first[:8] == PNG_MAGIC
    _fail_renames(monkeypatch)
    with pytest.raises(OSError):
        save_rgba_png(torch.zeros(3, 16, 16), torch.ones(1, 16, 16), target)
    assert target.read_bytes() == first and _names(tmp_path) == ["sticker.png"]


class _Pixels(nn.Module):
    """A tiny fixed digits classifier (no training)."""

    def __init__(self) -> None:
        super().__init__()
        generator = torch.Generator().manual_seed(0)
        self.weight = nn.Parameter(torch.randn(10, 64, generator=generator))

    def forward(self, x: Tensor) -> Tensor:
        return x.flatten(1) @ self.weight.T


def test_certify_outputs_are_written_atomically(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    x, y = torch.rand(3, 1, 8, 8), torch.tensor([0, 1, 2])
    evaluation = evaluate_smoothing(_Pixels(), x, y, sigma=0.25, n0=4, n=16, predict=False)
    paths = write_smoothing_outputs(evaluation, tmp_path)
    metrics = paths["metrics"].read_text()
    assert json.loads(metrics)["settings"]["n"] == 16 and metrics.endswith("\n")
    _fail_renames(monkeypatch)
    with pytest.raises(OSError):
        write_smoothing_outputs(evaluation, tmp_path)
    assert paths["metrics"].read_text() == metrics
    assert _names(tmp_path) == ["certified_accuracy.png", "metrics.json"]


@pytest.fixture
def tiny_zoo(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(aisec.experiments.names, "zoo_model", lambda name: _Pixels().eval())


@pytest.mark.usefixtures("tiny_zoo")
def test_attack_writes_its_files_into_a_new_folder(tmp_path: Path) -> None:
    out = tmp_path / "new" / "folder"
    args = ["attack", "--model", "digits-cnn", "--n", "8", "--steps", "2", "--eps", "0.1"]
    result = runner.invoke(app, [*args, "--out", str(out)])
    assert result.exit_code == 0, result.output
    # The finished shards stay under shards/, so that a rerun resumes.
    assert _names(out) == ["attack.json", "attack.png", "shards"]
    assert json.loads((out / "attack.json").read_text())["n"] == 8


@pytest.mark.usefixtures("tiny_zoo")
def test_a_model_with_nan_outputs_is_an_error_not_a_number(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    class _NaN(_Pixels):
        def forward(self, x: Tensor) -> Tensor:
            logits = super().forward(x)
            return logits + torch.where(x.flatten(1)[:, :1] >= 0, float("nan"), 0.0)

    monkeypatch.setattr(aisec.experiments.names, "zoo_model", lambda name: _NaN().eval())
    out = tmp_path / "out"
    args = ["attack", "--model", "digits-cnn", "--n", "4", "--steps", "2", "--out", str(out)]
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert "NaN or infinite logits" in result.output and "Traceback" not in result.output
    assert _names(out) == []


def test_errors_are_one_line_with_their_brackets(monkeypatch: pytest.MonkeyPatch) -> None:
    console = Console(width=40, record=True)
    monkeypatch.setattr(aisec.cli._common, "console", console)
    message = "use an eps in [0, 1]; [bold]x[/bold] is not markup\nand a second line " * 2
    exit_ = aisec.cli._common.fail(ValueError(message))
    assert exit_.exit_code == 2
    lines = console.export_text().strip().splitlines()
    assert len(lines) == 1
    assert lines[0] == "error: " + " ".join(message.split())


def test_out_of_the_file_commands_may_not_be_a_folder(tmp_path: Path) -> None:
    from aisec.cli._common import check_out_file

    assert check_out_file(tmp_path / "a" / "b.png") == tmp_path / "a" / "b.png"
    assert (tmp_path / "a").is_dir()
    with pytest.raises(ValueError, match="is a folder; expected a file path"):
        check_out_file(tmp_path)
    assert os.access(tmp_path / "a", os.W_OK)
