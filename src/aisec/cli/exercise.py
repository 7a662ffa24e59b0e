"""The tutorial's exercises: ``aisec exercise list|show|check``.

``check NAME`` imports the learner's solution (``exercises/NAME.py`` under the current folder,
or ``--solution FILE``) and runs the exercise's checker: exit code 0 when every check holds, 1
when one fails (one line per check), 2 for bad input (an unknown exercise, a missing file) before
anything runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from aisec.cli._common import app, console, fail

exercise_app = typer.Typer(
    help="The tutorial's exercises: list them, read one, check your solution.",
    no_args_is_help=True,
)
app.add_typer(exercise_app, name="exercise")


def _say(line: str) -> None:
    """Print ``line`` as it is: no markup, no highlighting, never wrapped."""
    console.print(line, markup=False, highlight=False, soft_wrap=True)


@exercise_app.command("list")
def exercise_list() -> None:
    """List the exercises: name, chapter and what to write."""
    from aisec.exercises import EXERCISES

    table = Table("exercise", "chapter", "task")
    table.columns[0].no_wrap = True
    for exercise in EXERCISES:
        table.add_row(exercise.name, f"{exercise.chapter:02d}", escape(exercise.title))
    console.print(table)
    _say("Read one with `aisec exercise show NAME`; check it with `aisec exercise check NAME`.")


@exercise_app.command("show")
def exercise_show(name: Annotated[str, typer.Argument(help="the exercise, e.g. fgsm")]) -> None:
    """Print an exercise: the task, the function(s) to write and what the checker checks."""
    from aisec.exercises import get_exercise

    try:
        exercise = get_exercise(name)
    except ValueError as error:
        raise fail(error) from error
    _say(f"{exercise.name} (chapter {exercise.chapter}, {exercise.chapter_doc}): {exercise.title}")
    _say("")
    _say(exercise.statement)
    _say("")
    _say("Write:")
    for signature in exercise.functions:
        _say(f"  {signature}")
    _say("Checked:")
    for check in exercise.checks:
        _say(f"  - {check}")
    _say(f"Template: {exercise.template}; check it with `aisec exercise check {exercise.name}`.")


@exercise_app.command("check")
def exercise_check(
    name: Annotated[str, typer.Argument(help="the exercise, e.g. fgsm")],
    solution: Annotated[
        Path | None,
        typer.Option(help="your solution file (default: exercises/NAME.py in this folder)"),
    ] = None,
) -> None:
    """Check a solution: one line per check, exit code 0 if all hold, 1 if one fails."""
    from aisec.exercises import get_exercise
    from aisec.exercises.base import check_solution_path, run_exercise

    try:
        exercise = get_exercise(name)
        path = check_solution_path(solution or Path("exercises") / f"{exercise.name}.py")
    except ValueError as error:
        raise fail(error) from error
    result = run_exercise(exercise, path)
    _say(f"exercise {exercise.name} (chapter {exercise.chapter}): checking {path}")
    for line in result.lines():
        _say(line)
    failed = len(result.failures())
    if result.passed:
        _say(f"passed: all {len(result.outcomes)} checks hold ({result.seconds:.1f} s)")
        return
    _say(f"failed: {failed} of {len(result.outcomes)} checks ({result.seconds:.1f} s)")
    raise typer.Exit(code=1)
