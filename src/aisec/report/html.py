"""Render a :class:`~aisec.report.tour.TourResult` as one self-contained HTML page."""

from __future__ import annotations

import base64
import html
from pathlib import Path
from typing import Any

from aisec.report.format import format_value, restore_rows

__all__ = ["render_html"]

_STYLE = """
body{font-family:system-ui,sans-serif;max-width:70rem;margin:2rem auto;padding:0 1rem;
color:#1d1d1f;line-height:1.5}
h1{border-bottom:2px solid #c00;padding-bottom:.3rem}
h2{margin-top:2.5rem;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:1rem 0;font-size:.9rem}
th,td{border:1px solid #ccc;padding:.25rem .6rem;text-align:right}
th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}
figure{margin:1rem 0}figcaption{font-size:.85rem;color:#555}
img{max-width:100%;image-rendering:pixelated}
.failed{background:#fee;border:1px solid #c00;padding:.5rem 1rem}
.meta{font-size:.8rem;color:#666}pre{white-space:pre-wrap;font-size:.75rem}
"""


def _format(value: Any) -> str:
    return html.escape(format_value(value, interval=True))


def _table(caption: str, rows: list[dict[str, Any]]) -> str:
    if not rows:
        return ""
    rows = restore_rows(rows)
    keys = list(rows[0])
    head = "".join(f"<th>{html.escape(str(k))}</th>" for k in keys)
    body = "".join(
        "<tr>" + "".join(f"<td>{_format(row.get(k, ''))}</td>" for k in keys) + "</tr>"
        for row in rows
    )
    return f"<table><caption>{html.escape(caption)}</caption><tr>{head}</tr>{body}</table>"


def _figure(out_dir: Path, relative: str, caption: str) -> str:
    path = out_dir / relative
    if not path.exists():
        return f"<p class='failed'>missing figure {html.escape(relative)}</p>"
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return (
        f"<figure><img alt='{html.escape(caption)}' src='data:image/png;base64,{data}'>"
        f"<figcaption>{html.escape(caption)}</figcaption></figure>"
    )


def render_html(result: Any, out_dir: Path) -> str:
    """The report page: one section per chapter, figures embedded (no network use)."""
    sections = []
    for key, chapter in result.chapters.items():
        parts = [f"<h2 id='{html.escape(key)}'>{html.escape(chapter['title'])}</h2>"]
        parts.append(
            f"<p class='meta'>chapter <code>{html.escape(key)}</code>, {chapter['seconds']} s</p>"
        )
        if chapter["status"] != "ok":
            parts.append(
                f"<div class='failed'><p>This chapter failed: {html.escape(chapter['error'])}</p>"
                f"<pre>{html.escape(chapter.get('traceback', ''))}</pre></div>"
            )
        else:
            parts += [f"<p>{html.escape(p)}</p>" for p in chapter["summary"].split("\n\n") if p]
            parts += [_table(t["caption"], t["rows"]) for t in chapter["tables"]]
            parts += [_figure(out_dir, f["path"], f["caption"]) for f in chapter["figures"]]
        sections.append("\n".join(parts))
    prov = result.provenance
    meta = ", ".join(f"{html.escape(k)}: {html.escape(str(v))}" for k, v in prov.items())
    toc = " · ".join(
        f"<a href='#{html.escape(k)}'>{html.escape(c['title'])}</a>"
        for k, c in result.chapters.items()
    )
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>aisec tour</title><style>{_STYLE}</style></head><body>"
        "<h1>aisec tour</h1><p>Every number and figure on this page was produced by the code "
        "on this machine; <code>results.json</code> beside this page holds them all.</p>"
        f"<p class='meta'>{meta}</p><p>{toc}</p>" + "\n".join(sections) + "</body></html>"
    )
