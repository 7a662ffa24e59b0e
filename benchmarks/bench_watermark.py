"""Watermark benchmark: generation overhead on SmolLM2 and detection throughput vs a loop.

1. Time per generated token of SmolLM2-135M-Instruct, plain vs watermarked (simple_1, and
   selfhash for information), same prompts, same sampling seed, runs interleaved; the
   watermarked runs start from a fresh scheme (cold green-list cache). Target: <= 1.05x. On a
   shared 2-core machine a generation's time per token varies by more than the watermark's
   cost, so the overhead is measured twice: the median over (prompt, repeat) pairs of the
   watermarked/plain ratio of the same prompt and seed run back to back, and the time spent
   inside the logits processor itself (timed around each call) as a fraction of the plain
   time per token.
2. Detection throughput (tokens/s) of :func:`aisec.genai.watermark.detect` vs a per-token loop
   like the reference implementation's (one seeded ``randperm`` per scored token, memoised per
   (context, token) n-gram as the reference's ``lru_cache``), on the same sequences, both
   starting cold, with the z-scores checked to be identical. Three kinds of text: human (bundled
   tweets), watermarked generations, and uniformly random ids (the worst case: no context
   repeats). aisec draws one green list per distinct context (the loop: per distinct n-gram),
   on one intra-op thread (``benchmarks/bench_watermark_threads.py`` shows why). Both count repeated
   (context, token) pairs here (``ignore_repeated=False``), so their z-scores are comparable.

Writes ``benchmarks/results/watermark.md`` and ``.json``.
"""

from __future__ import annotations

import json
import math
import platform
import statistics
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch

from aisec.genai.watermark import WatermarkLogitsProcessor, WatermarkScheme, detect
from aisec.models.language import load_language_model

RESULTS = Path(__file__).resolve().parent / "results"
PROMPTS = (
    "Write a short story about a lighthouse keeper.",
    "Explain how vaccines train the immune system.",
)


def _loop_detect(
    scheme: WatermarkScheme, ids: list[int], memo: dict[tuple[int, ...], bool]
) -> float:
    """Per-token detection as in the reference: a green list per scored n-gram not yet in
    ``memo`` (the reference memoises (context, token) n-grams with an ``lru_cache`` shared by
    all texts a detector scores)."""
    prefix = scheme.context_width - int(scheme.self_salt)
    green = 0
    for position in range(prefix, len(ids)):
        gram = tuple(ids[position - prefix : position + 1])
        if gram not in memo:
            window = gram if scheme.self_salt else gram[:-1]
            generator = torch.Generator()
            value = int(scheme.prf(torch.tensor([window]))[0])
            generator.manual_seed(value % (2**64 - 1))
            greenlist = torch.randperm(scheme.vocab_size, generator=generator)
            memo[gram] = gram[-1] in greenlist[: scheme.greenlist_size]
        green += int(memo[gram])
    scored = len(ids) - prefix
    gamma = scheme.gamma
    return (green - gamma * scored) / math.sqrt(scored * gamma * (1 - gamma))


class _TimedProcessor:
    """A logits processor that adds up the time spent inside the wrapped one."""

    def __init__(self, inner: WatermarkLogitsProcessor) -> None:
        self.inner = inner
        self.seconds = 0.0

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        began = time.perf_counter()
        out = self.inner(input_ids, scores)
        self.seconds += time.perf_counter() - began
        return out


def _time_generation(
    lm: Any, seeding: str | None, prompt_ids: torch.Tensor, tokens: int, seed: int
) -> tuple[float, float]:
    """Seconds per token of one generation, and of that the seconds inside the processor."""
    processors = []
    if seeding is not None:
        scheme = WatermarkScheme(lm.vocab_size, seeding=seeding)
        processors = [_TimedProcessor(WatermarkLogitsProcessor(scheme))]
    began = time.perf_counter()
    lm.generate(
        prompt_ids,
        max_new_tokens=tokens,
        min_new_tokens=tokens,
        logits_processors=processors,
        seed=seed,
    )
    total = time.perf_counter() - began
    inside = processors[0].seconds if processors else 0.0
    return total / tokens, inside / tokens


def _text_sequences(lm: Any) -> dict[str, list[torch.Tensor]]:
    """The sequences detection is timed on, by kind.

    ``human``: bundled tweets, joined and tokenized, cut into 400-token passages (natural text
    repeats its contexts, which aisec scores once per distinct context); ``watermarked``: two
    300-token generations; ``random``: ten uniformly random 400-token sequences, the worst case
    for context reuse (almost every context is new).
    """
    from aisec.data.tweets import load_tweets

    tweets = load_tweets("test", n=600, seed=0)
    ids = lm.tokenizer(" ".join(tweets.texts), return_tensors="pt").input_ids[0]
    human = [ids[start : start + 400] for start in range(0, ids.shape[0] - 399, 400)][:10]
    marked_scheme = WatermarkScheme(lm.vocab_size)
    marked = [
        lm.generate(
            lm.chat_prompt(prompt),
            max_new_tokens=300,
            min_new_tokens=300,
            logits_processors=[WatermarkLogitsProcessor(marked_scheme)],
        )[0].new_ids
        for prompt in PROMPTS
    ]
    generator = torch.Generator().manual_seed(0)
    random = [torch.randint(0, lm.vocab_size, (400,), generator=generator) for _ in range(10)]
    return {"human": human, "watermarked": marked, "random": random}


def _detection(lm: Any) -> dict[str, Any]:
    """aisec's detector vs the reference-style loop, per seeding scheme and kind of text."""
    detection: dict[str, Any] = {}
    for kind, sequences in _text_sequences(lm).items():
        for seeding in ("simple_1", "selfhash"):
            total = sum(len(s) for s in sequences)
            fresh = WatermarkScheme(lm.vocab_size, seeding=seeding)
            start = time.perf_counter()
            fast = [detect(fresh, s, ignore_repeated=False).z_score for s in sequences]
            fast_s = time.perf_counter() - start
            loop_scheme = WatermarkScheme(lm.vocab_size, seeding=seeding)
            start = time.perf_counter()
            memo: dict[tuple[int, ...], bool] = {}
            slow = [_loop_detect(loop_scheme, s.tolist(), memo) for s in sequences]
            slow_s = time.perf_counter() - start
            detection[f"{seeding} / {kind}"] = {
                "tokens": total,
                "aisec_tokens_per_s": total / fast_s,
                "loop_tokens_per_s": total / slow_s,
                "speedup": slow_s / fast_s,
                "identical_z": all(
                    math.isclose(a, b, abs_tol=1e-9) for a, b in zip(fast, slow, strict=True)
                ),
                "mean_z": statistics.fmean(fast),
            }
    return detection


def main() -> None:
    """Run both measurements and write the results."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    began = time.perf_counter()
    lm = load_language_model()
    tokens, repeats = 48, 8
    names = ("plain", "simple_1", "selfhash")
    per_token: dict[str, list[float]] = {name: [] for name in names}
    inside: dict[str, list[float]] = {name: [] for name in names}
    for prompt in PROMPTS:
        ids = lm.chat_prompt(prompt)
        _time_generation(lm, None, ids, 4, 0)  # warm-up
        for repeat in range(repeats):
            order = names[repeat % 3 :] + names[: repeat % 3]  # rotate who goes first
            for name in order:
                seeding = None if name == "plain" else name
                total, spent = _time_generation(lm, seeding, ids, tokens, repeat)
                per_token[name].append(total)
                inside[name].append(spent)
    plain = statistics.median(per_token["plain"])
    generation: dict[str, Any] = {
        name: {"median_ms_per_token": 1e3 * statistics.median(values)}
        for name, values in per_token.items()
    }
    for name in ("simple_1", "selfhash"):
        pairs = [t / p for t, p in zip(per_token[name], per_token["plain"], strict=True)]
        generation[name] |= {
            "ratio_to_plain": statistics.median(per_token[name]) / plain,
            "paired_ratio_median": statistics.median(pairs),
            "paired_ratios": pairs,
            "processor_ms_per_token": 1e3 * statistics.median(inside[name]),
            "processor_fraction_of_plain": statistics.median(inside[name]) / plain,
        }

    detection = _detection(lm)
    results = {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "environment": {
            "processor": platform.processor() or platform.machine(),
            "torch": torch.__version__,
            "threads": torch.get_num_threads(),
        },
        "model": lm.name,
        "generation": {"tokens": tokens, "repeats": repeats, "prompts": len(PROMPTS)} | generation,
        "detection": detection,
        "total_s": time.perf_counter() - began,
    }
    (RESULTS / "watermark.json").write_text(json.dumps(results, indent=2) + "\n")
    (RESULTS / "watermark.md").write_text(_markdown(results))
    print(_markdown(results))


def _markdown(results: dict[str, Any]) -> str:
    gen = results["generation"]
    lines = [
        "# Watermark benchmark",
        "",
        f"Model: {results['model']} · torch {results['environment']['torch']} · "
        f"{results['environment']['threads']} threads · measured {results['date']}, "
        f"total {results['total_s']:.0f} s.",
        "",
        f"## Generation ({gen['tokens']} tokens, {gen['prompts']} prompts x {gen['repeats']})",
        "",
        "| generation | median ms / token | ratio of medians | median paired ratio | "
        "processor ms / token | processor / plain step |",
        "| --- | --- | --- | --- | --- | --- |",
        f"| plain | {gen['plain']['median_ms_per_token']:.1f} | 1.00x | | | |",
    ]
    for name in ("simple_1", "selfhash"):
        row = gen[name]
        lines.append(
            f"| watermarked ({name}) | {row['median_ms_per_token']:.1f} | "
            f"{row['ratio_to_plain']:.3f}x | {row['paired_ratio_median']:.3f}x | "
            f"{row['processor_ms_per_token']:.2f} | {row['processor_fraction_of_plain']:.1%} |"
        )
    spread = gen["simple_1"]["paired_ratios"]
    lines += [
        "",
        "Target: simple_1 at most 1.05x. The paired ratio compares the same prompt and seed run "
        f"back to back (simple_1 pairs range from {min(spread):.3f}x to {max(spread):.3f}x: the "
        "machine's own variation); the processor columns time the watermark's own work inside "
        "generation. selfhash tests the 41 best candidates per step.",
        "",
        "## Detection throughput",
        "",
        "| seeding / text | tokens | aisec tokens/s | loop tokens/s | speed-up | same z |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for name, row in results["detection"].items():
        lines.append(
            f"| {name} | {row['tokens']} | {row['aisec_tokens_per_s']:.0f} | "
            f"{row['loop_tokens_per_s']:.0f} | {row['speedup']:.2f}x | {row['identical_z']} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
