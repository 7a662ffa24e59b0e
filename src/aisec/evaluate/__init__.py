"""Pure measurements on objects: worst-case robustness, defenses, detection, sanity checks.

Each function takes a model, data and attacks (objects, never names) and returns a typed report.
The topic modules :mod:`.physical`, :mod:`.certify`, :mod:`.poisoning`, :mod:`.text`,
:mod:`.genai` (watermarks) and :mod:`.generated_text` (zero-shot detectors) hold the
measurements of the other experiments.
"""

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
    DetectorAwareLoss,
    SqueezingReport,
    detector_aware_pgd,
    evaluate_feature_squeezing,
)
from aisec.evaluate.robustness import (
    AttackStage,
    RobustnessReport,
    default_suite,
    evaluate_robustness,
    merge_robustness_reports,
    robustness_sanity_checks,
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
    "DefenseCase",
    "DefenseReport",
    "DefenseStage",
    "DefenseTable",
    "DetectionOutcome",
    "DetectorAwareLoss",
    "ExpectationModel",
    "RobustnessReport",
    "RobustnessWarning",
    "SqueezingReport",
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
    "merge_robustness_reports",
    "robustness_sanity_checks",
    "run_attack",
]
