"""``aisec exercise list|show|check``: the listing, the exit codes (0 pass, 1 fail, 2 bad input)
and the default solution path under the current folder."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from aisec.cli import app
from aisec.exercises import EXERCISES

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()


def test_list_shows_every_exercise_with_its_chapter() -> None:
    result = runner.invoke(app, ["exercise", "list"])
    assert result.exit_code == 0, result.output
    for exercise in EXERCISES:
        assert exercise.name in result.output
    assert "06" in result.output


def test_show_prints_the_task_and_the_signature() -> None:
    result = runner.invoke(app, ["exercise", "show", "certify-counts"])
    assert result.exit_code == 0, result.output
    assert "certify_from_counts(selection: Tensor" in result.output
    assert "docs/02-vision-defenses.md" in result.output


def test_check_passes_with_exit_code_0() -> None:
    solution = ROOT / "exercises" / "solutions" / "dlr_loss.py"
    result = runner.invoke(app, ["exercise", "check", "dlr_loss", "--solution", str(solution)])
    assert result.exit_code == 0, result.output
    assert "passed: all 8 checks hold" in result.output
    assert "✗" not in result.output


def test_check_of_the_blank_template_fails_with_exit_code_1(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "exercises").mkdir()
    shutil.copy(ROOT / "exercises" / "certify_counts.py", tmp_path / "exercises")
    monkeypatch.chdir(tmp_path)  # the default solution is exercises/NAME.py under the cwd
    result = runner.invoke(app, ["exercise", "check", "certify_counts"])
    assert result.exit_code == 1, result.output
    lines = result.output.strip().splitlines()
    assert lines[1].startswith("✗ ") and "is not implemented yet" in lines[1]
    assert lines[-1].startswith("failed: 1 of 1 checks")
    assert "Traceback" not in result.output


def test_each_failed_check_is_one_line(tmp_path: Path) -> None:
    solution = tmp_path / "dlr.py"
    solution.write_text(
        "def dlr_loss(logits, y):\n"
        "    return -logits.gather(1, y[:, None]).squeeze(1)\n\n"
        "def targeted_dlr_loss(logits, y, targets):\n"
        "    return logits[:, 0] * 0\n"
    )
    result = runner.invoke(app, ["exercise", "check", "dlr_loss", "--solution", str(solution)])
    assert result.exit_code == 1, result.output
    failed = [line for line in result.output.splitlines() if line.startswith("✗ ")]
    assert len(failed) >= 3
    assert any("dlr_loss raises ValueError with 2 classes" in line for line in failed)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["exercise", "check", "nope"], "unknown exercise 'nope'; known exercises: fgsm"),
        (["exercise", "show", "nope"], "unknown exercise 'nope'"),
        (["exercise", "check", "fgsm", "--solution", "{tmp}/missing.py"], "does not exist"),
        (["exercise", "check", "fgsm", "--solution", "{tmp}"], "is a folder"),
    ],
)
def test_bad_input_is_one_line_and_exit_code_2(
    tmp_path: Path, args: list[str], message: str
) -> None:
    result = runner.invoke(app, [a.replace("{tmp}", str(tmp_path)) for a in args])
    assert result.exit_code == 2, result.output
    (line,) = result.output.strip().splitlines()
    assert line.startswith("error: ") and message in line


def test_the_default_solution_path_is_checked_before_any_work(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["exercise", "check", "fgsm"])
    assert result.exit_code == 2
    assert "solution file 'exercises/fgsm.py' does not exist" in result.output
