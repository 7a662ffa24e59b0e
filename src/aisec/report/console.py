"""Result rows as rich tables on the terminal: the command line's view of an experiment.

The HTML report and the console render the same ``rows()`` of a result through
:mod:`aisec.report.format`, so a number reads the same in both.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from rich.console import Console
from rich.table import Table

from aisec.report.format import format_rows

__all__ = ["print_rows", "rows_table"]


def rows_table(rows: Sequence[Mapping[str, Any]], *, title: str | None = None) -> Table:
    """A rich table of ``rows`` (columns from the first row; numbers right-aligned)."""
    table = Table(title=title)
    if not rows:
        return table
    first = rows[0]
    for key, value in first.items():
        numeric = isinstance(value, (int, float)) and not isinstance(value, bool)
        table.add_column(str(key), justify="right" if numeric else "left")
    for row in format_rows(rows):
        table.add_row(*(row.get(str(k), "") for k in first))
    return table


def print_rows(
    console: Console, rows: Sequence[Mapping[str, Any]], *, title: str | None = None
) -> None:
    """Print ``rows`` as a table on ``console``."""
    console.print(rows_table(rows, title=title))
