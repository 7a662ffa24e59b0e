from __future__ import annotations

import json
from pathlib import Path

import pytest

from aisec.report.tour import Chapter, ChapterContext, ChapterResult, Figure, Table, run_tour


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


def _short_of_a_target(context: ChapterContext) -> ChapterResult:
    return ChapterResult(
        summary="measured",
        targets_checked=2,
        targets_not_reached=["accuracy >= 90%: measured 70.0% of 50"],
    )


def test_results_carry_the_targets_each_chapter_checked_and_missed(tmp_path: Path) -> None:
    chapters = [Chapter("short", "Short", _short_of_a_target), Chapter("first", "First", _fine)]
    run_tour(chapters, tmp_path, progress=False)
    saved = json.loads((tmp_path / "results.json").read_text())["chapters"]
    assert saved["short"]["targets"] == {
        "checked": 2,
        "not_reached": ["accuracy >= 90%: measured 70.0% of 50"],
    }
    assert saved["first"]["targets"] == {"checked": 0, "not_reached": []}


def test_only_runs_the_named_chapters(tmp_path: Path) -> None:
    chapters = [Chapter("first", "First", _fine), Chapter("broken", "Broken", _broken)]
    result = run_tour(chapters, tmp_path, only=["first"], progress=False)
    assert list(result.chapters) == ["first"] and not result.failed


class _Counting:
    """A chapter that counts its runs and writes a figure and a side file."""

    def __init__(self, key: str) -> None:
        self.key = key
        self.runs = 0

    def __call__(self, context: ChapterContext) -> ChapterResult:
        self.runs += 1
        path, relative = context.figure_path(self.key, "plot.png")
        path.write_bytes(b"\x89PNG fake " + bytes([self.runs]))
        side = context.out_dir / "figures" / self.key / "scenario.json"
        side.parent.mkdir(parents=True, exist_ok=True)
        side.write_text(json.dumps({"run": self.runs}))
        figures = [Figure(relative, "a plot")]
        return ChapterResult(summary="counted", numbers={"runs": self.runs}, figures=figures)


def test_reuse_skips_unchanged_chapters_and_restores_their_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AISEC_CACHE", str(tmp_path / "cache"))
    counting = _Counting("counted")
    chapters = [Chapter("counted", "Counted", counting), Chapter("broken", "Broken", _broken)]
    first = run_tour(chapters, tmp_path / "a", progress=False, reuse=True)
    assert counting.runs == 1 and "reused" not in first.chapters["counted"]

    second = run_tour(chapters, tmp_path / "b", progress=False, reuse=True)
    assert counting.runs == 1  # not run again
    assert second.chapters["counted"]["reused"] is True
    assert second.chapters["counted"]["numbers"] == {"runs": 1}
    for relative in ("figures/counted-plot.png", "figures/counted/scenario.json"):
        assert (tmp_path / "b" / relative).read_bytes() == (tmp_path / "a" / relative).read_bytes()
    # A failed chapter is never stored: it runs (and fails) every time.
    assert second.chapters["broken"]["status"] == "failed"

    # Other settings miss the stored results; so does reuse=False.
    run_tour(chapters, tmp_path / "c", progress=False, reuse=True, seed=1)
    run_tour(chapters, tmp_path / "d", progress=False, reuse=False)
    assert counting.runs == 3


def test_changed_source_changes_the_fingerprint(monkeypatch: pytest.MonkeyPatch) -> None:
    from aisec.report import reuse

    before = reuse.chapter_fingerprint("x", quick=True, seed=0)
    assert before == reuse.chapter_fingerprint("x", quick=True, seed=0)
    assert before != reuse.chapter_fingerprint("x", quick=False, seed=0)
    assert before != reuse.chapter_fingerprint("y", quick=True, seed=0)
    monkeypatch.setattr(reuse, "source_digest", lambda: "edited")
    assert before != reuse.chapter_fingerprint("x", quick=True, seed=0)
