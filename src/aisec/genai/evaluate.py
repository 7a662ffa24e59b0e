"""Evaluation of watermarks and generated-text detectors on a real language model.

- :func:`generate_watermarked`: prompts from the bundled tweets, generated with and without the
  watermark (EOS suppressed so every sample reaches the requested length).
- :func:`detection_vs_length`: detection rate at ``z >= 4`` on the first ``T`` tokens.
- :func:`false_positive_rate`: verdicts on human text (tweets, passages of tweets, and Python
  standard-library documentation) — none should be "watermarked".
- :func:`perplexity_cost`: the generated text's perplexity under the same model without the
  bias, per delta: the quality price of the watermark.
- :func:`watermark_robustness`: detection after token substitution/deletion, synonym swaps,
  homoglyphs and zero-width characters (with and without the normalizer), emoji insertion and
  the generation-time emoji attack.
- :func:`detector_auc`: ROC AUC of Fast-DetectGPT, log-likelihood and log-rank on human vs model
  text, clean and after the same edits.

Every result is a dict of plain numbers and lists (JSON-serialisable).
"""

from __future__ import annotations

import importlib
import math
import random
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor

from aisec.genai import attacks
from aisec.genai.detect import DETECTORS, roc_auc, score_ids
from aisec.genai.watermark.detect import (
    NotEnoughTokensError,
    detect,
    detect_text,
)
from aisec.genai.watermark.processor import WatermarkLogitsProcessor
from aisec.genai.watermark.scheme import WatermarkScheme
from aisec.models.language import LanguageModel

__all__ = [
    "detection_vs_length",
    "detector_auc",
    "emoji_attack_samples",
    "evaluate_all",
    "false_positive_rate",
    "generate_watermarked",
    "human_texts",
    "perplexity_cost",
    "prompts_from_tweets",
    "watermark_robustness",
]

Z_THRESHOLD = 4.0
_DOC_MODULES = ("argparse", "difflib", "heapq", "textwrap", "pickle", "json", "bisect", "fractions")


def prompts_from_tweets(n: int, *, seed: int = 0) -> list[str]:
    """``n`` writing prompts built from bundled tweets (test split)."""
    from aisec.data.tweets import load_tweets

    tweets = load_tweets("test", n=max(2 * n, 10), seed=seed).texts
    chosen = [t for t in tweets if len(t.split()) >= 8][:n]
    return [f"Write a short blog post that responds to this tweet: {t}" for t in chosen]


def human_texts(
    *, seed: int = 0, n_tweets: int = 200, n_passages: int = 40
) -> dict[str, list[str]]:
    """Human-written text that ships offline, by source.

    Returns:
        ``{"tweets": [...], "tweet passages": [...], "python docs": [...]}``: single tweets,
        passages of ten consecutive tweets, and module docstrings of the Python standard
        library.
    """
    from aisec.data.tweets import load_tweets

    tweets = list(load_tweets("test", seed=seed).texts)
    rng = random.Random(seed)
    rng.shuffle(tweets)
    passages = [" ".join(tweets[i : i + 10]) for i in range(0, 10 * n_passages, 10)]
    docs: list[str] = []
    for name in _DOC_MODULES:
        text = importlib.import_module(name).__doc__ or ""
        paragraphs = [" ".join(p.split()) for p in text.split("\n\n")]
        docs.extend(p for p in paragraphs if len(p.split()) >= 25)
    return {
        "tweets": tweets[10 * n_passages : 10 * n_passages + n_tweets],
        "tweet passages": passages,
        "python docs": docs,
    }


def generate_watermarked(
    lm: LanguageModel,
    scheme: WatermarkScheme | None,
    prompts: Sequence[str],
    *,
    max_new_tokens: int,
    seed: int = 0,
    batch_size: int = 8,
    extra_processors: Callable[[int], Sequence[Any]] | None = None,
    top_k: int = 50,
) -> list[Tensor]:
    """Generate ``max_new_tokens`` tokens per prompt (EOS suppressed), watermarked if ``scheme``.

    Prompts go ``batch_size`` at a time, left-padded to the longest (sorted by length, so
    that little padding is needed). Sampling is
    multinomial at temperature 1 among the ``top_k`` best tokens (Hugging Face's default
    decoding, 50): what users run, and the setting zero-shot detectors are meant for (pure
    ancestral sampling from the scoring model itself has a discrepancy of 0 by construction).
    ``extra_processors(P)`` gets the padded prompt length ``P`` of each batch.

    Returns:
        One ``(max_new_tokens,)`` id tensor per prompt, in prompt order.
    """
    encoded = [lm.chat_prompt(p) for p in prompts]
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
) -> dict[str, Any]:
    """Detection rate at ``z >= 4`` and mean z on the first ``T`` tokens, for each ``T``."""
    rates, mean_z = [], []
    for length in lengths:
        zs = [_z_or_none(scheme, ids[:length]) for ids in samples if len(ids) >= length]
        decided = [z for z in zs if z is not None]
        rates.append(float(np.mean([z >= Z_THRESHOLD for z in decided])) if decided else None)
        mean_z.append(float(np.mean(decided)) if decided else None)
    return {"lengths": list(lengths), "detection_rate": rates, "mean_z": mean_z}


def false_positive_rate(
    scheme: WatermarkScheme, tokenizer: Any, texts: dict[str, list[str]]
) -> dict[str, Any]:
    """Per source: texts decided, false positives at ``z >= 4``, their rate and the max z."""
    out: dict[str, Any] = {}
    for source, items in texts.items():
        zs = []
        for text in items:
            try:
                zs.append(detect_text(scheme, text, tokenizer)[0].z_score)
            except NotEnoughTokensError:
                continue
        positives = sum(z >= Z_THRESHOLD for z in zs)
        out[source] = {
            "texts": len(items),
            "decided": len(zs),
            "false_positives": int(positives),
            "fpr": positives / len(zs) if zs else None,
            "max_z": max(zs) if zs else None,
            "mean_z": float(np.mean(zs)) if zs else None,
        }
    return out


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
    reuse: dict[float, Sequence[Tensor]] | None = None,
) -> dict[str, Any]:
    """Perplexity (under the unbiased model, given the prompt) and mean z of text per delta.

    ``reuse`` maps a delta to generations already made with it (same prompts, simple_1 and
    ``gamma``, at least ``max_new_tokens`` long); their first ``max_new_tokens`` are used.
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
            )
        ppl = [
            _perplexity(lm, lm.chat_prompt(p), ids) for p, ids in zip(prompts, samples, strict=True)
        ]
        zs = [detect(scheme, ids).z_score for ids in samples]
        rows.append(
            {
                "delta": float(delta),
                "perplexity": float(np.mean(ppl)),
                "mean_z": float(np.mean(zs)),
                "detection_rate": float(np.mean([z >= Z_THRESHOLD for z in zs])),
            }
        )
    return {"gamma": gamma, "max_new_tokens": max_new_tokens, "rows": rows}


def _text_attacks(seed: int) -> dict[str, Callable[[str], str]]:
    return {
        "synonym swaps": lambda t: attacks.swap_synonyms(t, 1.0, seed=seed),
        "homoglyphs 50%": lambda t: attacks.insert_homoglyphs(t, 0.5, seed=seed),
        "zero-width 50%": lambda t: attacks.insert_zero_width(t, 0.5, seed=seed),
        "emoji insertion 50%": lambda t: attacks.insert_emojis(t, 0.5, seed=seed),
    }


def watermark_robustness(
    lm: LanguageModel,
    scheme: WatermarkScheme,
    samples: Sequence[Tensor],
    *,
    rates: Sequence[float] = (0.1, 0.2, 0.3, 0.4, 0.5),
    emoji_samples: Sequence[Tensor] | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """Detection rate and mean z of watermarked ``samples`` after each attack.

    Token-level attacks (substitution, deletion) act on the ids at each rate; text-level
    attacks act on the decoded text and are scored with and without the Unicode normalizer.
    ``emoji_samples`` are generations made with
    :class:`~aisec.genai.attacks.EmojiInterleaveProcessor` whose separators are stripped.
    """

    def summary(zs: list[float | None]) -> dict[str, Any]:
        decided = [z for z in zs if z is not None]
        return {
            "detection_rate": float(np.mean([z >= Z_THRESHOLD for z in decided]))
            if decided
            else None,
            "mean_z": float(np.mean(decided)) if decided else None,
            "decided": len(decided),
        }

    out: dict[str, Any] = {"clean": summary([_z_or_none(scheme, s) for s in samples])}
    out["substitution"] = {
        str(r): summary(
            [
                _z_or_none(
                    scheme, attacks.substitute_tokens(s, r, scheme.vocab_size, seed=seed + i)
                )
                for i, s in enumerate(samples)
            ]
        )
        for r in rates
    }
    out["deletion"] = {
        str(r): summary(
            [
                _z_or_none(scheme, attacks.delete_tokens(s, r, seed=seed + i))
                for i, s in enumerate(samples)
            ]
        )
        for r in rates
    }
    texts = [lm.decode(s) for s in samples]
    text_results: dict[str, Any] = {}
    for name, attack in _text_attacks(seed).items():
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
            row["normalized" if normalize else "raw"] = summary(zs)
        text_results[name] = row
    out["text"] = text_results
    if emoji_samples is not None:
        out["emoji attack (generation)"] = summary([_z_or_none(scheme, s) for s in emoji_samples])
    return out


def emoji_attack_samples(
    lm: LanguageModel,
    scheme: WatermarkScheme,
    prompts: Sequence[str],
    *,
    max_new_tokens: int,
    seed: int = 0,
) -> list[Tensor]:
    """Watermarked generations made with an emoji after every token, emojis then removed."""
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
    )
    return [attacks.strip_token(ids, separator) for ids in raw]


def detector_auc(
    lm: LanguageModel,
    human: Sequence[str],
    machine_ids: Sequence[Tensor],
    *,
    max_tokens: int = 64,
    seed: int = 0,
) -> dict[str, Any]:
    """ROC AUC of each zero-shot detector, human text vs (plain) model text, clean and attacked.

    Human texts are cut to ``max_tokens`` tokens and model generations into consecutive pieces
    of ``max_tokens`` tokens; pieces shorter than 16 tokens are left out.
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
    for name, attack in _text_attacks(seed).items():
        variants[name] = [lm.encode(attack(lm.decode(s)))[:max_tokens] for s in machine]
    results: dict[str, Any] = {
        "human_texts": len(human_ids),
        "machine_texts": len(machine),
        "max_tokens": max_tokens,
    }
    table: dict[str, dict[str, float]] = {}
    for name, seqs in variants.items():
        scores = score_ids(lm.model, [s for s in seqs if len(s) >= 5], pad_id=pad)
        table[name] = {d: roc_auc(human_scores.get(d), scores.get(d)) for d in DETECTORS}
    results["auc"] = table
    return results


def evaluate_all(
    lm: LanguageModel,
    *,
    n_prompts: int = 8,
    max_new_tokens: int = 400,
    lengths: Sequence[int] = (25, 50, 100, 200, 400),
    deltas: Sequence[float] = (0.0, 1.0, 2.0, 4.0),
    ppl_tokens: int = 100,
    n_human: int = 200,
    emoji_tokens: int | None = None,
    seed: int = 0,
    log: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Run the whole watermark and detector evaluation on ``lm`` (simple_1, gamma .25, delta 2).

    Args:
        lm: the model that generates and scores.
        n_prompts: prompts from the bundled tweets.
        max_new_tokens: generated tokens per prompt (the longest detection length).
        lengths: detection-vs-length grid (values above ``max_new_tokens`` are dropped).
        deltas: perplexity-cost grid.
        ppl_tokens: tokens generated per prompt for the perplexity cost.
        n_human: single tweets in the false-positive test.
        emoji_tokens: text tokens per emoji-attack generation (each made with as many
            emojis; default: half of ``min(max_new_tokens, 200)``).
        seed: seed of prompts, sampling and attacks.
        log: called with a line of progress.

    Returns:
        A JSON-serialisable dict with keys ``config``, ``detection_vs_length``,
        ``false_positives``, ``perplexity``, ``robustness`` and ``zero_shot``.
    """
    say = log or (lambda _line: None)
    scheme = WatermarkScheme(lm.vocab_size, gamma=0.25, delta=2.0, seeding="simple_1")
    prompts = prompts_from_tweets(n_prompts, seed=seed)
    lengths = [t for t in lengths if t <= max_new_tokens]
    say(f"generating {len(prompts)} x {max_new_tokens} watermarked tokens")
    marked = generate_watermarked(lm, scheme, prompts, max_new_tokens=max_new_tokens, seed=seed)
    say(f"generating {len(prompts)} x {max_new_tokens} plain tokens")
    plain = generate_watermarked(lm, None, prompts, max_new_tokens=max_new_tokens, seed=seed)
    short = min(max_new_tokens, 200)
    say("generating with the emoji attack")
    emoji_length = short // 2 if emoji_tokens is None else min(emoji_tokens, short)
    emoji = emoji_attack_samples(lm, scheme, prompts, max_new_tokens=emoji_length, seed=seed)
    result: dict[str, Any] = {
        "config": scheme.config() | {"model": lm.name, "prompts": len(prompts), "top_k": 50}
    }
    result["detection_vs_length"] = {
        "watermarked": detection_vs_length(scheme, marked, lengths),
        "plain": detection_vs_length(scheme, plain, lengths),
    }
    say("false positives on human text")
    human = human_texts(seed=seed, n_tweets=n_human, n_passages=max(4, n_human // 5))
    result["false_positives"] = false_positive_rate(scheme, lm.tokenizer, human)
    say("perplexity cost of delta")
    result["perplexity"] = perplexity_cost(
        lm,
        prompts,
        deltas,
        max_new_tokens=min(ppl_tokens, max_new_tokens),
        seed=seed,
        reuse={0.0: plain, scheme.delta: marked},
    )
    say("robustness to attacks")
    result["robustness"] = watermark_robustness(
        lm, scheme, [s[:short] for s in marked], emoji_samples=emoji, seed=seed
    )
    say("zero-shot detectors")
    human_pool = human["tweet passages"] + human["python docs"]
    result["zero_shot"] = detector_auc(lm, human_pool, plain, seed=seed)
    return result
