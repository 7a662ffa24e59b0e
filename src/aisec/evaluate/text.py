"""Measurements of text attacks and defenses on objects: a run's rates and the sanitizer's effect.

- :func:`attack_rates`: the rates of an attack run (clean accuracy, success rate, accuracy
  under attack), each as a :class:`~aisec.stats.Rate` with its sample size;
- :func:`sanitizer_effect`: the victim's accuracy on a run's adversarial texts once they are
  sanitized, and how many of the successful ones the sanitizer flagged. This is a
  *non-adaptive* check (the attacker did not see the sanitizer); attacking a
  :class:`~aisec.defenses.text.SanitizedClassifier` is the adaptive one.

Nothing here loads a model or data by name: experiments (:mod:`aisec.experiments.text`) do.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from aisec.attacks.text.attack import AttackRun, AttackSummary
from aisec.defenses.text.sanitizer import Sanitizer
from aisec.models.text import TextClassifier
from aisec.stats import Rate

__all__ = ["AttackRates", "SanitizerEffect", "attack_rates", "sanitizer_effect"]


def _float32(rate: Rate) -> float:
    """``rate.value`` rounded to float32 (NaN for an empty sample)."""
    if rate.total == 0:
        return math.nan
    return float(torch.tensor(rate.count / rate.total, dtype=torch.float32))


@dataclass(frozen=True)
class AttackRates:
    """The rates of one attack run.

    Attributes:
        clean_accuracy: originals the victim classifies correctly, of all examples.
        success_rate: successful attacks, of the attacked examples (the correctly classified
            ones).
        accuracy_under_attack: examples still correct after the attack, of all examples.
    """

    clean_accuracy: Rate
    success_rate: Rate
    accuracy_under_attack: Rate


def attack_rates(summary: AttackSummary) -> AttackRates:
    """The :class:`AttackRates` of an attack run's summary (values equal the summary's)."""
    attacked = summary.succeeded + summary.failed
    return AttackRates(
        clean_accuracy=Rate(summary.examples - summary.skipped, summary.examples),
        success_rate=Rate(summary.succeeded, attacked),
        accuracy_under_attack=Rate(summary.failed, summary.examples),
    )


@dataclass(frozen=True)
class SanitizerEffect:
    """What sanitizing a run's adversarial texts does.

    Attributes:
        accuracy: adversarial texts (the originals where the attack was skipped or failed)
            that the victim classifies correctly after :meth:`Sanitizer.clean`, of all
            examples of the run.
        flagged: successful adversarial texts the sanitizer reported findings for, of the
            successful ones.
    """

    accuracy: Rate
    flagged: Rate

    def to_dict(self) -> dict[str, float]:
        """``sanitized_accuracy`` and ``sanitizer_flagged`` as numbers (NaN when undefined).

        ``sanitized_accuracy`` is the mean of the victim's correct predictions in float32, as
        it has always been reported, so stored numbers stay comparable.
        """
        return {
            "sanitized_accuracy": _float32(self.accuracy),
            "sanitizer_flagged": self.flagged.value,
        }


def sanitizer_effect(
    model: TextClassifier, run: AttackRun, sanitizer: Sanitizer | None = None
) -> SanitizerEffect:
    """Accuracy on a run's adversarial texts after sanitizing, and how many were flagged.

    Args:
        model: the victim the run attacked.
        run: the attack run (its per-example results).
        sanitizer: the sanitizer (default :class:`Sanitizer`).

    Returns:
        The :class:`SanitizerEffect` (empty rates for a run without examples).

    Reference: Boucher et al., "Bad Characters: Imperceptible NLP Attacks", IEEE S&P 2022,
    Sec. VIII (defenses).
    """
    sanitizer = sanitizer if sanitizer is not None else Sanitizer()
    if not run.results:
        return SanitizerEffect(Rate(0, 0), Rate(0, 0))
    cleaned = [sanitizer.clean(r.adversarial) for r in run.results]
    predictions = model.predict_proba([c for c, _ in cleaned]).argmax(1)
    labels = torch.tensor([r.label for r in run.results])
    flagged = [
        bool(f) for r, (_, f) in zip(run.results, cleaned, strict=True) if r.status == "succeeded"
    ]
    return SanitizerEffect(accuracy=Rate.of(predictions == labels), flagged=Rate.of(flagged))
