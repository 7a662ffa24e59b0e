"""Keep the numbers in Markdown documents in sync with a tour's ``results.json``.

A measured number in the README or ``docs/`` is never typed by hand; it sits between markers::

    <!-- r:evasion/suite/robust_accuracy:pct -->12.5%<!-- /r -->

``r:CHAPTER/NUMBER_KEY:FORMAT`` names a chapter of ``results.json``, a key of that chapter's
``numbers`` and a format; the text between the markers is rewritten from the results. A
``NUMBER_KEY`` is looked up as an exact key of ``numbers`` first; otherwise it is a path whose
parts are separated by ``/`` and walk nested dictionaries (a part may itself contain ``/``, as
in ``sweep/PGD.linf.8/255/robust_accuracy``: the longest key that matches wins) and lists (an
integer, negative from the end). A key that is not among the numbers is looked up among the
chapter's other fields (``seconds``). Formats:

* ``pct``: a fraction as a percentage with one decimal (``0.125`` -> ``12.5%``);
* ``f2`` / ``f3``: a number with two / three decimals;
* ``int``: a number rounded to an integer;
* ``s``: seconds with no decimals (``12.3`` -> ``12 s``);
* ``str``: a string as it is (a trigger phrase, a word; no Markdown or HTML is allowed in it);
* ``rate``: a rate with its 95% Wilson interval and sample size (``70.3% [58.2–80.1%] of 64``).
  The value is a rate as :class:`aisec.stats.Rate` writes it (``{"rate", "count", "n", ...}``),
  or a fraction whose sample size another key names after ``:rate@``:
  ``r:evasion/suite/robust_accuracy:rate@evasion/suite/n`` (the count is ``round(rate × n)``);
* ``lines``: a list of strings joined with ``"; "`` (``none`` when empty), Markdown's special
  characters escaped: a chapter's missed targets, ``r:physical/targets/not_reached:lines``.

A missing value (``null`` in the JSON, e.g. a rate over zero examples) is written ``n/a``.

Benchmark tables are quoted the same way, from the Markdown a benchmark wrote::

    <!-- include:../benchmarks/results/evasion.md#PGD: 20 steps -->
    ...the section, rewritten...
    <!-- /include -->

``include:PATH#HEADING`` names a Markdown file (relative to the document) and the start of a
heading in it; the lines after that heading, up to the next heading of the same or a higher
level, replace the text between the markers (:func:`sync_includes`).

Command line::

    python -m aisec.report.docs --results report/results.json [--check] README.md docs/*.md

rewrites the files in place (or, with ``--check``, changes nothing and exits 1 when a marker is
stale); both exit 1 and list the markers whose key is unknown or whose format is invalid.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aisec.stats import Rate

__all__ = [
    "FORMATS",
    "MARKER",
    "DocsProblem",
    "format_value",
    "load_results",
    "lookup",
    "main",
    "rewrite_markdown",
    "sync_files",
    "sync_includes",
]

FORMATS = ("pct", "f2", "f3", "int", "s", "str", "rate", "lines")
MARKER = re.compile(r"<!-- r:(?P<spec>[^\n]*?) -->(?P<value>[^\n]*?)<!-- /r -->")
_FENCE = re.compile(r"^(?P<fence>```|~~~)[^\n]*\n.*?^(?P=fence)[ \t]*$", re.M | re.S)
_MISSING = "n/a"
INCLUDE = re.compile(
    r"^<!-- include:(?P<source>[^#\n]+)#(?P<heading>[^\n]+?) -->\n(?P<body>.*?)^<!-- /include -->$",
    re.M | re.S,
)
_HEADING = re.compile(r"^(?P<level>#{1,6}) +(?P<title>.+?) *$")


class _UnknownKeyError(LookupError):
    """A marker's key does not name a value in the results."""


@dataclass(frozen=True)
class DocsProblem:
    """A marker that is out of date (``stale``) or cannot be resolved (``unknown``).

    Attributes:
        path: the Markdown file (``"<text>"`` for a string).
        line: 1-based line of the marker.
        spec: the marker's ``CHAPTER/NUMBER_KEY:FORMAT``.
        kind: ``"stale"`` (the value differs from the results) or ``"unknown"``.
        message: what is wrong; for stale markers, the current and the expected value.
    """

    path: str
    line: int
    spec: str
    kind: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.kind} marker r:{self.spec}: {self.message}"


def format_value(value: Any, fmt: str) -> str:
    """Render one number in a marker format.

    Args:
        value: an ``int``/``float`` (or ``None`` for a missing value, rendered ``n/a``); a
            ``str`` for the ``str`` format.
        fmt: one of :data:`FORMATS`.

    Returns:
        The text to put between the markers.

    Raises:
        ValueError: unknown format, or a string that would break the marker or the page.
        TypeError: the value is not a number (a dict, a string, a bool), or not a string for
            the ``str`` format.
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; expected one of {list(FORMATS)}")
    if value is None:
        return _MISSING
    if fmt == "rate":
        return _format_rate(value)
    if fmt == "lines":
        return _format_lines(value)
    if fmt == "str":
        if not isinstance(value, str):
            raise TypeError(f"the str format expects a string, got {type(value).__name__}")
        if any(c in value for c in "<>`*_[]\n|"):
            raise ValueError(f"{value!r:.60} holds characters that Markdown would interpret")
        return value
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"expected a number, got {type(value).__name__} {value!r:.60}")
    number = float(value)
    if math.isnan(number):
        return _MISSING
    if fmt == "pct":
        return f"{number * 100:.1f}%"
    if fmt == "f2":
        return f"{number:.2f}"
    if fmt == "f3":
        return f"{number:.3f}"
    if fmt == "int":
        return str(round(number))
    return f"{number:.0f} s"


def _format_rate(value: Any) -> str:
    """``{"count", "n"}`` (a :class:`~aisec.stats.Rate` dict) as ``p% [low–high%] of n``."""
    if not isinstance(value, Mapping) or not {"count", "n"} <= set(value):
        raise TypeError(
            "the rate format expects a rate with its sample size ({'rate', 'count', 'n'}, or a "
            f"fraction and ':rate@N_KEY'), got {type(value).__name__} {value!r:.60}"
        )
    count, total = value["count"], value["n"]
    if any(isinstance(v, bool) or not isinstance(v, int) for v in (count, total)):
        raise TypeError(f"a rate's count and n must be ints, got {count!r} and {total!r}")
    if total == 0:
        return f"{_MISSING} of 0"
    rate = Rate(count, total)
    low, high = rate.interval()
    return f"{rate.value * 100:.1f}% [{low * 100:.1f}–{high * 100:.1f}%] of {total}"


def _format_lines(value: Any) -> str:
    """A list of strings on one line, ``; ``-separated, with Markdown's specials escaped."""
    if not isinstance(value, list) or not all(isinstance(line, str) for line in value):
        raise TypeError(f"the lines format expects a list of strings, got {value!r:.60}")
    if not value:
        return "none"
    text = "; ".join(" ".join(line.split()) for line in value)
    return re.sub(r"([\\`*_\[\]|<>])", r"\\\1", text)


def _rate_with_n(value: Any, n: Any, spec: str) -> dict[str, int]:
    """A fraction and its sample size as ``{"count", "n"}``; ``TypeError`` if they are not."""
    if isinstance(n, bool) or not isinstance(n, int | float) or n != int(n) or n < 0:
        raise TypeError(f"{spec}: the sample size must be a whole number, got {n!r:.60}")
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise TypeError(f"{spec}: expected a fraction in [0, 1], got {value!r:.60}")
    total = int(n)
    count = round(value * total)
    if total and abs(count / total - value) > 1e-6:
        raise TypeError(f"{spec}: {value!r} is not a count out of {total}")
    return {"count": count, "n": total}


def _walk(node: Any, path: str) -> Any:
    """Follow ``path`` (``/``-separated, parts may contain ``/``) into dicts and lists."""
    if isinstance(node, Mapping):
        if path in node:
            return node[path]
        prefixes = sorted(
            (key for key in node if isinstance(key, str) and path.startswith(key + "/")),
            key=len,
            reverse=True,
        )
        for key in prefixes:
            try:
                return _walk(node[key], path[len(key) + 1 :])
            except _UnknownKeyError:
                continue
        raise _UnknownKeyError(path)
    if isinstance(node, list):
        head, _, rest = path.partition("/")
        try:
            index = int(head)
            item = node[index]
        except (ValueError, IndexError) as error:
            raise _UnknownKeyError(path) from error
        return _walk(item, rest) if rest else item
    raise _UnknownKeyError(path)


def lookup(results: Mapping[str, Any], key: str) -> Any:
    """The value that ``CHAPTER/NUMBER_KEY`` names in a tour's results.

    Args:
        results: the parsed ``results.json`` (``{"provenance": ..., "chapters": ...}``).
        key: ``CHAPTER/NUMBER_KEY`` (see the module docstring for paths).

    Returns:
        The value (a number, ``None``, or a nested dict/list when the key stops early).

    Raises:
        KeyError: the chapter is missing or failed, or the key names nothing; the message says
            which.
    """
    chapter_key, slash, number_key = key.partition("/")
    if not slash or not number_key:
        raise KeyError(f"expected CHAPTER/NUMBER_KEY, got {key!r}")
    chapters = results.get("chapters", {})
    if chapter_key not in chapters:
        raise KeyError(f"no chapter {chapter_key!r} in the results (have {sorted(chapters)})")
    chapter = chapters[chapter_key]
    if chapter.get("status", "ok") != "ok":
        raise KeyError(f"chapter {chapter_key!r} failed: {chapter.get('error', '?')}")
    try:
        return _walk(chapter.get("numbers", {}), number_key)
    except _UnknownKeyError:
        pass
    others = {name: value for name, value in chapter.items() if name != "numbers"}
    try:
        return _walk(others, number_key)
    except _UnknownKeyError:
        raise KeyError(f"chapter {chapter_key!r} has no number {number_key!r}") from None


def rewrite_markdown(
    text: str, results: Mapping[str, Any], *, path: str = "<text>"
) -> tuple[str, list[DocsProblem]]:
    """Rewrite every marker's value in ``text`` from ``results``.

    Args:
        text: Markdown with markers.
        results: the parsed ``results.json``.
        path: the file name used in problems.

    Returns:
        ``(new_text, problems)``: the text with every resolvable marker rewritten (unresolvable
        ones are left as they were), and one problem per marker that was stale (its old value
        differed) or unknown (bad key or format, or not a number). Markers inside fenced code
        blocks or inline code spans are examples of the syntax and are left alone.
    """
    problems: list[DocsProblem] = []
    fenced = [(block.start(), block.end()) for block in _FENCE.finditer(text)]

    def replace(match: re.Match[str]) -> str:
        line_start = text.rfind("\n", 0, match.start()) + 1
        in_code_span = text.count("`", line_start, match.start()) % 2 == 1
        if in_code_span or any(start <= match.start() < end for start, end in fenced):
            return match.group(0)  # a marker shown as code is an example, not a number
        spec, old = match.group("spec"), match.group("value")
        line = text.count("\n", 0, match.start()) + 1
        key, with_n, n_key = spec.partition(":rate@")  # keys may hold ':' and '@' themselves
        if with_n:
            fmt, colon = "rate", ":"
        else:
            key, colon, fmt = spec.rpartition(":")
        try:
            if not colon:
                raise ValueError(f"expected CHAPTER/NUMBER_KEY:FORMAT, got {spec!r}")
            value = lookup(results, key)
            if with_n and value is not None:
                value = _rate_with_n(value, lookup(results, n_key), spec)
            new = format_value(value, fmt)
        except (KeyError, ValueError, TypeError) as error:
            message = error.args[0] if isinstance(error, KeyError) else str(error)
            problems.append(DocsProblem(path, line, spec, "unknown", str(message)))
            return match.group(0)
        if new != old:
            problems.append(
                DocsProblem(path, line, spec, "stale", f"has {old!r}, expected {new!r}")
            )
        return f"<!-- r:{spec} -->{new}<!-- /r -->"

    return MARKER.sub(replace, text), problems


def markdown_section(text: str, heading: str) -> str:
    """The lines after the first heading that starts with ``heading``, up to the next heading
    of the same or a higher level, without surrounding blank lines; ``KeyError`` if none."""
    lines = text.splitlines()
    for start, line in enumerate(lines):
        found = _HEADING.match(line)
        if found and found.group("title").startswith(heading):
            level = len(found.group("level"))
            end = start + 1
            while end < len(lines):
                other = _HEADING.match(lines[end])
                if other and len(other.group("level")) <= level:
                    break
                end += 1
            return "\n".join(lines[start + 1 : end]).strip("\n")
    raise KeyError(f"no heading starting with {heading!r}")


def sync_includes(text: str, base: Path, *, path: str = "<text>") -> tuple[str, list[DocsProblem]]:
    """Rewrite every ``include`` block of ``text`` from the files it names (see the module doc).

    Args:
        text: Markdown with include blocks.
        base: the directory the ``PATH`` of a block is relative to (the document's).
        path: the file name used in problems.

    Returns:
        ``(new_text, problems)``: stale blocks rewritten, and one problem per stale block and
        per block whose file or heading is missing (left as it was).
    """
    problems: list[DocsProblem] = []

    def replace(match: re.Match[str]) -> str:
        source, heading = match.group("source").strip(), match.group("heading").strip()
        spec = f"include:{source}#{heading}"
        line = text.count("\n", 0, match.start()) + 1
        try:
            section = markdown_section((base / source).read_text(encoding="utf-8"), heading)
        except (OSError, KeyError) as error:
            message = error.args[0] if isinstance(error, KeyError) else str(error)
            problems.append(DocsProblem(path, line, spec, "unknown", str(message)))
            return match.group(0)
        body = section + "\n"
        if body != match.group("body"):
            problems.append(DocsProblem(path, line, spec, "stale", "differs from its source"))
        return f"<!-- include:{source}#{heading} -->\n{body}<!-- /include -->"

    return INCLUDE.sub(replace, text), problems


def load_results(path: str | Path) -> dict[str, Any]:
    """Read a tour's ``results.json``; ``ValueError`` when it is not one."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    if not isinstance(data, dict) or not isinstance(data.get("chapters"), dict):
        raise ValueError(f"{path} is not a tour results.json (no 'chapters' object)")
    return data


def sync_files(
    paths: Sequence[str | Path], results: Mapping[str, Any], *, check: bool = False
) -> list[DocsProblem]:
    """Rewrite the markers and include blocks of Markdown files (or only check them).

    Args:
        paths: Markdown files.
        results: the parsed ``results.json``.
        check: when true, no file is written.

    Returns:
        Every stale and unknown marker (stale ones were fixed unless ``check``).
    """
    problems: list[DocsProblem] = []
    for path in paths:
        file = Path(path)
        text = file.read_text(encoding="utf-8")
        new, found = rewrite_markdown(text, results, path=str(path))
        new, quoted = sync_includes(new, file.parent, path=str(path))
        problems += found + quoted
        if not check and new != text:
            file.write_text(new, encoding="utf-8")
    return problems


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the exit status (0 in sync, 1 otherwise)."""
    parser = argparse.ArgumentParser(
        prog="python -m aisec.report.docs",
        description="Rewrite the <!-- r:CHAPTER/KEY:FORMAT --> markers of Markdown files "
        "from a tour's results.json.",
    )
    parser.add_argument("--results", required=True, help="the tour's results.json")
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if stale")
    parser.add_argument("files", nargs="+", help="Markdown files")
    args = parser.parse_args(argv)
    try:
        results = load_results(args.results)
    except (OSError, ValueError) as error:
        print(f"error: cannot read results: {error}", file=sys.stderr)
        return 2
    problems = sync_files(args.files, results, check=args.check)
    unknown = [p for p in problems if p.kind == "unknown"]
    stale = [p for p in problems if p.kind == "stale"]
    for problem in unknown + (stale if args.check else []):
        print(problem, file=sys.stderr)
    if not args.check and stale:
        print(f"rewrote {len(stale)} marker(s)")
    return 1 if unknown or (args.check and stale) else 0


if __name__ == "__main__":
    sys.exit(main())
