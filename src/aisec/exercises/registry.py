"""Every exercise, in chapter order, and lookup by name."""

from __future__ import annotations

from pathlib import Path

from aisec.exercises.base import CheckResult, Exercise, run_exercise
from aisec.exercises.defenses import BPDA_JPEG, CERTIFY_COUNTS, EVADE_SQUEEZING
from aisec.exercises.evasion import DLR_LOSS, FGSM_EXERCISE, PGD_L2
from aisec.exercises.genai import SCRUB_WATERMARK, SPECTRAL_PRECISION
from aisec.exercises.own_model import KEYED_RANDOM_START, PICKLE_GLOBALS
from aisec.exercises.physical import EOT_STICKER, PRINTABLE_STICKER
from aisec.exercises.text import GOOD_WORDS, UNDO_BAD_CHARACTERS
from aisec.exercises.tools import LIBRARY_ADAPTER

__all__ = ["EXERCISES", "check_exercise", "exercise_names", "get_exercise"]

EXERCISES: tuple[Exercise, ...] = (
    FGSM_EXERCISE,
    PGD_L2,
    DLR_LOSS,
    PRINTABLE_STICKER,
    EOT_STICKER,
    BPDA_JPEG,
    EVADE_SQUEEZING,
    CERTIFY_COUNTS,
    UNDO_BAD_CHARACTERS,
    GOOD_WORDS,
    SPECTRAL_PRECISION,
    SCRUB_WATERMARK,
    LIBRARY_ADAPTER,
    PICKLE_GLOBALS,
    KEYED_RANDOM_START,
)
"""The exercises, in the order of the tutorial's chapters."""


def exercise_names() -> list[str]:
    """The exercises' names, in chapter order."""
    return [exercise.name for exercise in EXERCISES]


def get_exercise(name: str) -> Exercise:
    """The exercise called ``name`` (``-`` and ``_`` are the same).

    Raises:
        ValueError: no exercise has that name (the message lists the known ones).
    """
    wanted = name.strip().replace("-", "_")
    for exercise in EXERCISES:
        if exercise.name == wanted:
            return exercise
    raise ValueError(f"unknown exercise {name!r}; known exercises: {', '.join(exercise_names())}")


def check_exercise(name: str, solution: str | Path) -> CheckResult:
    """Check the solution file ``solution`` of the exercise ``name``.

    Raises:
        ValueError: an unknown exercise, or a solution file that does not exist.
    """
    return run_exercise(get_exercise(name), Path(solution))
