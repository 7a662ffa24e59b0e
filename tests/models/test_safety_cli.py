"""``aisec scan``: exit 0 when every file is safe, 1 when one is not (a line per finding), 2 for
bad input. The command module is imported here; the package's command list is not needed."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from safety_corpus import SENTINEL_NAME, samples
from typer.testing import CliRunner, Result

import aisec.cli.scan  # noqa: F401  (registers the command)
from aisec.cli._common import app

_BY_NAME = {sample.name: sample for sample in samples()}


def _write(folder: Path, *names: str) -> list[Path]:
    sentinel = str(folder / SENTINEL_NAME)
    for name in names:
        _BY_NAME[name].write(folder / name, sentinel)
    return [folder / name for name in names]


def _scan(*args: object) -> Result:
    return CliRunner().invoke(app, ["scan", *map(str, args)], env={"COLUMNS": "200"})


def test_safe_files_exit_0(tmp_path: Path) -> None:
    files = _write(tmp_path, "adamw.pt", "chatml.gguf")
    result = _scan(*files)
    assert result.exit_code == 0, result.output
    assert "2 safe, 0 unsafe" in result.output
    assert f"{files[0]} | safe (zip, torch-zip, pickle)" in result.output


def test_an_unsafe_file_exits_1_with_one_line_per_finding(tmp_path: Path) -> None:
    files = _write(tmp_path, "pytorch_model.bin", "chain_resolve_name.pkl", "lambda.keras")
    result = _scan(*files)
    assert result.exit_code == 1, result.output
    lines = result.output.splitlines()
    assert (
        f"{files[1]} | pickle | pkgutil.resolve_name | imports a global that is not on the "
        "allow-list" in lines
    )
    assert any(line.startswith(f"{files[2]} | config.json: ") and "| keras.layers.Lambda |" in line
               for line in lines)  # fmt: skip
    assert "1 safe, 2 unsafe" in result.output
    assert not (tmp_path / SENTINEL_NAME).exists()


def test_the_json_report(tmp_path: Path) -> None:
    files = _write(tmp_path, "gadget_exec.pkl")
    result = _scan(*files, "--json", tmp_path / "out" / "report.json")
    assert result.exit_code == 1
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["verdict"] == "unsafe"
    assert report["files"][0]["findings"][0]["global"] == "builtins.exec"


def test_a_folder_is_walked(tmp_path: Path) -> None:
    _write(tmp_path, "resnet18.pth")
    (tmp_path / "README.md").write_text("# weights\n")
    result = _scan(tmp_path)
    assert result.exit_code == 0, result.output
    assert "1 file(s) scanned: 1 safe, 0 unsafe; 1 skipped" in result.output


@pytest.mark.parametrize("case", ["missing", "empty-folder", "nothing-scannable", "json-dir"])
def test_bad_input_exits_2(tmp_path: Path, case: str) -> None:
    (tmp_path / "folder").mkdir()
    args: list[object] = {
        "missing": [tmp_path / "missing.pt"],
        "empty-folder": [tmp_path / "folder"],
        "nothing-scannable": [tmp_path / "folder"],
        "json-dir": [*_write(tmp_path, "half.pt"), "--json", tmp_path / "folder"],
    }[case]
    if case == "nothing-scannable":
        (tmp_path / "folder" / "notes.txt").write_text("plain notes\n")
    result = _scan(*args)
    assert result.exit_code == 2, result.output
    assert result.output.startswith("error:")
    assert os.listdir(tmp_path / "folder") in ([], ["notes.txt"])


def test_the_command_is_registered_once() -> None:
    names = [command.name for command in app.registered_commands]
    assert names.count("scan") == 1
