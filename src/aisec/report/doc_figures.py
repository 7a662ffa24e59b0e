"""The tour's figures that the docs show, committed beside them in ``docs/figures/``.

A reader of the repository sees the curves without running anything: ``make docs`` copies the
figures of :data:`DOC_FIGURES` from the last tour's report into ``docs/figures/``, re-encoded as
palette PNGs (white background, at most 128 colours) so that all of them stay within
:data:`MAX_TOTAL_BYTES`. Files in ``docs/figures/`` that the list does not name are removed, so
the folder holds exactly what the docs may link.

Command line::

    python -m aisec.report.doc_figures --report report --docs docs
"""

from __future__ import annotations

import argparse
import io
import sys
from collections.abc import Sequence
from pathlib import Path

from aisec.files import atomic_write_bytes

__all__ = ["DOC_FIGURES", "MAX_TOTAL_BYTES", "compact_png", "copy_doc_figures", "main"]

DOC_FIGURES: dict[str, str] = {
    "evasion-robust-accuracy.png": "figures/evasion-robust-accuracy.png",
    "physical-signs.png": "figures/physical/signs.png",
    "physical-views.png": "figures/physical/views.png",
    "defenses-defense-table.png": "figures/defenses-defense-table.png",
    "defenses-certified-accuracy.png": "figures/defenses-certified-accuracy.png",
    "poisoning-badnets-test.png": "figures/poisoning-badnets-test.png",
    "poisoning-sweep.png": "figures/poisoning-sweep.png",
    "genai-detection-vs-length.png": "figures/genai-detection-vs-length.png",
    "genai-robustness.png": "figures/genai-robustness.png",
    "llm_poisoning-poison-counts.png": "figures/llm_poisoning-poison-counts.png",
}
"""Name in ``docs/figures/`` -> path of the figure in the full tour's report directory."""

MAX_TOTAL_BYTES = 700_000
"""The committed figures together stay below this size."""

_COLOURS = 128


def compact_png(source: Path) -> bytes:
    """``source`` as a palette PNG on a white background (at most 128 colours), optimised."""
    from PIL import Image

    with Image.open(source) as image:
        rgba = image.convert("RGBA")
    background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    flat = Image.alpha_composite(background, rgba).convert("RGB")
    palette = flat.quantize(colors=_COLOURS, method=Image.Quantize.MEDIANCUT)
    buffer = io.BytesIO()
    palette.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def copy_doc_figures(report_dir: str | Path, docs_dir: str | Path) -> list[Path]:
    """Write :data:`DOC_FIGURES` from ``report_dir`` into ``docs_dir/figures``.

    Args:
        report_dir: a full tour's report directory (``make tour`` writes ``report/``).
        docs_dir: the docs directory; its ``figures/`` is created and made to hold exactly
            the listed figures.

    Returns:
        The written paths, in the order of :data:`DOC_FIGURES`.

    Raises:
        ValueError: a listed figure is missing from the report (checked before anything is
            written; a quick tour does not draw them all), or the figures together exceed
            :data:`MAX_TOTAL_BYTES`.
    """
    report, target = Path(report_dir), Path(docs_dir) / "figures"
    missing = [source for source in DOC_FIGURES.values() if not (report / source).is_file()]
    if missing:
        raise ValueError(
            f"{report} lacks {', '.join(missing)}: run the full tour (make tour) first"
        )
    encoded = {name: compact_png(report / source) for name, source in DOC_FIGURES.items()}
    total = sum(len(data) for data in encoded.values())
    if total > MAX_TOTAL_BYTES:
        raise ValueError(
            f"the docs' figures take {total:,} bytes, more than {MAX_TOTAL_BYTES:,}: "
            "drop one from DOC_FIGURES or draw it smaller"
        )
    target.mkdir(parents=True, exist_ok=True)
    written = []
    for name, data in encoded.items():
        path = target / name
        atomic_write_bytes(path, data)
        written.append(path)
    for stale in target.iterdir():
        if stale.name not in DOC_FIGURES:
            stale.unlink()
    return written


def main(argv: Sequence[str] | None = None) -> int:
    """``--report DIR --docs DIR``: copy the figures; exit 2 with one line when it cannot."""
    parser = argparse.ArgumentParser(
        prog="python -m aisec.report.doc_figures",
        description="Copy the tour's figures that the docs show into DOCS/figures.",
    )
    parser.add_argument("--report", default="report", help="the tour's report directory")
    parser.add_argument("--docs", default="docs", help="the docs directory")
    args = parser.parse_args(argv)
    try:
        written = copy_doc_figures(args.report, args.docs)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    total = sum(path.stat().st_size for path in written)
    print(f"{len(written)} figures, {total:,} bytes, in {Path(args.docs) / 'figures'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
