"""Watermark a language model's text and test generated-text detectors: plan in, result out.

A :class:`GenAIPlan` holds every size of the evaluation: prompts from the bundled tweets,
generated tokens, the detection-length grid, the perplexity-cost deltas, the human texts of the
false-positive test, the emoji attack and the zero-shot detectors' prefix and continuation
lengths. :func:`run` loads the language model by name and composes the measurements of
:mod:`aisec.evaluate.genai` with a green-list watermark (Kirchenbauer et al., ICML 2023;
simple_1 seeding) and the zero-shot detectors of :mod:`aisec.evaluate.generated_text` on human
and model continuations of the same human prefixes.

The language model and the watermark scheme are resolved from their names by
:mod:`aisec.experiments.names` (``language_model``, ``watermark_scheme``).

Example::

    from aisec.experiments import genai

    result = genai.run(genai.GenAIPlan(n_prompts=2, max_new_tokens=40, lengths=(10, 20, 40)))
    result.rows()       # detection rate against length, watermarked and plain
"""

from __future__ import annotations

import importlib
import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aisec.evaluate.genai import (
    Z_THRESHOLD,
    Detection,
    FalsePositives,
    LengthCurve,
    PerplexityCost,
    WatermarkRobustness,
    detection_vs_length,
    emoji_attack_samples,
    false_positive_rate,
    generate_watermarked,
    perplexity_cost,
    watermark_robustness,
)
from aisec.evaluate.generated_text import DetectorAUC, detector_auc, same_prefix_texts
from aisec.experiments import names
from aisec.experiments.base import check_int
from aisec.genai.watermark import WatermarkScheme
from aisec.models.language import OFFLINE_LANGUAGE_MODEL

__all__ = [
    "DOC_MODULES",
    "GenAIPlan",
    "GenAIResult",
    "human_texts",
    "prompts_from_tweets",
    "run",
]

DOC_MODULES = ("argparse", "difflib", "heapq", "textwrap", "pickle", "json", "bisect", "fractions")
"""Standard-library modules whose docstrings are the "python docs" human texts."""


def prompts_from_tweets(n: int, *, seed: int = 0) -> list[str]:
    """Up to ``n`` writing prompts built from bundled tweets of at least 8 words (test split)."""
    from aisec.data.tweets import load_tweets

    tweets = load_tweets("test", n=max(2 * n, 10), seed=seed).texts
    chosen = [t for t in tweets if len(t.split()) >= 8][:n]
    return [f"Write a short blog post that responds to this tweet: {t}" for t in chosen]


def human_texts(
    *, seed: int = 0, n_tweets: int = 200, n_passages: int = 40
) -> dict[str, list[str]]:
    """Human-written text that ships offline, by source.

    Args:
        seed: seed of the tweets' shuffle.
        n_tweets: single tweets.
        n_passages: passages of ten consecutive (shuffled) tweets, distinct from the single ones.

    Returns:
        ``{"tweets": [...], "tweet passages": [...], "python docs": [...]}``: single tweets,
        passages, and the paragraphs of at least 25 words of :data:`DOC_MODULES`' docstrings.
    """
    from aisec.data.tweets import load_tweets

    tweets = list(load_tweets("test", seed=seed).texts)
    rng = random.Random(seed)
    rng.shuffle(tweets)
    passages = [" ".join(tweets[i : i + 10]) for i in range(0, 10 * n_passages, 10)]
    docs: list[str] = []
    for name in DOC_MODULES:
        text = importlib.import_module(name).__doc__ or ""
        paragraphs = [" ".join(p.split()) for p in text.split("\n\n")]
        docs.extend(p for p in paragraphs if len(p.split()) >= 25)
    return {
        "tweets": tweets[10 * n_passages : 10 * n_passages + n_tweets],
        "tweet passages": passages,
        "python docs": docs,
    }


@dataclass(frozen=True)
class GenAIPlan:
    """Every size and setting of the watermark and detector evaluation.

    The defaults are the library's full evaluation; the tour's chapter states its own plans.

    Attributes:
        model: the language model that generates and scores (resolved by
            :func:`aisec.experiments.names.language_model`).
        n_prompts: writing prompts from the bundled tweets (fewer if too few tweets qualify).
        max_new_tokens: tokens generated per prompt, with and without the watermark.
        lengths: the detection-vs-length grid (each ``<= max_new_tokens``).
        deltas: the perplexity-cost grid of green-list biases (0: no watermark).
        ppl_tokens: tokens per text in the perplexity cost (``<= max_new_tokens``; the
            generations at 0 and ``delta`` are reused).
        n_human: single tweets in the false-positive test.
        n_passages: passages of ten tweets in the false-positive test.
        robustness_tokens: tokens of each watermarked generation the attacks edit
            (``<= max_new_tokens``).
        emoji_tokens: text tokens per emoji-attack generation, each made with as many emojis
            (``<= robustness_tokens``).
        prefix_tokens: the zero-shot test cuts each human text (tweet passages, Python docs)
            into a prefix of this many tokens and its continuation; the model continues the
            same prefix.
        auc_tokens: the longest continuation the zero-shot detectors score (at least 16; a
            human text needs ``prefix_tokens + 16`` tokens to count).
        gamma: the green-list fraction.
        delta: the green logit bias of the watermark.
        top_k: sampling among the ``top_k`` most likely tokens.
        seed: seed of the prompts, the sampling, the human texts and the attacks.

    Raises:
        ValueError, TypeError: for a bad setting, when the plan is made (before anything
            loads).
    """

    model: str = OFFLINE_LANGUAGE_MODEL
    n_prompts: int = 8
    max_new_tokens: int = 400
    lengths: tuple[int, ...] = (25, 50, 100, 200, 400)
    deltas: tuple[float, ...] = (0.0, 1.0, 2.0, 4.0)
    ppl_tokens: int = 100
    n_human: int = 200
    n_passages: int = 40
    robustness_tokens: int = 200
    emoji_tokens: int = 100
    prefix_tokens: int = 32
    auc_tokens: int = 64
    gamma: float = 0.25
    delta: float = 2.0
    top_k: int = 50
    seed: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.model, str) or not self.model:
            raise ValueError(f"model must be a non-empty model name, got {self.model!r}")
        for name in (
            "n_prompts",
            "max_new_tokens",
            "ppl_tokens",
            "n_human",
            "n_passages",
            "robustness_tokens",
            "emoji_tokens",
            "prefix_tokens",
            "auc_tokens",
            "top_k",
        ):
            check_int(name, getattr(self, name), 1)
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise TypeError(f"seed must be an int, got {type(self.seed).__name__}")
        if not isinstance(self.lengths, tuple) or not self.lengths:
            raise ValueError(f"lengths must be a non-empty tuple of ints, got {self.lengths!r}")
        for length in self.lengths:
            check_int("every length", length, 1)
            if length > self.max_new_tokens:
                raise ValueError(
                    f"lengths must be <= max_new_tokens={self.max_new_tokens}, got {length}"
                )
        if not isinstance(self.deltas, tuple) or not self.deltas:
            raise ValueError(f"deltas must be a non-empty tuple of floats, got {self.deltas!r}")
        for value in (*self.deltas, self.delta, self.gamma):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise TypeError(f"gamma, delta and deltas must be floats, got {value!r}")
        if any(not (math.isfinite(d) and d >= 0) for d in self.deltas):
            raise ValueError(f"deltas must be finite and >= 0, got {self.deltas}")
        if not (math.isfinite(self.delta) and self.delta > 0):
            raise ValueError(f"delta must be a finite float > 0, got {self.delta}")
        if not 0 < self.gamma < 1:
            raise ValueError(f"gamma must be in (0, 1), got {self.gamma}")
        for name in ("ppl_tokens", "robustness_tokens"):
            if getattr(self, name) > self.max_new_tokens:
                raise ValueError(
                    f"{name} must be <= max_new_tokens={self.max_new_tokens}, "
                    f"got {getattr(self, name)}"
                )
        if self.emoji_tokens > self.robustness_tokens:
            raise ValueError(
                f"emoji_tokens must be <= robustness_tokens={self.robustness_tokens}, "
                f"got {self.emoji_tokens}"
            )
        if self.auc_tokens < 16:
            raise ValueError(
                f"auc_tokens must be >= 16 (shorter pieces are not scored), got {self.auc_tokens}"
            )


@dataclass(frozen=True)
class GenAIResult:
    """The watermark and detector evaluation of one language model.

    Attributes:
        plan: the plan that was run.
        config: the watermark's settings (:meth:`WatermarkScheme.config`) with ``model``,
            ``prompts`` (how many), ``top_k`` and the detector's ``z_threshold`` (watermarked
            when ``z > z_threshold``) and ``ignore_repeated`` (repeated n-grams counted once).
        watermarked: detection against length of the watermarked generations.
        plain: the same on the plain generations (every detection is a false positive).
        false_positives: verdicts on human-written text, per source.
        perplexity: perplexity and detection per delta.
        robustness: detection after each attack.
        zero_shot: ROC AUC and TPR at 1% FPR of the zero-shot detectors, human vs model
            continuations of the same prefixes.
    """

    plan: GenAIPlan
    config: dict[str, Any]
    watermarked: LengthCurve
    plain: LengthCurve
    false_positives: tuple[FalsePositives, ...]
    perplexity: PerplexityCost
    robustness: WatermarkRobustness
    zero_shot: DetectorAUC

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: ``config``, ``detection_vs_length`` (``watermarked``, ``plain``),
        ``false_positives`` (by source), ``perplexity``, ``robustness`` and ``zero_shot``, each
        the ``to_dict()`` of its part."""
        return {
            "config": dict(self.config),
            "detection_vs_length": {
                "watermarked": self.watermarked.to_dict(),
                "plain": self.plain.to_dict(),
            },
            "false_positives": {fp.source: fp.to_dict() for fp in self.false_positives},
            "perplexity": self.perplexity.to_dict(),
            "robustness": self.robustness.to_dict(),
            "zero_shot": self.zero_shot.to_dict(),
        }

    def rows(self) -> list[dict[str, Any]]:
        """Detection against length: ``{"text", "tokens", "detection rate" (Rate), "mean z"}``."""
        rows = []
        for text, curve in (("watermarked", self.watermarked), ("plain", self.plain)):
            for length, point in zip(curve.lengths, curve.points, strict=True):
                rows.append(_detection_row({"text": text, "tokens": length}, point))
        return rows

    def false_positive_rows(self) -> list[dict[str, Any]]:
        """Per human source: texts, false-positive rate (a Rate of the decided), max and mean z."""
        return [
            {
                "source": fp.source,
                "texts": fp.texts,
                "false-positive rate": fp.rate,
                "max z": fp.max_z,
                "mean z": fp.mean_z,
            }
            for fp in self.false_positives
        ]

    def perplexity_rows(self) -> list[dict[str, Any]]:
        """Per delta: perplexity, mean z and the detection rate (Rate)."""
        return [
            {
                "delta": row.delta,
                "perplexity": row.perplexity,
                "mean z": row.mean_z,
                "detection rate": row.rate,
            }
            for row in self.perplexity.rows
        ]


def _detection_row(head: dict[str, Any], point: Detection) -> dict[str, Any]:
    return head | {"detection rate": point.rate, "mean z": point.mean_z}


def run(plan: GenAIPlan, *, progress: bool = False) -> GenAIResult:
    """Watermark ``plan.model``'s generations and measure detection, cost and robustness.

    The steps, in order (each uses ``plan.seed``): watermarked and plain generations of
    ``max_new_tokens``; the emoji attack; detection against length; false positives on human
    text; the perplexity cost per delta (reusing the generations at 0 and ``delta``);
    robustness of the first ``robustness_tokens`` watermarked tokens to edits; the zero-shot
    detectors (ROC AUC, TPR at 1% FPR) on human vs model continuations of the same prefixes:
    the first ``prefix_tokens`` tokens of each tweet passage and Python-docs paragraph, the
    next ``auc_tokens`` human tokens against the model's own plain continuation of the prefix
    (raw text, no chat template) cut to the same length, each scored given its prefix.

    Args:
        plan: the sizes and settings (validated when the plan was made).
        progress: print a line before each step.

    Returns:
        The :class:`GenAIResult`.
    """
    if not isinstance(plan, GenAIPlan):
        raise TypeError(f"plan must be a GenAIPlan, got {type(plan).__name__}")
    say: Callable[[str], None] = print if progress else (lambda _line: None)
    lm = names.language_model(plan.model)
    scheme = WatermarkScheme(lm.vocab_size, gamma=plan.gamma, delta=plan.delta, seeding="simple_1")
    prompts = prompts_from_tweets(plan.n_prompts, seed=plan.seed)
    tokens, seed, top_k = plan.max_new_tokens, plan.seed, plan.top_k
    say(f"generating {len(prompts)} x {tokens} watermarked tokens")
    marked = generate_watermarked(
        lm, scheme, prompts, max_new_tokens=tokens, seed=seed, top_k=top_k
    )
    say(f"generating {len(prompts)} x {tokens} plain tokens")
    plain = generate_watermarked(lm, None, prompts, max_new_tokens=tokens, seed=seed, top_k=top_k)
    say("generating with the emoji attack")
    emoji = emoji_attack_samples(
        lm, scheme, prompts, max_new_tokens=plan.emoji_tokens, seed=seed, top_k=top_k
    )
    config = scheme.config() | {
        "model": lm.name,
        "prompts": len(prompts),
        "top_k": top_k,
        "z_threshold": Z_THRESHOLD,
        "ignore_repeated": True,
    }
    watermarked_curve = detection_vs_length(scheme, marked, plan.lengths)
    plain_curve = detection_vs_length(scheme, plain, plan.lengths)
    say("false positives on human text")
    human = human_texts(seed=seed, n_tweets=plan.n_human, n_passages=plan.n_passages)
    false_positives = false_positive_rate(scheme, lm.tokenizer, human)
    say("perplexity cost of delta")
    perplexity = perplexity_cost(
        lm,
        prompts,
        plan.deltas,
        gamma=plan.gamma,
        max_new_tokens=plan.ppl_tokens,
        seed=seed,
        top_k=top_k,
        reuse={0.0: plain, scheme.delta: marked},
    )
    say("robustness to attacks")
    robustness = watermark_robustness(
        lm, scheme, [s[: plan.robustness_tokens] for s in marked], emoji_samples=emoji, seed=seed
    )
    say(f"zero-shot detectors: continuing {plan.prefix_tokens}-token prefixes of human text")
    continuations = same_prefix_texts(
        lm,
        human["tweet passages"] + human["python docs"],
        prefix_tokens=plan.prefix_tokens,
        max_tokens=plan.auc_tokens,
        seed=seed,
        top_k=top_k,
    )
    say(f"scoring {len(continuations.prefixes)} human and model continuations")
    zero_shot = detector_auc(lm, continuations, seed=seed)
    return GenAIResult(
        plan=plan,
        config=config,
        watermarked=watermarked_curve,
        plain=plain_curve,
        false_positives=false_positives,
        perplexity=perplexity,
        robustness=robustness,
        zero_shot=zero_shot,
    )
