"""What every command module shares: the typer app, the console, the error exit and the checks
of the output paths.

A command checks everything it can before it starts working: its plan (names, sizes, budgets),
then its ``--out`` (created when missing, probed for writability), so that a wrong option costs
one line of error (exit code 2), never the computation.
"""

from __future__ import annotations

from pathlib import Path
from typing import overload

import typer
from rich.console import Console
from rich.markup import escape

from aisec.files import check_output_dir

__all__ = ["app", "check_out_dir", "check_out_file", "console", "fail"]

app = typer.Typer(
    name="aisec",
    help="aisec: attack, defend and evaluate AI systems — offline, on a CPU.",
    no_args_is_help=True,
    add_completion=False,
)

console = Console()


def fail(error: Exception) -> typer.Exit:
    """Print ``error`` as one line (never wrapped, markup shown as is); return the exit (code 2)."""
    message = " ".join(str(error).split()) or type(error).__name__
    console.print(f"[bold red]error:[/] {escape(message)}", soft_wrap=True)
    return typer.Exit(code=2)


@overload
def check_out_dir(path: Path, what: str = "--out") -> Path: ...
@overload
def check_out_dir(path: None, what: str = "--out") -> None: ...
def check_out_dir(path: Path | None, what: str = "--out") -> Path | None:
    """``path`` as a writable folder (created when missing), or ``None`` when not given.

    Raises:
        ValueError: ``path`` is a file, cannot be created or is not writable.
    """
    return None if path is None else check_output_dir(path, what=what)


@overload
def check_out_file(path: Path, what: str = "--out") -> Path: ...
@overload
def check_out_file(path: None, what: str = "--out") -> None: ...
def check_out_file(path: Path | None, what: str = "--out") -> Path | None:
    """``path`` as a file that can be written (its folder is created when missing).

    Raises:
        ValueError: ``path`` is a folder, or its folder is not writable.
    """
    if path is None:
        return None
    file = path.expanduser()
    if file.is_dir():
        raise ValueError(f"{what} {str(file)!r} is a folder; expected a file path")
    check_output_dir(file.parent, what=f"the folder of {what}")
    return file
