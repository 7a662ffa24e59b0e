"""Robust training: PGD-AT, TRADES, fast FGSM-RS AT and Gaussian-noise training.

Each method is a frozen dataclass implementing :class:`aisec.models.training.StepLoss`: pass it
to :func:`aisec.models.train_classifier` as ``step_loss`` (seeded per step, checkpointed every
epoch, resumable to identical weights), or train a zoo model's variant with
:func:`train_variant` (``aisec train signs-cnn --adv pgd --eps 8/255``).
"""

from __future__ import annotations

from aisec.defenses.training.fast_at import FastAdversarialTraining
from aisec.defenses.training.noise import GaussianNoiseTraining
from aisec.defenses.training.pgd_at import PGDAdversarialTraining
from aisec.defenses.training.trades import TRADES
from aisec.defenses.training.variants import (
    METHODS,
    OverfittingMonitor,
    VariantResult,
    make_objective,
    pgd_accuracy,
    train_variant,
    variant_name,
)

__all__ = [
    "METHODS",
    "TRADES",
    "FastAdversarialTraining",
    "GaussianNoiseTraining",
    "OverfittingMonitor",
    "PGDAdversarialTraining",
    "VariantResult",
    "make_objective",
    "pgd_accuracy",
    "train_variant",
    "variant_name",
]
