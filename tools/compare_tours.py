"""Compare the numbers of two tours: the same seed and sizes must give the same numbers.

    python tools/compare_tours.py BEFORE/results.json AFTER/results.json [--rtol 1e-6]

Every chapter present in both files is compared number by number (``numbers`` of each
chapter, nested values by their ``/`` path). Wall times (keys named ``seconds``, ``time_s`` or
ending in ``_seconds``/``_time_s``) are left out. Floats must be equal within ``--rtol`` (default
0: exactly equal). Prints one line per difference and exits with 1 if there is any.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

_TIME_KEYS = ("seconds", "time_s")


def _is_time(key: str) -> bool:
    return key in _TIME_KEYS or key.endswith(("_seconds", "_time_s"))


def flatten(value: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """``(path, leaf)`` for every leaf of a nested mapping/list, wall times left out."""
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not _is_time(str(key)):
                yield from flatten(item, f"{prefix}/{key}" if prefix else str(key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from flatten(item, f"{prefix}[{index}]")
    else:
        yield prefix, value


def _equal(a: Any, b: Any, rtol: float) -> bool:
    if isinstance(a, float) and isinstance(b, (int, float)) and not isinstance(b, bool):
        if math.isnan(a) and math.isnan(float(b)):
            return True
        return math.isclose(a, float(b), rel_tol=rtol, abs_tol=0.0) if rtol else a == b
    return bool(a == b) and type(a) is type(b)


def compare(before: Mapping[str, Any], after: Mapping[str, Any], *, rtol: float = 0.0) -> list[str]:
    """The differences between the chapters' numbers of two ``results.json`` documents."""
    differences: list[str] = []
    chapters_a, chapters_b = before["chapters"], after["chapters"]
    for key in chapters_a:
        if key not in chapters_b:
            differences.append(f"{key}: chapter missing after")
            continue
        a, b = chapters_a[key], chapters_b[key]
        if a.get("status") != b.get("status"):
            differences.append(f"{key}: status {a.get('status')} -> {b.get('status')}")
            continue
        left = dict(flatten(a.get("numbers", {})))
        right = dict(flatten(b.get("numbers", {})))
        for path in sorted(left.keys() - right.keys()):
            differences.append(f"{key}/{path}: missing after")
        for path in sorted(right.keys() - left.keys()):
            differences.append(f"{key}/{path}: new after")
        for path in sorted(left.keys() & right.keys()):
            if not _equal(left[path], right[path], rtol):
                differences.append(f"{key}/{path}: {left[path]!r} -> {right[path]!r}")
    return differences


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("before", type=Path)
    parser.add_argument("after", type=Path)
    parser.add_argument("--rtol", type=float, default=0.0, help="relative tolerance of floats")
    args = parser.parse_args(argv)
    before = json.loads(args.before.read_text())
    after = json.loads(args.after.read_text())
    common = [k for k in before["chapters"] if k in after["chapters"]]
    for key in after["chapters"]:
        if key not in before["chapters"]:
            print(f"{key}: new chapter after (not compared)")
    differences = compare(before, after, rtol=args.rtol)
    for line in differences:
        print(line)
    counted = sum(len(dict(flatten(before["chapters"][k].get("numbers", {})))) for k in common)
    verdict = "differ" if differences else "are the same"
    print(f"{counted} numbers of {len(common)} chapters ({', '.join(common)}) {verdict}")
    return 1 if differences else 0


if __name__ == "__main__":
    sys.exit(main())
