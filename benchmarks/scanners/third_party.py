"""Run picklescan, modelscan and fickling on every corpus file (inside ``.venv-scanners``).

Usage: ``.venv-scanners/bin/python third_party.py CORPUS_DIR NAMES_JSON OUT_JSON``. Each tool is
run as its users run it (the command line, exit codes as documented), plus fickling's Python
API, which, unlike its command line, opens zip archives. A verdict is one of ``flagged`` (the
tool reports a problem), ``error`` (the tool failed or reports a scan error), ``skipped`` (the
tool does not handle the file) or ``clean``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path

_BIN = Path(sys.executable).parent
_TIMEOUT = 300


def _run(command: list[str]) -> int:
    try:
        done = subprocess.run(command, capture_output=True, timeout=_TIMEOUT, check=False)
    except subprocess.TimeoutExpired:
        return -1
    return done.returncode


def picklescan(path: Path, strict: bool) -> str:
    """Exit 0 clean, 1 infected (dangerous globals; with --strict, any non-safe global)."""
    code = _run([str(_BIN / "picklescan"), "--path", str(path), *(["--strict"] if strict else [])])
    return {0: "clean", 1: "flagged"}.get(code, "error")


def modelscan(path: Path) -> str:
    """Exit 0 no issues, 1 issues found, 2 scan errors, 3 no supported files."""
    code = _run([str(_BIN / "modelscan"), "-p", str(path)])
    return {0: "clean", 1: "flagged", 3: "skipped"}.get(code, "error")


def fickling_cli(path: Path) -> str:
    """``fickling --check-safety``: exit 0 clean, 1 unsafe, 2 scan error."""
    code = _run([str(_BIN / "fickling"), "--check-safety", str(path)])
    return {0: "clean", 1: "flagged"}.get(code, "error")


def fickling_api(path: Path) -> str:
    """``fickling.scan_zip_archive`` for zip files (members .pkl/.pickle/.bin), else
    ``fickling.scan_file``; graceful, so a parse error is a result, not an exception."""
    import fickling

    try:
        if zipfile.is_zipfile(path):
            results = list(fickling.scan_zip_archive(str(path), graceful=True).values())
            if not results:
                return "skipped"
        else:
            results = [fickling.scan_file(str(path), graceful=True)]
    except Exception:
        return "error"
    if any(not result.is_safe for result in results):
        return "flagged"
    return "error" if any(result.errors for result in results) else "clean"


def _available() -> dict[str, Callable[[Path], str]]:
    """The tools installed in this environment (a missing one is left out of the results)."""
    tools: dict[str, Callable[[Path], str]] = {}
    if (_BIN / "picklescan").exists():
        tools["picklescan"] = lambda path: picklescan(path, strict=False)
        tools["picklescan --strict"] = lambda path: picklescan(path, strict=True)
    if (_BIN / "modelscan").exists():
        tools["modelscan"] = modelscan
    if (_BIN / "fickling").exists():
        tools["fickling (CLI)"] = fickling_cli
        tools["fickling (API)"] = fickling_api
    return tools


def main(argv: list[str]) -> int:
    folder, names_file, out = Path(argv[0]), Path(argv[1]), Path(argv[2])
    tools = _available()
    verdicts: dict[str, dict[str, str]] = {}
    for name in json.loads(names_file.read_text()):
        verdicts[name] = {tool: scan(folder / name) for tool, scan in tools.items()}
        print(name, verdicts[name], flush=True)
    out.write_text(json.dumps(verdicts, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
