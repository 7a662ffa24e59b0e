"""Compare aisec's scanner with picklescan, modelscan and fickling on the safety test corpus.

Usage (``run.sh`` does all of it)::

    python -m benchmarks.scanners.compare --venv .venv-scanners \
        --out benchmarks/results/scanners.md

The corpus (one malicious file per published bypass class, and benign real-world files) is
written to a temporary folder; aisec scans each file in this process, the other tools run in
their own environment through ``third_party.py``. After every tool has run, the corpus's
``SENTINEL`` file must still be missing: no scanner ran a payload.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.scanners import corpus

TOOLS = ("aisec", "picklescan", "picklescan --strict", "modelscan", "fickling (CLI)",
         "fickling (API)")  # fmt: skip
_PACKAGES = {"picklescan": "picklescan", "modelscan": "modelscan", "fickling": "fickling"}
_HERE = Path(__file__).resolve().parent


def _aisec_verdicts(folder: Path, names: list[str]) -> tuple[dict[str, str], float]:
    from aisec.models.safety import Verdict, scan_file

    verdicts: dict[str, str] = {}
    start = time.perf_counter()
    for name in names:
        unsafe = scan_file(folder / name).verdict is Verdict.UNSAFE
        verdicts[name] = "flagged" if unsafe else "clean"
    return verdicts, time.perf_counter() - start


def _third_party(venv: Path, folder: Path, names: list[str]) -> dict[str, dict[str, str]]:
    python = venv / "bin" / "python"
    if not python.exists():
        return {name: {} for name in names}
    with tempfile.TemporaryDirectory() as scratch:
        names_file, out = Path(scratch) / "names.json", Path(scratch) / "out.json"
        names_file.write_text(json.dumps(names))
        command = [str(python), str(_HERE / "third_party.py"), str(folder), str(names_file),
                   str(out)]  # fmt: skip
        subprocess.run(command, check=True, cwd=scratch)
        verdicts: dict[str, dict[str, str]] = json.loads(out.read_text())
    return verdicts


def _versions(venv: Path) -> dict[str, str]:
    python = venv / "bin" / "python"
    versions = {}
    for tool, package in _PACKAGES.items():
        code = f"import importlib.metadata as m; print(m.version({package!r}))"
        try:
            done = subprocess.run([str(python), "-c", code], capture_output=True, text=True,
                                  check=True)  # fmt: skip
            versions[tool] = done.stdout.strip()
        except (OSError, subprocess.CalledProcessError):
            versions[tool] = "not installed"
    return versions


def _cell(verdict: str | None, malicious: bool) -> str:
    """The verdict, in bold when it is a miss (malicious passed) or a false alarm."""
    if verdict is None:
        return "not installed"
    wrong = verdict in ("clean", "skipped") if malicious else verdict in ("flagged", "error")
    return f"**{verdict}**" if wrong else verdict


def _summary(rows: list[tuple[str, bool, str]], table: dict[str, dict[str, str]]) -> list[str]:
    malicious = [name for name, bad, _ in rows if bad]
    benign = [name for name, bad, _ in rows if not bad]
    lines = [
        "| tool | malicious flagged | malicious refused (flagged or error) | "
        "benign clean | benign false alarms (flagged or error) | benign skipped |",
        "|---|---|---|---|---|---|",
    ]
    for tool in TOOLS:
        got = [table[name].get(tool) for name in malicious + benign]
        if any(verdict is None for verdict in got):
            lines.append(f"| {tool} | not installed | | | | |")
            continue

        def count(names: list[str], *verdicts: str, tool: str = tool) -> int:
            return sum(table[name][tool] in verdicts for name in names)

        lines.append(
            f"| {tool} | {count(malicious, 'flagged')}/{len(malicious)} | "
            f"{count(malicious, 'flagged', 'error')}/{len(malicious)} | "
            f"{count(benign, 'clean')}/{len(benign)} | "
            f"{count(benign, 'flagged', 'error')}/{len(benign)} | "
            f"{count(benign, 'skipped')}/{len(benign)} |"
        )
    return lines


def _sentinel(exists: bool) -> str:
    return "PRESENT: a payload ran" if exists else "absent"


def _markdown(
    rows: list[tuple[str, bool, str]],
    table: dict[str, dict[str, str]],
    versions: dict[str, str],
    seconds: float,
    sentinel_exists: bool,
) -> str:
    header = "| file | expected | class | " + " | ".join(TOOLS) + " |"
    lines = [
        "# Model-file scanners on the safety corpus",
        "",
        "Written by `benchmarks/scanners/run.sh` (`python -m benchmarks.scanners.compare`). "
        "The corpus is `tests/models/safety_corpus.py`: one malicious file per published "
        "bypass class, each payload a real gadget with an argument that would create a "
        "`SENTINEL` file, and benign real-world files. Each tool runs as its users run it: "
        "`picklescan --path` (and `--strict`, its default-deny mode), `modelscan -p`, "
        "`fickling --check-safety`, and fickling's API (`scan_zip_archive` for zips, "
        "`scan_file` otherwise, graceful). Verdicts: `flagged` (a problem reported), `error` "
        "(the scan failed: a gate that rejects on any non-zero exit refuses the file), "
        "`skipped` (format not handled), `clean`. **Bold**: a miss (a malicious file not "
        "refused) or a false alarm (a benign file refused).",
        "",
        f"Versions: aisec 0.1.0, picklescan {versions['picklescan']}, modelscan "
        f"{versions['modelscan']}, fickling {versions['fickling']}; Python "
        f"{sys.version.split()[0]}. aisec scanned the {len(rows)} files in {seconds:.1f} s. "
        f"Sentinel after every tool ran: {_sentinel(sentinel_exists)}.",
        "",
        "## Summary",
        "",
        *_summary(rows, table),
        "",
        "## Per file",
        "",
        header,
        "|" + "---|" * (3 + len(TOOLS)),
    ]
    for name, malicious, kind in rows:
        cells = " | ".join(_cell(table[name].get(tool), malicious) for tool in TOOLS)
        expected = "malicious" if malicious else "benign"
        lines.append(f"| `{name}` | {expected} | {kind.replace('|', '/')} | {cells} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--venv", type=Path, default=Path(".venv-scanners"))
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/scanners.md"))
    parser.add_argument("--corpus", type=Path, help="folder for the corpus (default: temporary)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as scratch:
        folder = (args.corpus or Path(scratch) / "corpus").resolve()
        rows = corpus.write(folder)
        names = [name for name, _, _ in rows]
        aisec, seconds = _aisec_verdicts(folder, names)
        others = _third_party(args.venv.resolve(), folder, names)
        sentinel_exists = (folder / corpus.load_generator().SENTINEL_NAME).exists()
    table = {name: {"aisec": aisec[name], **others.get(name, {})} for name in names}
    text = _markdown(rows, table, _versions(args.venv.resolve()), seconds, sentinel_exists)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(text)
    return 1 if sentinel_exists else 0


if __name__ == "__main__":
    raise SystemExit(main())
