"""How well zero-shot detectors tell a language model's text from human text (no watermark).

:func:`detector_auc` scores human texts and pieces of the model's own (unwatermarked)
generations with Fast-DetectGPT, the mean log-likelihood and the mean log-rank, and reports each
detector's ROC AUC on the clean model text and after the edits of
:func:`aisec.genai.attacks.text_edits`, token substitution and deletion.

Reference: Bao et al., "Fast-DetectGPT: Efficient Zero-Shot Detection of Machine-Generated Text
via Conditional Probability Curvature", ICLR 2024.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from torch import Tensor

from aisec.genai import attacks
from aisec.genai.detect import DETECTORS, roc_auc, score_ids
from aisec.models.language import LanguageModel

__all__ = ["DetectorAUC", "detector_auc"]


@dataclass(frozen=True)
class DetectorAUC:
    """ROC AUC of the zero-shot detectors, human vs model text, clean and attacked.

    Attributes:
        human_texts: human texts scored.
        machine_texts: model texts scored (pieces of the generations).
        max_tokens: the longest scored piece.
        auc: per variant of the model text (``"clean"``, ``"substitution 20%"``, ...), per
            detector, the ROC AUC (1: every model text scores above every human text).
    """

    human_texts: int
    machine_texts: int
    max_tokens: int
    auc: Mapping[str, Mapping[str, float]]

    def to_dict(self) -> dict[str, Any]:
        """``{"human_texts", "machine_texts", "max_tokens", "auc": {variant: {detector: auc}}}``."""
        return {
            "human_texts": self.human_texts,
            "machine_texts": self.machine_texts,
            "max_tokens": self.max_tokens,
            "auc": {name: dict(values) for name, values in self.auc.items()},
        }

    def rows(self) -> list[dict[str, Any]]:
        """One row per variant of the model text: ``{"text", <detector>: auc, ...}``."""
        return [{"text": name} | dict(values) for name, values in self.auc.items()]


def detector_auc(
    lm: LanguageModel,
    human: Sequence[str],
    machine_ids: Sequence[Tensor],
    *,
    max_tokens: int = 64,
    seed: int = 0,
) -> DetectorAUC:
    """ROC AUC of each zero-shot detector, human text vs (plain) model text, clean and attacked.

    Human texts are cut to ``max_tokens`` tokens and model generations into consecutive pieces
    of ``max_tokens`` tokens; pieces shorter than 16 tokens are left out.

    Args:
        lm: the scoring model (the one that generated ``machine_ids``).
        human: human-written texts.
        machine_ids: ``(L_i,)`` ids of the model's plain (unwatermarked) generations.
        max_tokens: the longest scored piece.
        seed: seed of the attacks.

    Returns:
        A :class:`DetectorAUC`.
    """
    pad = int(lm.tokenizer.pad_token_id or 0)
    human_ids = [ids[:max_tokens] for ids in (lm.encode(t) for t in human) if len(ids) >= 16]
    # Long generations are cut into consecutive max_tokens pieces: more texts per generation.
    machine = [
        ids[start : start + max_tokens]
        for ids in machine_ids
        for start in range(0, len(ids), max_tokens)
        if len(ids[start : start + max_tokens]) >= 16
    ]
    if not human_ids or not machine:
        raise ValueError("detector_auc needs at least one human and one model text of 16+ tokens")
    human_scores = score_ids(lm.model, human_ids, pad_id=pad)
    variants: dict[str, list[Tensor]] = {"clean": machine}
    variants["substitution 20%"] = [
        attacks.substitute_tokens(s, 0.2, lm.vocab_size, seed=seed + i)
        for i, s in enumerate(machine)
    ]
    variants["deletion 20%"] = [
        attacks.delete_tokens(s, 0.2, seed=seed + i) for i, s in enumerate(machine)
    ]
    for name, attack in attacks.text_edits(seed).items():
        variants[name] = [lm.encode(attack(lm.decode(s)))[:max_tokens] for s in machine]
    table: dict[str, dict[str, float]] = {}
    for name, seqs in variants.items():
        scores = score_ids(lm.model, [s for s in seqs if len(s) >= 5], pad_id=pad)
        table[name] = {d: roc_auc(human_scores.get(d), scores.get(d)) for d in DETECTORS}
    return DetectorAUC(
        human_texts=len(human_ids), machine_texts=len(machine), max_tokens=max_tokens, auc=table
    )
