from __future__ import annotations

import json
from pathlib import Path

from aisec.report.tour import Chapter, ChapterContext, ChapterResult, Table, run_tour


def _fine(context: ChapterContext) -> ChapterResult:
    return ChapterResult(
        summary="fine", numbers={"x": 1.5}, tables=[Table("t", [{"a": 1, "b": 0.25}])]
    )


def _broken(context: ChapterContext) -> ChapterResult:
    raise RuntimeError("this chapter broke")


def test_a_failing_chapter_is_reported_and_the_others_still_run(tmp_path: Path) -> None:
    chapters = [
        Chapter("first", "First", _fine),
        Chapter("broken", "Broken", _broken),
        Chapter("last", "Last", _fine),
    ]
    result = run_tour(chapters, tmp_path, progress=False)
    assert result.failed == ["broken"]
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved["chapters"]["last"]["status"] == "ok"
    assert saved["chapters"]["last"]["numbers"] == {"x": 1.5}
    assert "this chapter broke" in saved["chapters"]["broken"]["error"]
    page = (tmp_path / "index.html").read_text()
    assert "This chapter failed" in page and "this chapter broke" in page
    assert page.count("<h2") == 3


def test_only_runs_the_named_chapters(tmp_path: Path) -> None:
    chapters = [Chapter("first", "First", _fine), Chapter("broken", "Broken", _broken)]
    result = run_tour(chapters, tmp_path, only=["first"], progress=False)
    assert list(result.chapters) == ["first"] and not result.failed
