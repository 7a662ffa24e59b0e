"""How well zero-shot detectors tell a language model's text from human text (no watermark).

The comparison is made on the *same prefixes*, so that topic and style cannot tell the two
apart: each human text is cut into a prefix of ``prefix_tokens`` tokens and the next (at most
``max_tokens``) tokens, the human continuation; the model continues the same prefix as raw text
(no chat template, no watermark) and its continuation is cut to the human continuation's
length (:func:`same_prefix_texts`). :func:`detector_auc` then scores every continuation given
its prefix (the prefix is read, not scored) with Fast-DetectGPT, the mean log-likelihood and the
mean log-rank, and reports per detector the ROC AUC and the true-positive rate at a 1%
false-positive rate on the human continuations, on the clean model continuations and after the
edits of :func:`aisec.genai.attacks.text_edits`, token substitution and deletion.

Reference: Bao et al., "Fast-DetectGPT: Efficient Zero-Shot Detection of Machine-Generated Text
via Conditional Probability Curvature", ICLR 2024.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from aisec.checks import check_int
from aisec.evaluate.genai import generate_watermarked
from aisec.genai import attacks
from aisec.genai.detect import DETECTORS, MIN_SCORED_TOKENS, TextScores, roc_auc, score_ids
from aisec.models.language import LanguageModel
from aisec.stats import Rate

__all__ = [
    "MAX_FPR",
    "MIN_CONTINUATION_TOKENS",
    "DetectorAUC",
    "SamePrefixTexts",
    "detector_auc",
    "rate_above",
    "same_prefix_texts",
    "threshold_at_fpr",
]

MAX_FPR = 0.01
"""The false-positive budget of the reported true-positive rate (1% of the human texts)."""

MIN_CONTINUATION_TOKENS = 16
"""Human continuations shorter than this are left out (with their prefix)."""


def threshold_at_fpr(human: np.ndarray | Sequence[float], max_fpr: float = MAX_FPR) -> float:
    """The smallest score with at most ``max_fpr`` of the ``human`` scores strictly above it.

    With ``n`` human scores, ``k = floor(max_fpr * n)`` of them may lie above the threshold,
    so the threshold is the ``(k + 1)``-th largest human score (ties with it are not above).
    With fewer than ``1 / max_fpr`` human texts, ``k = 0``: the largest human score.

    Raises:
        ValueError: no human score, a non-finite one, or ``max_fpr`` outside ``[0, 1)``.
    """
    if isinstance(max_fpr, bool) or not isinstance(max_fpr, (int, float)):
        raise TypeError(f"max_fpr must be a float, got {type(max_fpr).__name__}")
    if not 0 <= max_fpr < 1:
        raise ValueError(f"max_fpr must be in [0, 1), got {max_fpr}")
    scores = np.asarray(human, dtype=float)
    if scores.ndim != 1 or scores.size == 0:
        raise ValueError("threshold_at_fpr needs a non-empty 1-D array of human scores")
    if not np.isfinite(scores).all():
        raise ValueError("threshold_at_fpr got a non-finite human score")
    allowed = math.floor(max_fpr * scores.size + 1e-9)
    return float(np.sort(scores)[::-1][allowed])


def rate_above(scores: np.ndarray | Sequence[float], threshold: float) -> Rate:
    """How many of ``scores`` lie strictly above ``threshold``, out of all of them."""
    values = np.asarray(scores, dtype=float)
    return Rate(int((values > threshold).sum()), int(values.size))


@dataclass(frozen=True)
class SamePrefixTexts:
    """Human and model continuations of the same prefixes, as token ids.

    Attributes:
        prefixes: ``(prefix_tokens,)`` ids, the start of each human text.
        human: ``(L_i,)`` ids, the human text's next tokens after prefix ``i``.
        machine: ``(L_i,)`` ids, the model's own continuation of prefix ``i``, cut to
            ``L_i`` tokens (the human continuation's length).
    """

    prefixes: tuple[Tensor, ...]
    human: tuple[Tensor, ...]
    machine: tuple[Tensor, ...]

    def __post_init__(self) -> None:
        if not (len(self.prefixes) == len(self.human) == len(self.machine) > 0):
            raise ValueError(
                "SamePrefixTexts needs as many (at least one) prefixes, human and machine "
                f"continuations, got {len(self.prefixes)}, {len(self.human)}, "
                f"{len(self.machine)}"
            )


def same_prefix_texts(
    lm: LanguageModel,
    texts: Sequence[str],
    *,
    prefix_tokens: int = 32,
    max_tokens: int = 64,
    seed: int = 0,
    top_k: int = 50,
    batch_size: int = 32,
) -> SamePrefixTexts:
    """Cut human texts into prefixes and continuations; let the model continue each prefix.

    A text counts only if it has at least ``prefix_tokens + MIN_CONTINUATION_TOKENS`` tokens.
    Its first ``prefix_tokens`` tokens are the prefix and the next (up to ``max_tokens``) the
    human continuation. The model continues the prefix as raw text (no chat template, no
    watermark: :func:`~aisec.evaluate.genai.generate_watermarked` on the prefix ids,
    ``max_tokens`` new tokens, EOS suppressed) and its continuation is cut to the human one's
    length.

    Args:
        lm: the model that continues the prefixes.
        texts: human-written texts.
        prefix_tokens: tokens of each prefix (at least 1).
        max_tokens: the longest continuation (at least ``MIN_CONTINUATION_TOKENS``).
        seed: sampling seed.
        top_k: sample among the ``top_k`` most likely tokens.
        batch_size: prefixes per ``generate`` call (the prefixes have one length, so a batch
            needs no padding, and on a CPU a large batch costs little more than a small one).

    Returns:
        The :class:`SamePrefixTexts`, in the order of the texts that count.

    Raises:
        ValueError: a bad size, or no text long enough.
    """
    check_int("prefix_tokens", prefix_tokens, 1)
    check_int("max_tokens", max_tokens, MIN_CONTINUATION_TOKENS)
    prefixes: list[Tensor] = []
    human: list[Tensor] = []
    for text in texts:
        ids = lm.encode(text)
        if len(ids) >= prefix_tokens + MIN_CONTINUATION_TOKENS:
            prefixes.append(ids[:prefix_tokens])
            human.append(ids[prefix_tokens : prefix_tokens + max_tokens])
    if not prefixes:
        raise ValueError(
            f"no human text has the {prefix_tokens} + {MIN_CONTINUATION_TOKENS} tokens of a "
            "prefix and a continuation"
        )
    generated = generate_watermarked(
        lm,
        None,
        prefixes,
        max_new_tokens=max_tokens,
        seed=seed,
        top_k=top_k,
        batch_size=batch_size,
    )
    machine = [ids[: len(h)] for ids, h in zip(generated, human, strict=True)]
    return SamePrefixTexts(prefixes=tuple(prefixes), human=tuple(human), machine=tuple(machine))


@dataclass(frozen=True)
class DetectorAUC:
    """Zero-shot detectors on human vs model continuations of the same prefixes.

    Every continuation is scored given its prefix. A detector's threshold is set on the human
    continuations alone (:func:`threshold_at_fpr` at :data:`MAX_FPR`), the same for every
    variant of the model text.

    Attributes:
        human_texts: human continuations scored (one per prefix).
        machine_texts: model continuations scored (one per prefix, clean).
        max_tokens: the longest continuation.
        prefix_tokens: tokens of each prefix (read, not scored).
        auc: per variant of the model text (``"clean"``, ``"substitution 20%"``, ...), per
            detector, the ROC AUC (1: every model text scores above every human text).
        tpr_at_1fpr: per variant, per detector, the model continuations scored above the
            detector's threshold, out of that variant's scored continuations.
        thresholds: per detector, the threshold at a 1% false-positive rate.
        false_positives: per detector, the human continuations above the threshold (the
            realised false-positive rate, at most 1%; 0 with fewer than 100 human texts).
    """

    human_texts: int
    machine_texts: int
    max_tokens: int
    prefix_tokens: int
    auc: Mapping[str, Mapping[str, float]]
    tpr_at_1fpr: Mapping[str, Mapping[str, Rate]]
    thresholds: Mapping[str, float]
    false_positives: Mapping[str, Rate]

    def to_dict(self) -> dict[str, Any]:
        """``{"human_texts", "machine_texts", "max_tokens", "prefix_tokens", "auc": {variant:
        {detector: auc}}, "tpr_at_1fpr": {variant: {detector: Rate dict}},
        "threshold_at_1fpr": {detector: threshold}, "fpr_at_1fpr": {detector: Rate dict}}``
        (a Rate dict is :meth:`aisec.stats.Rate.to_dict`: ``rate``, ``count``, ``n``,
        ``ci95``)."""
        return {
            "human_texts": self.human_texts,
            "machine_texts": self.machine_texts,
            "max_tokens": self.max_tokens,
            "prefix_tokens": self.prefix_tokens,
            "auc": {name: dict(values) for name, values in self.auc.items()},
            "tpr_at_1fpr": {
                name: {d: rate.to_dict() for d, rate in values.items()}
                for name, values in self.tpr_at_1fpr.items()
            },
            "threshold_at_1fpr": dict(self.thresholds),
            "fpr_at_1fpr": {d: rate.to_dict() for d, rate in self.false_positives.items()},
        }

    def rows(self) -> list[dict[str, Any]]:
        """One row per variant of the model text: ``{"text", "<detector> AUC": auc,
        "<detector> TPR@1%FPR": Rate, ...}``."""
        rows = []
        for name, values in self.auc.items():
            row: dict[str, Any] = {"text": name}
            for detector, auc in values.items():
                row[f"{detector} AUC"] = auc
                row[f"{detector} TPR@1%FPR"] = self.tpr_at_1fpr[name][detector]
            rows.append(row)
        return rows

    def threshold_rows(self) -> list[dict[str, Any]]:
        """Per detector: its threshold and the human texts above it (``"false-positive rate"``,
        a Rate)."""
        return [
            {
                "detector": detector,
                "threshold": self.thresholds[detector],
                "false-positive rate": self.false_positives[detector],
            }
            for detector in self.thresholds
        ]


def _variants(lm: LanguageModel, machine: Sequence[Tensor], seed: int) -> dict[str, list[Tensor]]:
    """The clean model continuations and their attacked versions (text edits re-encoded and
    cut to the clean continuation's length)."""
    variants: dict[str, list[Tensor]] = {"clean": list(machine)}
    variants["substitution 20%"] = [
        attacks.substitute_tokens(s, 0.2, lm.vocab_size, seed=seed + i)
        for i, s in enumerate(machine)
    ]
    variants["deletion 20%"] = [
        attacks.delete_tokens(s, 0.2, seed=seed + i) for i, s in enumerate(machine)
    ]
    for name, attack in attacks.text_edits(seed).items():
        variants[name] = [lm.encode(attack(lm.decode(s)))[: len(s)] for s in machine]
    return variants


def _score_given_prefix(
    lm: LanguageModel, prefixes: Sequence[Tensor], continuations: Sequence[Tensor]
) -> TextScores:
    """Scores of each continuation given its prefix (pairs too short to score are left out)."""
    pairs = [
        (p, c) for p, c in zip(prefixes, continuations, strict=True) if len(c) >= MIN_SCORED_TOKENS
    ]
    return score_ids(
        lm.model,
        [torch.cat([p, c]) for p, c in pairs],
        pad_id=int(lm.tokenizer.pad_token_id or 0),
        context_lengths=[len(p) for p, _ in pairs],
    )


def detector_auc(lm: LanguageModel, texts: SamePrefixTexts, *, seed: int = 0) -> DetectorAUC:
    """ROC AUC and TPR at 1% FPR of each zero-shot detector, human vs model continuations.

    Each continuation (``prefix + continuation`` through the model, only the continuation's
    tokens scored) is scored given its prefix, so human and model text are judged in the same
    context. The model continuations are also scored after token substitution and deletion
    (20%) and the text edits of :func:`aisec.genai.attacks.text_edits`; an attacked
    continuation left with fewer than ``MIN_SCORED_TOKENS`` tokens is left out of its variant.

    Args:
        lm: the scoring model (the one that wrote ``texts.machine``).
        texts: the continuations (:func:`same_prefix_texts`).
        seed: seed of the attacks (continuation ``i`` of a token attack uses ``seed + i``).

    Returns:
        A :class:`DetectorAUC`.
    """
    if not isinstance(texts, SamePrefixTexts):
        raise TypeError(f"texts must be SamePrefixTexts, got {type(texts).__name__}")
    human = _score_given_prefix(lm, texts.prefixes, texts.human)
    thresholds = {d: threshold_at_fpr(human.get(d)) for d in DETECTORS}
    auc: dict[str, dict[str, float]] = {}
    tpr: dict[str, dict[str, Rate]] = {}
    for name, continuations in _variants(lm, texts.machine, seed).items():
        scores = _score_given_prefix(lm, texts.prefixes, continuations)
        auc[name] = {d: roc_auc(human.get(d), scores.get(d)) for d in DETECTORS}
        tpr[name] = {d: rate_above(scores.get(d), thresholds[d]) for d in DETECTORS}
    return DetectorAUC(
        human_texts=len(texts.human),
        machine_texts=len(texts.machine),
        max_tokens=max(len(h) for h in texts.human),
        prefix_tokens=max(len(p) for p in texts.prefixes),
        auc=auc,
        tpr_at_1fpr=tpr,
        thresholds=thresholds,
        false_positives={d: rate_above(human.get(d), thresholds[d]) for d in DETECTORS},
    )
