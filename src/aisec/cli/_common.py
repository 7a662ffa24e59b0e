"""What every command module shares: the typer app, the console, and the error exit."""

from __future__ import annotations

import typer
from rich.console import Console

__all__ = ["app", "console", "fail"]

app = typer.Typer(
    name="aisec",
    help="aisec: attack, defend and evaluate AI systems — offline, on a CPU.",
    no_args_is_help=True,
    add_completion=False,
)

console = Console()


def fail(error: Exception) -> typer.Exit:
    """Print ``error`` as one line and return the exit (code 2) to raise."""
    console.print(f"[bold red]error:[/] {error}")
    return typer.Exit(code=2)
