"""The tutorial tour with its chapters: what ``aisec tour`` and ``make tour`` run."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from aisec.report.chapters import CHAPTERS
from aisec.report.tour import TourResult, run_tour

__all__ = ["check_chapters", "run_tutorial"]


def check_chapters(only: Sequence[str] | None) -> None:
    """``ValueError`` listing the known chapters for any unknown key in ``only``."""
    known = [chapter.key for chapter in CHAPTERS]
    unknown = [key for key in only or () if key not in known]
    if unknown:
        raise ValueError(f"unknown chapter(s) {unknown}; known chapters: {known}")


def run_tutorial(
    out_dir: str | Path,
    *,
    only: Sequence[str] | None = None,
    quick: bool = False,
    seed: int = 0,
    progress: bool = True,
    on_chapter: Callable[[str, dict[str, Any]], None] | None = None,
    reuse: bool = False,
) -> TourResult:
    """Run the tour's chapters (see :func:`aisec.report.tour.run_tour` for the arguments)."""
    return run_tour(
        CHAPTERS,
        out_dir,
        only=only,
        quick=quick,
        seed=seed,
        progress=progress,
        on_chapter=on_chapter,
        reuse=reuse,
    )
