"""Every exercise's reference solution passes its checker, and its blank template fails with a
line saying it is not implemented yet (not a traceback).

Parametrized over the registry: an exercise cannot be added without both files passing this.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from aisec.exercises import EXERCISES, Exercise
from aisec.exercises.base import run_exercise

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("exercise", EXERCISES, ids=lambda e: e.name)
def test_the_reference_solution_passes(exercise: Exercise) -> None:
    result = run_exercise(exercise, ROOT / "exercises" / "solutions" / f"{exercise.name}.py")
    assert result.passed, "\n".join(result.lines())
    assert len(result.outcomes) >= 2, "a checker checks more than one guarantee"
    # The budget is a few seconds on two idle cores (20 s at most); 40 leaves room for a busy
    # machine without letting a checker that trains a real model slip in.
    assert result.seconds < 40, f"{exercise.name}'s check took {result.seconds:.1f} s"


@pytest.mark.parametrize("exercise", EXERCISES, ids=lambda e: e.name)
def test_the_blank_template_fails_as_not_implemented(exercise: Exercise) -> None:
    result = run_exercise(exercise, ROOT / "exercises" / f"{exercise.name}.py")
    assert not result.passed
    failures = result.failures()
    assert len(failures) == 1, failures
    assert "is not implemented yet" in failures[0], failures
    assert f"exercises/{exercise.name}.py" in failures[0]
    assert "Traceback" not in failures[0] and "\n" not in failures[0]
