"""Robustness evaluation: attack suites, worst-case robust accuracy and sanity checks."""

from __future__ import annotations

from aisec.evaluate.robustness import (
    AttackStage,
    RobustnessReport,
    default_suite,
    evaluate_robustness,
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
    "AttackStage",
    "RobustnessReport",
    "RobustnessWarning",
    "check_blackbox_beats_whitebox",
    "check_gradients",
    "check_output_kind",
    "check_randomness",
    "default_suite",
    "evaluate_robustness",
    "run_attack",
]
