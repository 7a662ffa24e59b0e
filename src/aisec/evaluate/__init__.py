"""Robustness evaluation: attack suites, worst-case robust accuracy and sanity checks."""

from __future__ import annotations

from aisec.evaluate.robustness import (
    ATTACK_NAMES,
    AttackStage,
    RobustnessReport,
    Task,
    default_suite,
    evaluate_robustness,
    load_task,
    make_attack,
    run_attack,
)
from aisec.evaluate.sanity import (
    RobustnessWarning,
    check_blackbox_beats_whitebox,
    check_gradients,
    check_output_kind,
    check_randomness,
)

__all__ = [
    "ATTACK_NAMES",
    "AttackStage",
    "RobustnessReport",
    "RobustnessWarning",
    "Task",
    "check_blackbox_beats_whitebox",
    "check_gradients",
    "check_output_kind",
    "check_randomness",
    "default_suite",
    "evaluate_robustness",
    "load_task",
    "make_attack",
    "run_attack",
]
