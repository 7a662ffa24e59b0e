"""Reports: the tour's chapters, its JSON results and the HTML page with figures."""

from __future__ import annotations

from aisec.report.tour import Chapter, ChapterContext, ChapterResult, TourResult, run_tour

__all__ = ["Chapter", "ChapterContext", "ChapterResult", "TourResult", "run_tour"]
