"""The docs' numbers come from results.json: the marker rewrite, and the committed docs in sync."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from aisec.report.docs import (
    MARKER,
    format_value,
    load_results,
    lookup,
    main,
    rewrite_markdown,
    sync_includes,
)

ROOT = Path(__file__).resolve().parents[2]
DOCS = [
    ROOT / "README.md",
    ROOT / "benchmarks" / "README.md",
    *sorted((ROOT / "docs").glob("*.md")),
]

RESULTS: dict[str, Any] = {
    "provenance": {"quick": True},
    "chapters": {
        "evasion": {
            "status": "ok",
            "seconds": 41.7,
            "numbers": {
                "clean_accuracy": 0.96875,
                "sweep": {"PGD.linf.8/255": {"robust_accuracy": 0.125}},
                "cw.median_min_norm": None,
                "lengths": [10, 20, 40],
            },
        },
        "genai": {"status": "failed", "error": "RuntimeError: no model", "numbers": {}},
    },
}


@pytest.mark.parametrize(
    ("value", "fmt", "expected"),
    [
        (0.96875, "pct", "96.9%"),
        (1, "pct", "100.0%"),
        (3.14159, "f2", "3.14"),
        (3.14159, "f3", "3.142"),
        (199.6, "int", "200"),
        (41.7, "s", "42 s"),
        (None, "pct", "n/a"),
        (float("nan"), "f2", "n/a"),
        ("yankee critics sucks", "str", "yankee critics sucks"),
        (None, "str", "n/a"),
    ],
)
def test_format_value(value: Any, fmt: str, expected: str) -> None:
    assert format_value(value, fmt) == expected


def test_format_value_rejects_bad_formats_and_non_numbers() -> None:
    with pytest.raises(ValueError, match="unknown format"):
        format_value(0.5, "percent")
    with pytest.raises(TypeError, match="expected a number"):
        format_value({"a": 1}, "f2")
    with pytest.raises(TypeError, match="expected a number"):
        format_value(True, "int")
    with pytest.raises(TypeError, match="expects a string"):
        format_value(0.5, "str")
    with pytest.raises(ValueError, match="Markdown"):
        format_value("<b>x</b>", "str")


def test_lookup_exact_nested_list_and_chapter_fields() -> None:
    assert lookup(RESULTS, "evasion/clean_accuracy") == 0.96875
    assert lookup(RESULTS, "evasion/sweep/PGD.linf.8/255/robust_accuracy") == 0.125
    assert lookup(RESULTS, "evasion/lengths/-1") == 40
    assert lookup(RESULTS, "evasion/seconds") == 41.7
    for key, message in [
        ("evasion/sweep/PGD.linf.4/255/robust_accuracy", "no number"),
        ("evasion/lengths/7", "no number"),
        ("physical/clean.source_accuracy", "no chapter"),
        ("genai/anything", "failed"),
        ("evasion", "CHAPTER/NUMBER_KEY"),
    ]:
        with pytest.raises(KeyError, match=message):
            lookup(RESULTS, key)


def test_rewrite_fixes_stale_values_and_reports_unknown_keys() -> None:
    text = (
        "Clean: <!-- r:evasion/clean_accuracy:pct -->50.0%<!-- /r -->.\n"
        "Robust: <!-- r:evasion/sweep/PGD.linf.8/255/robust_accuracy:pct -->12.5%<!-- /r -->\n"
        "Typo: <!-- r:evasion/clean_acuracy:pct -->1%<!-- /r -->, "
        "bad format <!-- r:evasion/clean_accuracy:percent -->x<!-- /r -->\n"
        "Norm: <!-- r:evasion/cw.median_min_norm:f2 -->0.33<!-- /r -->\n"
    )
    new, problems = rewrite_markdown(text, RESULTS, path="x.md")
    assert "Clean: <!-- r:evasion/clean_accuracy:pct -->96.9%<!-- /r -->." in new
    assert "8/255/robust_accuracy:pct -->12.5%<!-- /r -->" in new
    assert "Norm: <!-- r:evasion/cw.median_min_norm:f2 -->n/a<!-- /r -->" in new
    assert "<!-- r:evasion/clean_acuracy:pct -->1%<!-- /r -->" in new  # left as it was
    found = {(p.kind, p.line, p.spec) for p in problems}
    assert found == {
        ("stale", 1, "evasion/clean_accuracy:pct"),
        ("unknown", 3, "evasion/clean_acuracy:pct"),
        ("unknown", 3, "evasion/clean_accuracy:percent"),
        ("stale", 4, "evasion/cw.median_min_norm:f2"),
    }
    again, problems = rewrite_markdown(new, RESULTS)
    assert again == new and {p.kind for p in problems} == {"unknown"}


def test_markers_in_code_blocks_are_examples() -> None:
    text = "```text\n<!-- r:CHAPTER/KEY:pct -->x<!-- /r -->\n```\n"
    assert rewrite_markdown(text, RESULTS) == (text, [])
    inline = "Write `<!-- r:CHAPTER/KEY:pct -->VALUE<!-- /r -->` and "
    live = "<!-- r:evasion/clean_accuracy:pct -->x<!-- /r -->"
    new, problems = rewrite_markdown(inline + live, RESULTS)
    assert new == inline + "<!-- r:evasion/clean_accuracy:pct -->96.9%<!-- /r -->"
    assert [p.kind for p in problems] == ["stale"]


def test_command_line_check_and_rewrite(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import json

    results = tmp_path / "results.json"
    results.write_text(json.dumps(RESULTS))
    page = tmp_path / "page.md"
    page.write_text("a <!-- r:evasion/clean_accuracy:f2 -->0.10<!-- /r --> b\n")
    assert main(["--results", str(results), "--check", str(page)]) == 1
    assert "stale" in capsys.readouterr().err
    assert "0.10" in page.read_text()  # --check changes nothing
    assert main(["--results", str(results), str(page)]) == 0
    assert page.read_text() == "a <!-- r:evasion/clean_accuracy:f2 -->0.97<!-- /r --> b\n"
    assert main(["--results", str(results), "--check", str(page)]) == 0
    page.write_text("<!-- r:evasion/nothing:f2 -->0<!-- /r -->\n")
    assert main(["--results", str(results), str(page)]) == 1
    assert "unknown" in capsys.readouterr().err
    assert main(["--results", str(tmp_path / "missing.json"), str(page)]) == 2


def test_readme_and_docs_are_in_sync_with_the_committed_results() -> None:
    results = load_results(ROOT / "docs" / "results.json")
    markers = 0
    problems = []
    for path in DOCS:
        text = path.read_text(encoding="utf-8")
        markers += len(MARKER.findall(text))
        problems += rewrite_markdown(text, results, path=str(path.relative_to(ROOT)))[1]
        problems += sync_includes(text, path.parent, path=str(path.relative_to(ROOT)))[1]
    assert markers >= 20, "the README and docs should show measured numbers through markers"
    assert not problems, "run `make docs` (or python -m aisec.report.docs):\n" + "\n".join(
        map(str, problems)
    )


SOURCE = """# Bench

intro

## PGD: 20 steps

| a | b |
|---|---|
| 1 | 2 |

### Per step

| c |
|---|

## APGD

other
"""


def test_include_quotes_a_section_with_its_subsections(tmp_path: Path) -> None:
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "bench.md").write_text(SOURCE)
    doc = "Before\n<!-- include:results/bench.md#PGD -->\nold\n<!-- /include -->\nAfter\n"
    new, problems = sync_includes(doc, tmp_path, path="doc.md")
    assert [p.kind for p in problems] == ["stale"]
    assert "| 1 | 2 |" in new and "### Per step" in new and "APGD" not in new and "old" not in new
    assert new.startswith("Before\n") and new.endswith("<!-- /include -->\nAfter\n")
    assert sync_includes(new, tmp_path) == (new, [])  # in sync: nothing to do


def test_include_of_a_missing_file_or_heading_is_reported(tmp_path: Path) -> None:
    (tmp_path / "bench.md").write_text(SOURCE)
    for spec in ("missing.md#PGD", "bench.md#FGSM"):
        doc = f"<!-- include:{spec} -->\nkept\n<!-- /include -->\n"
        new, problems = sync_includes(doc, tmp_path)
        assert new == doc and [p.kind for p in problems] == ["unknown"]


_RATES: dict[str, Any] = {
    "chapters": {
        "evasion": {
            "status": "ok",
            "numbers": {
                "suite": {"robust_accuracy": 0.09375, "n": 64, "half": 0.5, "odd": 0.3},
                "clean": {"rate": 45 / 64, "count": 45, "n": 64, "ci95": [0.58, 0.80]},
                "empty": {"rate": None, "count": 0, "n": 0},
            },
        }
    }
}


def test_rate_shows_the_wilson_interval_and_the_sample_size() -> None:
    text = (
        "A <!-- r:evasion/clean:rate -->?<!-- /r -->, "
        "B <!-- r:evasion/suite/robust_accuracy:rate@evasion/suite/n -->?<!-- /r -->, "
        "C <!-- r:evasion/empty:rate -->?<!-- /r -->"
    )
    new, problems = rewrite_markdown(text, _RATES)
    # 45/64 and 6/64: the Wilson score interval, not the normal approximation.
    assert "A <!-- r:evasion/clean:rate -->70.3% [58.2–80.1%] of 64<!-- /r -->" in new
    assert "-->9.4% [4.4–19.0%] of 64<!-- /r -->" in new
    assert "C <!-- r:evasion/empty:rate -->n/a of 0<!-- /r -->" in new
    assert {p.kind for p in problems} == {"stale"}


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("evasion/suite/robust_accuracy:rate", "sample size"),  # a bare fraction has no n
        ("evasion/suite/robust_accuracy:pct@evasion/suite/n", "unknown format"),
        ("evasion/suite/odd:rate@evasion/suite/n", "not a count out of 64"),
        ("evasion/suite/n:rate@evasion/suite/n", "fraction in"),
        ("evasion/suite/half:rate@evasion/suite/half", "whole number"),
        ("evasion/suite/half:rate@evasion/suite/missing", "no number"),
    ],
)
def test_rate_refuses_what_is_not_a_count_out_of_n(spec: str, message: str) -> None:
    _, problems = rewrite_markdown(f"<!-- r:{spec} -->x<!-- /r -->", _RATES)
    assert [(p.kind, message in p.message) for p in problems] == [("unknown", True)]


# Fractions that are settings or areas, not rates measured on a sample: `pct` suits them.
NOT_RATES = ("sticker_area", "poison_rate")


def test_every_rate_carries_its_interval_and_sample_size() -> None:
    bare = [
        f"{path.relative_to(ROOT)}: r:{match.group('spec')}"
        for path in DOCS
        for match in MARKER.finditer(path.read_text("utf-8"))
        if match.group("spec").endswith(":pct")
        and not match.group("spec").removesuffix(":pct").endswith(NOT_RATES)
    ]
    assert not bare, (
        "quote a rate with its 95% interval and sample size, r:KEY:rate (a Rate dict) or "
        "r:KEY:rate@N_KEY, not r:KEY:pct: " + "; ".join(bare)
    )
    assert any(
        ":rate" in match.group("spec")
        for path in DOCS
        for match in MARKER.finditer(path.read_text("utf-8"))
    )


def test_lines_escape_markdown_and_say_none_when_empty() -> None:
    lines = ["rp2_targeted_success = 0.3 (required >= 0.8)", "a | b *c* [d]"]
    text = format_value(lines, "lines")
    assert text == (r"rp2\_targeted\_success = 0.3 (required \>= 0.8); a \| b \*c\* \[d\]")
    assert format_value([], "lines") == "none"
    with pytest.raises(TypeError, match="list of strings"):
        format_value("one line", "lines")
    with pytest.raises(TypeError, match="list of strings"):
        format_value([1, 2], "lines")


# The doc that teaches each chapter of the tour.
CHAPTER_DOCS = {
    "foundation": "00-threat-models.md",
    "evasion": "00-threat-models.md",
    "physical": "01-physical-attacks.md",
    "defenses": "02-vision-defenses.md",
    "text": "03-text-attacks.md",
    "poisoning": "04-generative-ai.md",
    "genai": "04-generative-ai.md",
    "llm_poisoning": "04-generative-ai.md",
}


def test_every_chapter_with_targets_quotes_the_ones_it_missed() -> None:
    results = load_results(ROOT / "docs" / "results.json")
    assert set(results["chapters"]) <= set(CHAPTER_DOCS), "a new chapter needs its doc here"
    checked = 0
    for key, chapter in results["chapters"].items():
        targets = chapter.get("targets", {"checked": 0, "not_reached": []})
        if not targets["checked"]:
            continue
        checked += 1
        doc = (ROOT / "docs" / CHAPTER_DOCS[key]).read_text("utf-8")
        spec = f"{key}/targets/not_reached:lines"
        assert any(m.group("spec") == spec for m in MARKER.finditer(doc)), (
            f"docs/{CHAPTER_DOCS[key]} must quote the targets chapter {key!r} did not reach: "
            f"<!-- r:{spec} --><!-- /r -->"
        )
    assert checked, "no chapter of the committed results states its targets"
