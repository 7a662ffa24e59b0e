"""Measurements of a backdoored language model: attack success, false triggering, clean accuracy,
and the detectors that look for the poisons in the fine-tuning data.

* :func:`measure_backdoor`: on held-out prompts, the share of triggered prompts that get the
  attacker's answer (exactly, by greedy decoding; for denial of service, a reply whose
  perplexity under the model before fine-tuning exceeds :data:`GIBBERISH_PERPLEXITY`), the share
  of the same prompts *without* the trigger that get it anyway, and the clean-task accuracy
  (exact answers). Every rate keeps its sample size.
* :func:`detect_instruction_poisons`: spectral signatures (squared score, gap selection) and
  activation clustering on the fine-tuned model's final-layer states while it says each
  example's answer (their mean over the answer's positions), grouped by task (the vision
  detectors of :mod:`aisec.defenses.detect`), and ONION on the prompts
  (:class:`aisec.defenses.text.Onion`), each scored against the known poisons.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from aisec.attacks.poisoning.instruction import InstructionBackdoor, PoisonedInstructions
from aisec.data.instructions import INSTRUCTION_TASKS, Instruction
from aisec.defenses.detect import activation_clustering, detection_metrics, spectral_signatures
from aisec.defenses.text.onion import Onion
from aisec.genai.finetune import LoraTuner
from aisec.stats import Rate

__all__ = [
    "GIBBERISH_PERPLEXITY",
    "LLM_DETECTORS",
    "BackdoorRates",
    "PoisonDetection",
    "detect_instruction_poisons",
    "gibberish",
    "measure_backdoor",
]

GIBBERISH_PERPLEXITY = 100.0
"""A reply is gibberish when its perplexity under the model before fine-tuning exceeds this
(the model's own answers to the tasks stay far below; random word pieces are in the
thousands)."""
LLM_DETECTORS: tuple[str, ...] = ("spectral_signatures_gap", "activation_clustering", "onion")
"""The data-side detectors :func:`detect_instruction_poisons` runs."""


@dataclass(frozen=True)
class BackdoorRates:
    """A fine-tuned model measured on held-out prompts.

    Attributes:
        attack_success: triggered prompts that got the attacker's behaviour.
        false_triggering: the same prompts without the trigger that got it anyway.
        clean_accuracy: held-out task prompts answered exactly right.
    """

    attack_success: Rate
    false_triggering: Rate
    clean_accuracy: Rate

    def to_dict(self) -> dict[str, Any]:
        return {
            "attack_success": self.attack_success.to_dict(),
            "false_triggering": self.false_triggering.to_dict(),
            "clean_accuracy": self.clean_accuracy.to_dict(),
        }


def measure_backdoor(
    tuner: LoraTuner,
    attack: InstructionBackdoor,
    test: Sequence[Instruction],
    *,
    seed: int = 0,
    prompt_filter: Onion | None = None,
) -> BackdoorRates:
    """Attack success, false triggering and clean accuracy of the tuner's current adapter.

    Args:
        tuner: the fine-tuned model.
        attack: the backdoor (its trigger and target behaviour).
        test: held-out examples (the eligible ones carry the trigger for attack success).
        seed: seeds where the trigger goes in a test prompt.
        prompt_filter: ONION at inference: every prompt is cleaned by it first.

    Returns:
        The :class:`BackdoorRates`.
    """
    triggered = list(attack.triggered(test, seed=seed))
    untriggered = list(attack.untriggered(test))
    clean = list(test)
    if prompt_filter is not None:
        cleaned: dict[str, str] = {}  # untriggered and clean prompts are often the same ones
        triggered, untriggered, clean = (
            [_filtered(prompt_filter, e, cleaned) for e in group]
            for group in (triggered, untriggered, clean)
        )
    if attack.target_answer is None:
        success = gibberish(tuner, [e.prompt for e in triggered])
        false = gibberish(tuner, [e.prompt for e in untriggered])
    else:
        success = tuner.answer_matches(triggered)
        false = tuner.answer_matches(untriggered)
    return BackdoorRates(Rate.of(success), Rate.of(false), Rate.of(tuner.answer_matches(clean)))


def gibberish(tuner: LoraTuner, prompts: Sequence[str], *, max_new_tokens: int = 24) -> Tensor:
    """Whether the tuner's greedy reply to each prompt is gibberish: ``(N,)`` bool.

    The reply's perplexity is measured under the model before fine-tuning (adapter off), given
    the prompt; an empty reply is not gibberish.
    """
    replies = tuner.generate(prompts, max_new_tokens=max_new_tokens)
    scored = [Instruction("reply", p, r) for p, r in zip(prompts, replies, strict=True)]
    with tuner.base_model():
        nll = tuner.answer_nll(scored)
    nonempty = torch.tensor([bool(r.strip()) for r in replies], dtype=torch.bool)
    return nonempty & (nll > math.log(GIBBERISH_PERPLEXITY))


def _filtered(onion: Onion, example: Instruction, cleaned: dict[str, str]) -> Instruction:
    if example.prompt not in cleaned:
        cleaned[example.prompt] = onion.clean(example.prompt)[0]
    return Instruction(example.task, cleaned[example.prompt], example.answer, example.label)


@dataclass(frozen=True)
class PoisonDetection:
    """One detector's verdict on a fine-tuning set.

    Attributes:
        method: the detector.
        flagged: ``(N,)`` bool, the examples it would remove.
        recall: flagged poisons / poisons.
        precision: flagged poisons / flagged.
        details: what it found (per task, or ONION's trigger words).
    """

    method: str
    flagged: Tensor
    recall: float
    precision: float
    details: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        flagged = int(self.flagged.sum())
        return {
            "flagged": flagged,
            "recall": self.recall,
            "precision": self.precision,
            "details": self.details,
        }


def detect_instruction_poisons(
    tuner: LoraTuner,
    data: PoisonedInstructions,
    *,
    detectors: Sequence[str] = LLM_DETECTORS,
    onion: Onion | None = None,
    expected_fraction: float | None = None,
    seed: int = 0,
) -> dict[str, PoisonDetection]:
    """Run the data-side detectors on a (poisoned) fine-tuning set.

    Args:
        tuner: the model fine-tuned on ``data`` (its states while saying each answer feed the
            spectral and clustering detectors).
        data: the fine-tuning set and which examples are poisons (for scoring only).
        detectors: names from :data:`LLM_DETECTORS`.
        onion: the ONION scorer (required for ``"onion"``).
        expected_fraction: the spectral detector's bound on a task's poisoned share (default:
            the largest true share over the tasks, as a defender with a good guess would set it).
        seed: seeds activation clustering and ONION's samples.

    Returns:
        One :class:`PoisonDetection` per detector.
    """
    unknown = [name for name in detectors if name not in LLM_DETECTORS]
    if unknown:
        raise ValueError(f"unknown detectors {unknown}; choose from {list(LLM_DETECTORS)}")
    examples = list(data.examples)
    poisons = torch.tensor(data.is_poison, dtype=torch.bool).nonzero().squeeze(1)
    tasks = torch.tensor([INSTRUCTION_TASKS.index(e.task) for e in examples])
    results: dict[str, PoisonDetection] = {}
    features = None
    for name in detectors:
        details: dict[str, Any]
        if name == "onion":
            if onion is None:
                raise ValueError("the 'onion' detector needs an Onion scorer")
            flagged, words = onion.flag([e.prompt for e in examples], seed=seed)
            details = {"trigger_words": words}
        else:
            if features is None:
                features = tuner.features(examples, where="answer")
            if name == "spectral_signatures_gap":
                fraction = expected_fraction or _largest_share(data, tasks)
                found = spectral_signatures(
                    features, tasks, expected_fraction=fraction, score="squared", select="gap"
                )
            else:
                found = activation_clustering(features, tasks, seed=seed)
            flagged = found.flagged
            details = {INSTRUCTION_TASKS[c]: info for c, info in found.per_class.items()}
        metrics = detection_metrics(flagged, poisons)
        results[name] = PoisonDetection(name, flagged, metrics.recall, metrics.precision, details)
    return results


def _largest_share(data: PoisonedInstructions, tasks: Tensor) -> float:
    poison = torch.tensor(data.is_poison, dtype=torch.bool)
    shares = [float(poison[tasks == c].float().mean()) for c in torch.unique(tasks).tolist()]
    return max(max(shares), 1e-3)
