"""Atomic writes leave the old file or the new one, never half; output folders are checked early."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from aisec import files
from aisec.files import atomic_write_bytes, atomic_write_json, atomic_write_text, check_output_dir


def test_atomic_write_replaces_and_leaves_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "result.json"
    atomic_write_json(target, {"a": 1})
    atomic_write_json(target, {"a": 2})
    assert json.loads(target.read_text()) == {"a": 2}
    assert [p.name for p in tmp_path.iterdir()] == ["result.json"]


def test_atomic_write_gets_the_mode_of_a_plain_open(tmp_path: Path) -> None:
    previous = os.umask(0o027)
    try:
        atomic_write_text(tmp_path / "report.html", "<p>hi</p>")
        (tmp_path / "plain.html").write_text("<p>hi</p>")
    finally:
        os.umask(previous)
    mode = (tmp_path / "report.html").stat().st_mode & 0o777
    assert mode == (tmp_path / "plain.html").stat().st_mode & 0o777 == 0o640


def test_a_failed_write_keeps_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "data.bin"
    atomic_write_bytes(target, b"old")

    def crash(src: object, dst: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(files.os, "replace", crash)
    with pytest.raises(OSError, match="No space"):
        atomic_write_bytes(target, b"new")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["data.bin"]


def test_unserialisable_json_touches_nothing(tmp_path: Path) -> None:
    target = tmp_path / "r.json"
    with pytest.raises(TypeError):
        atomic_write_json(target, {"x": object()})
    assert not target.exists() and not list(tmp_path.iterdir())


def test_check_output_dir_creates_a_missing_folder(tmp_path: Path) -> None:
    folder = check_output_dir(tmp_path / "a" / "b")
    assert folder.is_dir() and not list(folder.iterdir())


@pytest.mark.parametrize(
    ("make_path", "message"),
    [
        (lambda tmp: tmp / "file.txt", "is a file"),
        (lambda tmp: Path("/proc/aisec-out"), "not a writable folder"),
        (lambda tmp: tmp / "file.txt" / "below", "not a writable folder"),
    ],
)
def test_check_output_dir_refuses_what_cannot_hold_results(
    tmp_path: Path, make_path: object, message: str
) -> None:
    (tmp_path / "file.txt").write_text("x")
    path = make_path(tmp_path)  # type: ignore[operator]
    with pytest.raises(ValueError, match=message) as caught:
        check_output_dir(path, what="--out")
    assert str(caught.value).startswith("--out ")
