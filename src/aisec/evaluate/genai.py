"""Measurements of watermarks and generated-text detectors on a language model object.

- :func:`generate_watermarked`: generations with and without the watermark (EOS suppressed, so
  every sample reaches the requested length), of chat prompts or of raw token-id prefixes;
  :func:`emoji_attack_samples`: the emoji attack.
- :func:`detection_vs_length`: detection rate at ``z > 4`` on the first ``T`` tokens.
- :func:`false_positive_rate`: verdicts on human text; none should be "watermarked".
- :func:`perplexity_cost`: the generated text's perplexity under the same model without the
  bias, per delta: the quality price of the watermark.
- :func:`watermark_robustness`: detection after token substitution and deletion, synonym swaps,
  homoglyphs and zero-width characters (with and without the normalizer), emoji insertion and
  the generation-time emoji attack.

The zero-shot detectors (no watermark) are measured by :mod:`aisec.evaluate.generated_text`.

Every function takes a :class:`~aisec.models.language.LanguageModel` and texts or token ids (no
names, no files) and returns a typed result whose ``to_dict()`` is JSON-ready.

Reference: Kirchenbauer et al., "A Watermark for Large Language Models", ICML 2023.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from aisec.genai import attacks
from aisec.genai.watermark.detect import (
    DEFAULT_Z_THRESHOLD,
    NotEnoughTokensError,
    detect,
    detect_text,
)
from aisec.genai.watermark.processor import WatermarkLogitsProcessor
from aisec.genai.watermark.scheme import WatermarkScheme
from aisec.models.language import LanguageModel
from aisec.stats import Rate

__all__ = [
    "Z_THRESHOLD",
    "Detection",
    "FalsePositives",
    "LengthCurve",
    "PerplexityCost",
    "PerplexityRow",
    "WatermarkRobustness",
    "detection_vs_length",
    "emoji_attack_samples",
    "false_positive_rate",
    "generate_watermarked",
    "perplexity_cost",
    "watermark_robustness",
]

Z_THRESHOLD = DEFAULT_Z_THRESHOLD
"""The verdict threshold of every measurement here: a text is "watermarked" when ``z > 4``
(strictly, as the reference detector), with repeated n-grams counted once (the detector's
default)."""


@dataclass(frozen=True)
class Detection:
    """Watermark verdicts (``z > 4``) on a set of texts.

    Attributes:
        detected: texts with ``z > 4``.
        decided: texts with enough scored tokens for a verdict.
        mean_z: their mean z-score (``None`` when none was decided).
    """

    detected: int
    decided: int
    mean_z: float | None

    @classmethod
    def of(cls, zs: Sequence[float | None]) -> Detection:
        """Verdicts from z-scores (``None``: too few tokens to decide, left out)."""
        decided = [z for z in zs if z is not None]
        return cls(
            detected=int(sum(z > Z_THRESHOLD for z in decided)),
            decided=len(decided),
            mean_z=float(np.mean(decided)) if decided else None,
        )

    @property
    def rate(self) -> Rate | None:
        """The detection rate with its sample size (``None`` when none was decided)."""
        return Rate(self.detected, self.decided) if self.decided else None

    @property
    def detection_rate(self) -> float | None:
        """``detected / decided`` (``None`` when none was decided)."""
        return self.detected / self.decided if self.decided else None

    def to_dict(self) -> dict[str, Any]:
        """``{"detection_rate", "mean_z", "decided"}``."""
        return {
            "detection_rate": self.detection_rate,
            "mean_z": self.mean_z,
            "decided": self.decided,
        }


@dataclass(frozen=True)
class LengthCurve:
    """Detection against the number of scored tokens.

    Attributes:
        lengths: the prefix lengths ``T``.
        points: per length, the verdicts on the samples' first ``T`` tokens.
    """

    lengths: tuple[int, ...]
    points: tuple[Detection, ...]

    def to_dict(self) -> dict[str, Any]:
        """``{"lengths", "detection_rate", "mean_z"}``, one list entry per length."""
        return {
            "lengths": list(self.lengths),
            "detection_rate": [p.detection_rate for p in self.points],
            "mean_z": [p.mean_z for p in self.points],
        }


@dataclass(frozen=True)
class FalsePositives:
    """Watermark verdicts on human-written texts of one source.

    Attributes:
        source: where the texts come from (e.g. ``"tweets"``).
        texts: texts tested.
        decided: texts long enough for a verdict.
        false_positives: decided texts with ``z > 4``.
        max_z: the largest z-score (``None`` when none was decided).
        mean_z: the mean z-score (``None`` when none was decided).
    """

    source: str
    texts: int
    decided: int
    false_positives: int
    max_z: float | None
    mean_z: float | None

    @property
    def rate(self) -> Rate | None:
        """The false-positive rate with its sample size (``None`` when none was decided)."""
        return Rate(self.false_positives, self.decided) if self.decided else None

    @property
    def fpr(self) -> float | None:
        """``false_positives / decided`` (``None`` when none was decided)."""
        return self.false_positives / self.decided if self.decided else None

    def to_dict(self) -> dict[str, Any]:
        """``{"texts", "decided", "false_positives", "fpr", "max_z", "mean_z"}``."""
        return {
            "texts": self.texts,
            "decided": self.decided,
            "false_positives": self.false_positives,
            "fpr": self.fpr,
            "max_z": self.max_z,
            "mean_z": self.mean_z,
        }


@dataclass(frozen=True)
class PerplexityRow:
    """Perplexity and detection of the text generated at one delta.

    Attributes:
        delta: the green-list bias (0: no watermark).
        perplexity: mean perplexity under the unbiased model, given the prompt.
        mean_z: mean z-score.
        detected: texts with ``z > 4``.
        texts: texts with a verdict (all generated texts unless one is too repetitive to
            leave enough distinct n-grams).
    """

    delta: float
    perplexity: float
    mean_z: float
    detected: int
    texts: int

    @property
    def rate(self) -> Rate:
        """The detection rate with its sample size."""
        return Rate(self.detected, self.texts)

    def to_dict(self) -> dict[str, Any]:
        """``{"delta", "perplexity", "mean_z", "detection_rate"}``."""
        return {
            "delta": self.delta,
            "perplexity": self.perplexity,
            "mean_z": self.mean_z,
            "detection_rate": self.detected / self.texts if self.texts else None,
        }


@dataclass(frozen=True)
class PerplexityCost:
    """The quality price of the watermark: one :class:`PerplexityRow` per delta.

    Attributes:
        gamma: the green-list fraction.
        max_new_tokens: tokens per generated text.
        rows: one row per delta.
    """

    gamma: float
    max_new_tokens: int
    rows: tuple[PerplexityRow, ...]

    def to_dict(self) -> dict[str, Any]:
        """``{"gamma", "max_new_tokens", "rows": [...]}``."""
        return {
            "gamma": self.gamma,
            "max_new_tokens": self.max_new_tokens,
            "rows": [row.to_dict() for row in self.rows],
        }


@dataclass(frozen=True)
class WatermarkRobustness:
    """Detection of watermarked samples before and after each attack.

    Attributes:
        clean: no attack.
        substitution: per edit rate, after replacing that fraction of tokens at random.
        deletion: per edit rate, after deleting that fraction of tokens.
        text: per text attack, ``{"raw": ..., "normalized": ...}``: scored without and with the
            detector's Unicode normalizer.
        emoji: the generation-time emoji attack (``None`` when not run).
    """

    clean: Detection
    substitution: Mapping[float, Detection]
    deletion: Mapping[float, Detection]
    text: Mapping[str, Mapping[str, Detection]]
    emoji: Detection | None

    def to_dict(self) -> dict[str, Any]:
        """``{"clean", "substitution", "deletion", "text"[, "emoji attack (generation)"]}``.

        Edit rates are keys as text (``"0.1"``); each value is :meth:`Detection.to_dict`.
        """
        out: dict[str, Any] = {
            "clean": self.clean.to_dict(),
            "substitution": {str(r): d.to_dict() for r, d in self.substitution.items()},
            "deletion": {str(r): d.to_dict() for r, d in self.deletion.items()},
            "text": {
                name: {kind: d.to_dict() for kind, d in row.items()}
                for name, row in self.text.items()
            },
        }
        if self.emoji is not None:
            out["emoji attack (generation)"] = self.emoji.to_dict()
        return out

    def rows(self) -> list[dict[str, Any]]:
        """One row per attack: ``{"attack", "detection rate" (Rate), "mean z", "decided"}``."""
        cases: list[tuple[str, Detection]] = [("none", self.clean)]
        for name, table in (("substitution", self.substitution), ("deletion", self.deletion)):
            cases.extend((f"{name} {float(r):.0%}", d) for r, d in table.items())
        for name, row in self.text.items():
            cases.extend((f"{name} ({kind})", d) for kind, d in row.items())
        if self.emoji is not None:
            cases.append(("emoji attack (generation)", self.emoji))
        return [
            {"attack": name, "detection rate": d.rate, "mean z": d.mean_z, "decided": d.decided}
            for name, d in cases
        ]


def generate_watermarked(
    lm: LanguageModel,
    scheme: WatermarkScheme | None,
    prompts: Sequence[str | Tensor],
    *,
    max_new_tokens: int,
    seed: int = 0,
    batch_size: int = 8,
    extra_processors: Callable[[int], Sequence[Any]] | None = None,
    top_k: int = 50,
) -> list[Tensor]:
    """Generate ``max_new_tokens`` tokens per prompt (EOS suppressed), watermarked if ``scheme``.

    Prompts go ``batch_size`` at a time, left-padded to the longest (sorted by length, so
    that little padding is needed). Sampling is multinomial at temperature 1 among the
    ``top_k`` best tokens (Hugging Face's default decoding, 50): what users run, and the
    setting zero-shot detectors are meant for (pure ancestral sampling from the scoring model
    itself has a discrepancy of 0 by construction).

    Args:
        lm: the model that generates.
        scheme: the watermark, or ``None`` for plain text.
        prompts: user prompts (``str``, wrapped in the model's chat template), or ``(P,)``
            token ids continued as they are (a raw text prefix: no template).
        max_new_tokens: tokens generated per prompt.
        seed: sampling seed (batch ``b`` uses ``seed + b * batch_size``).
        batch_size: prompts per ``generate`` call.
        extra_processors: called with the padded prompt length ``P`` of each batch; returns
            more logits processors.
        top_k: sample among the ``top_k`` most likely tokens.

    Returns:
        One ``(max_new_tokens,)`` id tensor per prompt, in prompt order.
    """
    encoded = [p if isinstance(p, Tensor) else lm.chat_prompt(p) for p in prompts]
    order = sorted(range(len(encoded)), key=lambda i: int(encoded[i].shape[0]))
    outputs: dict[int, Tensor] = {}
    for start in range(0, len(order), batch_size):
        chunk = order[start : start + batch_size]
        width = max(int(encoded[i].shape[0]) for i in chunk)
        processors: list[Any] = [] if scheme is None else [WatermarkLogitsProcessor(scheme)]
        if extra_processors is not None:
            processors.extend(extra_processors(width))
        results = lm.generate(
            [encoded[i] for i in chunk],
            max_new_tokens=max_new_tokens,
            min_new_tokens=max_new_tokens,
            logits_processors=processors,
            top_k=top_k,
            seed=seed + start,
        )
        for i, result in zip(chunk, results, strict=True):
            outputs[i] = result.new_ids
    return [outputs[i] for i in range(len(encoded))]


def _z_or_none(scheme: WatermarkScheme, ids: Tensor) -> float | None:
    try:
        return detect(scheme, ids).z_score
    except NotEnoughTokensError:
        return None


def detection_vs_length(
    scheme: WatermarkScheme, samples: Sequence[Tensor], lengths: Sequence[int]
) -> LengthCurve:
    """Detection at ``z > 4`` on the first ``T`` tokens of each sample, for each ``T``.

    Args:
        scheme: the watermark to test for.
        samples: ``(L_i,)`` generated token ids; a sample shorter than ``T`` is left out at ``T``.
        lengths: the prefix lengths ``T``.

    Returns:
        A :class:`LengthCurve`.
    """
    points = []
    for length in lengths:
        zs = [_z_or_none(scheme, ids[:length]) for ids in samples if len(ids) >= length]
        points.append(Detection.of(zs))
    return LengthCurve(lengths=tuple(lengths), points=tuple(points))


def false_positive_rate(
    scheme: WatermarkScheme, tokenizer: Any, texts: Mapping[str, Sequence[str]]
) -> tuple[FalsePositives, ...]:
    """Watermark verdicts at ``z > 4`` on human-written texts, per source.

    Args:
        scheme: the watermark to test for.
        tokenizer: the model's tokenizer.
        texts: source -> texts; texts too short to decide are counted but not decided.

    Returns:
        One :class:`FalsePositives` per source, in the order of ``texts``.
    """
    out = []
    for source, items in texts.items():
        zs = []
        for text in items:
            try:
                zs.append(detect_text(scheme, text, tokenizer)[0].z_score)
            except NotEnoughTokensError:
                continue
        verdicts = Detection.of(zs)
        out.append(
            FalsePositives(
                source=source,
                texts=len(items),
                decided=verdicts.decided,
                false_positives=verdicts.detected,
                max_z=max(zs) if zs else None,
                mean_z=verdicts.mean_z,
            )
        )
    return tuple(out)


@torch.no_grad()
def _perplexity(lm: LanguageModel, prompt_ids: Tensor, new_ids: Tensor) -> float:
    ids = torch.cat([prompt_ids, new_ids])[None]
    logits = lm.model(input_ids=ids).logits[0, prompt_ids.shape[0] - 1 : -1].float()
    nll = torch.nn.functional.cross_entropy(logits, new_ids)
    return math.exp(float(nll))


def perplexity_cost(
    lm: LanguageModel,
    prompts: Sequence[str],
    deltas: Sequence[float],
    *,
    gamma: float = 0.25,
    max_new_tokens: int = 100,
    seed: int = 0,
    top_k: int = 50,
    reuse: Mapping[float, Sequence[Tensor]] | None = None,
) -> PerplexityCost:
    """Perplexity (under the unbiased model, given the prompt) and detection of text per delta.

    Args:
        lm: the model that generates and scores.
        prompts: user prompts.
        deltas: green-list biases (0: no watermark); simple_1 seeding.
        gamma: the green-list fraction.
        max_new_tokens: tokens generated per prompt.
        seed: sampling seed.
        top_k: sample among the ``top_k`` most likely tokens.
        reuse: delta -> generations already made with it (same prompts, simple_1, ``gamma`` and
            ``top_k``, at least ``max_new_tokens`` long); their first ``max_new_tokens`` are
            used instead of generating again.

    Returns:
        A :class:`PerplexityCost`.
    """
    rows = []
    for delta in deltas:
        scheme = WatermarkScheme(lm.vocab_size, gamma=gamma, delta=delta)
        if reuse is not None and float(delta) in reuse:
            samples = [ids[:max_new_tokens] for ids in reuse[float(delta)]]
        else:
            samples = generate_watermarked(
                lm,
                scheme if delta > 0 else None,
                prompts,
                max_new_tokens=max_new_tokens,
                seed=seed,
                top_k=top_k,
            )
        ppl = [
            _perplexity(lm, lm.chat_prompt(p), ids) for p, ids in zip(prompts, samples, strict=True)
        ]
        verdicts = Detection.of([_z_or_none(scheme, ids) for ids in samples])
        rows.append(
            PerplexityRow(
                delta=float(delta),
                perplexity=float(np.mean(ppl)),
                mean_z=float(verdicts.mean_z or 0.0),
                detected=verdicts.detected,
                texts=verdicts.decided,
            )
        )
    return PerplexityCost(gamma=gamma, max_new_tokens=max_new_tokens, rows=tuple(rows))


def watermark_robustness(
    lm: LanguageModel,
    scheme: WatermarkScheme,
    samples: Sequence[Tensor],
    *,
    rates: Sequence[float] = (0.1, 0.2, 0.3, 0.4, 0.5),
    emoji_samples: Sequence[Tensor] | None = None,
    seed: int = 0,
) -> WatermarkRobustness:
    """Detection of watermarked ``samples`` after each attack.

    Token-level attacks (substitution, deletion) act on the ids at each rate; text-level
    attacks act on the decoded text and are scored with and without the Unicode normalizer.

    Args:
        lm: the model whose tokenizer decodes and re-encodes the samples.
        scheme: the watermark the samples carry.
        samples: ``(L_i,)`` watermarked token ids.
        rates: fractions of tokens the token-level attacks edit.
        emoji_samples: generations made with
            :class:`~aisec.genai.attacks.EmojiInterleaveProcessor`, separators stripped
            (:func:`emoji_attack_samples`).
        seed: seed of the attacks (sample ``i`` of a token attack uses ``seed + i``).

    Returns:
        A :class:`WatermarkRobustness`.
    """
    clean = Detection.of([_z_or_none(scheme, s) for s in samples])
    substitution = {
        r: Detection.of(
            [
                _z_or_none(
                    scheme, attacks.substitute_tokens(s, r, scheme.vocab_size, seed=seed + i)
                )
                for i, s in enumerate(samples)
            ]
        )
        for r in rates
    }
    deletion = {
        r: Detection.of(
            [
                _z_or_none(scheme, attacks.delete_tokens(s, r, seed=seed + i))
                for i, s in enumerate(samples)
            ]
        )
        for r in rates
    }
    texts = [lm.decode(s) for s in samples]
    text_results: dict[str, dict[str, Detection]] = {}
    for name, attack in attacks.text_edits(seed).items():
        attacked = [attack(t) for t in texts]
        row = {}
        for normalize in (False, True):
            zs: list[float | None] = []
            for text in attacked:
                try:
                    zs.append(
                        detect_text(scheme, text, lm.tokenizer, normalize=normalize)[0].z_score
                    )
                except NotEnoughTokensError:
                    zs.append(None)
            row["normalized" if normalize else "raw"] = Detection.of(zs)
        text_results[name] = row
    emoji = None
    if emoji_samples is not None:
        emoji = Detection.of([_z_or_none(scheme, s) for s in emoji_samples])
    return WatermarkRobustness(
        clean=clean, substitution=substitution, deletion=deletion, text=text_results, emoji=emoji
    )


def emoji_attack_samples(
    lm: LanguageModel,
    scheme: WatermarkScheme,
    prompts: Sequence[str],
    *,
    max_new_tokens: int,
    seed: int = 0,
    top_k: int = 50,
) -> list[Tensor]:
    """Watermarked generations made with an emoji after every token, emojis then removed.

    The emoji attack of Kirchenbauer et al. (2023): the user asks for an emoji after every
    word and deletes them, so each kept token's green list was seeded by an emoji.

    Args:
        lm: the model that generates.
        scheme: the watermark.
        prompts: user prompts.
        max_new_tokens: text tokens per generation (each made with as many emojis).
        seed: sampling seed.
        top_k: sample among the ``top_k`` most likely tokens.

    Returns:
        One id tensor per prompt, without the emoji tokens.
    """
    separator = int(lm.encode(" 🙂")[0])

    def interleave(prompt_length: int) -> list[Any]:
        return [attacks.EmojiInterleaveProcessor(separator, prompt_length)]

    raw = generate_watermarked(
        lm,
        scheme,
        prompts,
        max_new_tokens=2 * max_new_tokens,
        seed=seed,
        extra_processors=interleave,
        top_k=top_k,
    )
    return [attacks.strip_token(ids, separator) for ids in raw]
