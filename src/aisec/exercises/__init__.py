"""Exercises for the tutorial's chapters, each with a checker.

An exercise asks the learner to write one or two functions (a template with the exact
signatures is ``exercises/NAME.py`` in the repository; reference solutions are kept apart in
``exercises/solutions/``). Its checker imports the learner's file by path, calls the functions
on tiny seeded models and data built in seconds, and checks guarantees — the threat model holds,
masks are respected, a target rate is reached, the result equals aisec's where that is the
point — with one line per failed check. ``aisec exercise list`` lists them and ``aisec exercise
check NAME [--solution FILE]`` runs a checker.

Example::

    from aisec.exercises import check_exercise

    result = check_exercise("fgsm", "exercises/fgsm.py")
    print(result.passed, result.failures())
"""

from __future__ import annotations

from aisec.exercises.base import CHAPTERS, CheckOutcome, CheckResult, Exercise, LearnerError
from aisec.exercises.registry import EXERCISES, check_exercise, exercise_names, get_exercise

__all__ = [
    "CHAPTERS",
    "EXERCISES",
    "CheckOutcome",
    "CheckResult",
    "Exercise",
    "LearnerError",
    "check_exercise",
    "exercise_names",
    "get_exercise",
]
