"""tools/compare_tours.py: the before/after check of a refactoring on the tour's numbers."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType

_TOOL = Path(__file__).resolve().parents[1] / "tools" / "compare_tours.py"


def _tool() -> ModuleType:
    spec = importlib.util.spec_from_file_location("compare_tours", _TOOL)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _results(numbers: dict[str, object], seconds: float = 1.0) -> dict[str, object]:
    chapter = {"status": "ok", "numbers": numbers, "seconds": seconds}
    return {"provenance": {}, "chapters": {"evasion": chapter}}


def test_equal_numbers_pass_whatever_the_wall_times(tmp_path: Path) -> None:
    numbers = {"pgd": {"robust_accuracy": 0.25, "time_s": 3.0}, "n": 64}
    before, after = tmp_path / "a.json", tmp_path / "b.json"
    before.write_text(json.dumps(_results(numbers, 10.0)))
    later = {"pgd": {"robust_accuracy": 0.25, "time_s": 9.5}, "n": 64}
    after.write_text(json.dumps(_results(later, 99.0)))
    assert _tool().main([str(before), str(after)]) == 0


def test_a_changed_missing_or_new_number_is_reported(tmp_path: Path) -> None:
    tool = _tool()
    before = _results({"pgd": {"robust_accuracy": 0.25}, "n": 64, "gone": 1})
    after = _results({"pgd": {"robust_accuracy": 0.2500001}, "n": 64, "new": [1, 2]})
    lines = tool.compare(before, after)
    assert "evasion/pgd/robust_accuracy: 0.25 -> 0.2500001" in lines
    assert "evasion/gone: missing after" in lines
    assert any(line.startswith("evasion/new[0]") for line in lines)
    assert tool.compare(before, after, rtol=1e-3)[0].startswith("evasion/gone")
    assert tool.compare(_results({"x": 1}), _results({"x": True})) != []


def test_a_chapter_missing_after_is_a_difference() -> None:
    before = _results({"n": 64})
    after: dict[str, object] = {"provenance": {}, "chapters": {}}
    assert _tool().compare(before, after) == ["evasion: chapter missing after"]
