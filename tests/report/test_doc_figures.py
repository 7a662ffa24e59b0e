"""The docs show the tour's figures from docs/figures/, and make docs keeps exactly those there."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from PIL import Image

from aisec.report.doc_figures import DOC_FIGURES, MAX_TOTAL_BYTES, copy_doc_figures, main

ROOT = Path(__file__).resolve().parents[2]
FIGURES = ROOT / "docs" / "figures"
LINK = re.compile(r"!\[[^\]]*\]\((?P<target>[^)\s]+)\)")


def _links() -> dict[str, list[str]]:
    """Image link target -> the docs that link it (README and docs/*.md)."""
    out: dict[str, list[str]] = {}
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for match in LINK.finditer(path.read_text("utf-8")):
            target = (path.parent / match.group("target")).resolve()
            out.setdefault(str(target), []).append(path.name)
    return out


def test_every_image_the_docs_show_is_committed_and_every_committed_figure_is_shown() -> None:
    links = _links()
    for target, docs in links.items():
        assert Path(target).is_file(), f"{docs} show {target}, which is not in the repository"
    committed = {path.name for path in FIGURES.glob("*.png")}
    assert committed == set(DOC_FIGURES), "docs/figures must hold exactly DOC_FIGURES: make docs"
    for name in committed:
        assert str((FIGURES / name).resolve()) in links, f"no doc shows docs/figures/{name}"
    assert sum((FIGURES / name).stat().st_size for name in committed) <= MAX_TOTAL_BYTES


def _fake_report(root: Path) -> Path:
    for source in DOC_FIGURES.values():
        path = root / source
        path.parent.mkdir(parents=True, exist_ok=True)
        image = Image.new("RGBA", (120, 60), (0, 0, 0, 0))
        image.paste((200, 30, 30, 255), (10, 10, 60, 50))
        image.save(path)
    return root


def test_copy_writes_palette_pngs_on_white_and_removes_stale_files(tmp_path: Path) -> None:
    report = _fake_report(tmp_path / "report")
    docs = tmp_path / "docs"
    (docs / "figures").mkdir(parents=True)
    (docs / "figures" / "old-figure.png").write_bytes(b"stale")
    written = copy_doc_figures(report, docs)
    assert [path.name for path in written] == list(DOC_FIGURES)
    assert {path.name for path in (docs / "figures").iterdir()} == set(DOC_FIGURES)
    with Image.open(written[0]) as image:
        assert image.mode == "P"
        rgb = image.convert("RGB")
        assert rgb.getpixel((0, 0)) == (255, 255, 255)  # transparency became white
        assert rgb.getpixel((30, 30)) == (200, 30, 30)


def test_a_missing_figure_is_refused_before_anything_is_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report = _fake_report(tmp_path / "report")
    (report / DOC_FIGURES["poisoning-sweep.png"]).unlink()
    docs = tmp_path / "docs"
    with pytest.raises(ValueError, match=r"poisoning-sweep\.png: run the full tour"):
        copy_doc_figures(report, docs)
    assert not (docs / "figures").exists()
    assert main(["--report", str(report), "--docs", str(docs)]) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("error: ") and "\n" not in error


def test_figures_over_the_size_budget_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    report = _fake_report(tmp_path / "report")
    monkeypatch.setattr("aisec.report.doc_figures.MAX_TOTAL_BYTES", 10)
    with pytest.raises(ValueError, match="more than 10"):
        copy_doc_figures(report, tmp_path / "docs")
