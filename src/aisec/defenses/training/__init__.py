"""Robust training: PGD-AT, TRADES, fast FGSM-RS AT and Gaussian-noise training.

Each method is a frozen dataclass implementing :class:`aisec.models.training.StepLoss`: pass it
to :func:`aisec.models.train_classifier` as ``step_loss`` (seeded per step, checkpointed every
epoch, resumable to identical weights), or train a zoo model's variant with
:func:`aisec.zoo.train_variant` (``aisec train signs-cnn --adv pgd --eps 8/255``).
"""

from __future__ import annotations

from aisec.defenses.training.fast_at import FastAdversarialTraining
from aisec.defenses.training.noise import GaussianNoiseTraining
from aisec.defenses.training.pgd_at import PGDAdversarialTraining
from aisec.defenses.training.trades import TRADES

__all__ = [
    "TRADES",
    "FastAdversarialTraining",
    "GaussianNoiseTraining",
    "PGDAdversarialTraining",
]
