"""Scan model files before loading them: ``aisec scan FILE...``.

Exit code 0 when every file is safe, 1 when any is unsafe (one line per finding: file, entry,
global, reason), 2 for bad input (a missing path, a folder with nothing to scan).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from aisec.cli._common import app, check_out_file, console, fail


@app.command("scan")
def scan(
    paths: Annotated[
        list[Path],
        typer.Argument(help="model files or folders (judged by content, not by extension)"),
    ],
    json_out: Annotated[
        Path | None, typer.Option("--json", help="also write the report as JSON here")
    ] = None,
) -> None:
    """Scan model files for code a loader would run (pickle globals, Keras layers, templates).

    Pickles (torch checkpoints of any extension, .pkl, object .npy, legacy torch files) must use
    only the globals that weights need (aisec.models.safety.allowlist); Keras configs only
    Keras's own layers; GGUF and tokenizer chat templates must not reach Python internals.
    Nothing in the files is imported, unpickled or rendered. Load a checkpoint that passes
    with aisec.models.safety.safe_torch_load.
    """
    from aisec.files import atomic_write_json
    from aisec.models.safety import Verdict, scan_paths

    try:
        json_file = check_out_file(json_out, what="--json")
        report = scan_paths(paths)
    except ValueError as error:
        raise fail(error) from error
    for row in report.rows():
        console.print(" | ".join(row), markup=False, highlight=False, soft_wrap=True)
    for file in report.files:
        if file.verdict is Verdict.SAFE:
            formats = ", ".join(file.formats)
            console.print(f"{file.path} | safe ({formats})", markup=False, highlight=False)
    unsafe = sum(file.verdict is Verdict.UNSAFE for file in report.files)
    console.print(
        f"{len(report.files)} file(s) scanned: {len(report.files) - unsafe} safe, "
        f"{unsafe} unsafe; {len(report.skipped)} skipped (not a model format)",
        markup=False,
        highlight=False,
    )
    if json_file is not None:
        atomic_write_json(json_file, report.to_dict())
    if report.verdict is Verdict.UNSAFE:
        raise typer.Exit(code=1)
