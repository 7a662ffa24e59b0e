"""Robustness evaluation: attack suites, worst-case robust accuracy and sanity checks."""

from __future__ import annotations

from aisec.evaluate.defenses import (
    DefenseCase,
    DefenseReport,
    DefenseStage,
    DefenseTable,
    ExpectationModel,
    compare_defenses,
    evaluate_defense,
)
from aisec.evaluate.detection import (
    DetectionOutcome,
    SqueezingReport,
    detector_aware_pgd,
    evaluate_feature_squeezing,
)
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
    "DefenseCase",
    "DefenseReport",
    "DefenseStage",
    "DefenseTable",
    "DetectionOutcome",
    "ExpectationModel",
    "RobustnessReport",
    "RobustnessWarning",
    "SqueezingReport",
    "Task",
    "check_blackbox_beats_whitebox",
    "check_gradients",
    "check_output_kind",
    "check_randomness",
    "compare_defenses",
    "default_suite",
    "detector_aware_pgd",
    "evaluate_defense",
    "evaluate_feature_squeezing",
    "evaluate_robustness",
    "load_task",
    "make_attack",
    "run_attack",
]
