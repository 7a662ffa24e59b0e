from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from aisec.cli import app

runner = CliRunner()


def test_help_lists_the_commands() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("data", "models", "train", "tour"):
        assert command in result.output


def test_data_show_writes_a_png(tmp_path: Path) -> None:
    out = tmp_path / "signs.png"
    result = runner.invoke(app, ["data", "show", "signs", "--out", str(out), "--n", "16"])
    assert result.exit_code == 0, result.output
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_unknown_dataset_is_a_clear_error(tmp_path: Path) -> None:
    result = runner.invoke(app, ["data", "show", "imagenet", "--out", str(tmp_path / "x.png")])
    assert result.exit_code == 2
    assert "known datasets" in result.output
    assert not (tmp_path / "x.png").exists()


def test_unknown_model_is_a_clear_error() -> None:
    result = runner.invoke(app, ["train", "resnet-9000"])
    assert result.exit_code == 2 and "known models" in result.output


def test_models_and_data_list_print_tables() -> None:
    models = runner.invoke(app, ["models"])
    assert models.exit_code == 0 and "efficientnet-lite0" in models.output
    datasets = runner.invoke(app, ["data", "list"])
    assert datasets.exit_code == 0 and "imagenet_samples" in datasets.output


@pytest.mark.slow
def test_quick_tour_writes_report_and_results(tmp_path: Path) -> None:
    result = runner.invoke(app, ["tour", "--quick", "--only", "foundation", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["provenance"]["torch"]
    chapter = results["chapters"]["foundation"]
    assert chapter["status"] == "ok"
    assert 0.95 <= chapter["numbers"]["digits-cnn.clean_accuracy"] <= 1.0
    page = (tmp_path / "index.html").read_text()
    assert "data:image/png;base64," in page and "http://" not in page and "https://" not in page


def test_unknown_tour_chapter_is_a_clear_error(tmp_path: Path) -> None:
    out = tmp_path / "report"
    result = runner.invoke(app, ["tour", "--only", "nope", "--out", str(out)])
    assert result.exit_code == 2 and "known chapters" in result.output
    assert not out.exists()  # refused before the report folder was made
