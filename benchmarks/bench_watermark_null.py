"""Watermark detector on human text: the null distribution of z for simple_1 and selfhash.

Under the null hypothesis (text written without the key) every scored token is green with
probability gamma, z is about standard normal and ``z > 4`` flags 3.2e-5 of human texts. This
benchmark checks that on real text: the bundled human tweets (both splits, one seeded shuffle),
tokenized with SmolLM2-135M-Instruct's tokenizer (49,152 ids), scored by
:func:`aisec.genai.watermark.detect_text` with the library's defaults (normalized, repeated
(context, token) pairs counted once, a leading BOS dropped, verdict ``z > 4``) for the default
key and gamma 0.25, with ``simple_1`` and ``selfhash`` seeding:

1. Single tweets and passages of ten tweets joined by spaces: texts scored (tweets too short to
   score are left out), median scored tokens, pooled green rate, mean and standard deviation of
   z, ``z > 4`` as a count and rate with its Wilson 95% interval, the empirical 99.9th
   percentile and the maximum of z, and the threshold that would give the nominal rate if z
   were normal with the measured mean and standard deviation (mean + 4 sd). For selfhash, the
   frequent tokens (scored at least 50 times in the single tweets) that are green most often
   (three in the Markdown, twenty in the JSON).
2. Repeated human text: tweets pasted three times, scored with ``ignore_repeated=True`` (the
   default) and ``False``.

A subset keeps the run to about three minutes on two cores (each distinct PRF value costs one
``randperm`` of the vocabulary). Writes ``benchmarks/results/watermark_null.md`` and ``.json``.
"""

from __future__ import annotations

import json
import math
import os
import platform
import statistics
import time
from collections import Counter
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import torch

from aisec.data.tweets import load_tweets
from aisec.genai.watermark import WatermarkScheme, detect_text
from aisec.genai.watermark.detect import DEFAULT_Z_THRESHOLD, NotEnoughTokensError
from aisec.models.language import load_language_model
from aisec.stats import Rate

RESULTS = Path(__file__).resolve().parent / "results"
MODEL = "smollm2-135m-instruct"
SEEDINGS = ("simple_1", "selfhash")
GAMMA = 0.25
SEED = 0
SINGLE_TWEETS = 4000  # tweets scored one by one
PASSAGES = 400  # passages of PASSAGE_TWEETS tweets each
PASSAGE_TWEETS = 10
REPEATED_TWEETS = 300  # tweets pasted REPEATS times
REPEATS = 3
MIN_OCCURRENCES = 50  # a token must be scored this often to be listed among the greenest
GREENEST = 3  # shown in the Markdown
GREENEST_JSON = 20  # kept in the JSON
NOMINAL_RATE = 0.5 * math.erfc(DEFAULT_Z_THRESHOLD / math.sqrt(2.0))


def _human_tweets() -> list[str]:
    """All bundled tweets of both splits, in one seeded random order."""
    texts = list(load_tweets("train").texts) + list(load_tweets("test").texts)
    order = np.random.default_rng(SEED).permutation(len(texts))
    return [texts[i] for i in order]


def _null_row(
    scheme: WatermarkScheme, texts: Sequence[str], tokenizer: Any, tokens: Counter[int] | None
) -> dict[str, Any]:
    """Detection statistics of ``texts`` under the no-watermark null.

    ``tokens``, when given, is a counter of ``(token, green)`` pairs of the scored positions,
    updated in place (keys ``2 * token + green``).
    """
    zs: list[float] = []
    scored: list[int] = []
    green = 0
    skipped = 0
    for text in texts:
        try:
            detection, ids = detect_text(scheme, text, tokenizer)
        except NotEnoughTokensError:
            skipped += 1
            continue
        zs.append(detection.z_score)
        scored.append(detection.num_tokens_scored)
        green += detection.num_green
        if tokens is not None:
            mask = detection.scored_mask
            keys = 2 * ids[mask] + detection.green_mask[mask].long()
            tokens.update(keys.tolist())
    n = len(zs)
    mean = statistics.fmean(zs)
    sd = statistics.stdev(zs)
    flagged = Rate(sum(z > DEFAULT_Z_THRESHOLD for z in zs), n)
    return {
        "texts": len(texts),
        "n": n,
        "skipped_too_short": skipped,
        "median_scored_tokens": statistics.median(scored),
        "scored_tokens": sum(scored),
        "green_rate": green / sum(scored),
        "mean_z": mean,
        "sd_z": sd,
        "above_threshold": flagged.to_dict(),
        "z_p99_9": float(np.percentile(zs, 99.9)),
        "max_z": max(zs),
        "threshold_for_nominal_rate": mean + DEFAULT_Z_THRESHOLD * sd,
    }


def _greenest(tokens: Counter[int], tokenizer: Any) -> list[dict[str, Any]]:
    """The tokens scored at least ``MIN_OCCURRENCES`` times that are green most often."""
    seen: Counter[int] = Counter()
    green: Counter[int] = Counter()
    for key, count in tokens.items():
        seen[key // 2] += count
        green[key // 2] += count * (key % 2)
    frequent = [token for token, count in seen.items() if count >= MIN_OCCURRENCES]
    frequent.sort(key=lambda token: (-green[token] / seen[token], token))
    return [
        {
            "token_id": token,
            "token": tokenizer.decode([token]),
            "scored": seen[token],
            "green": green[token],
            "green_fraction": green[token] / seen[token],
        }
        for token in frequent[:GREENEST_JSON]
    ]


def _repeated_row(scheme: WatermarkScheme, texts: Sequence[str], tokenizer: Any) -> dict[str, Any]:
    """z of each text pasted ``REPEATS`` times, with repeats ignored (default) and counted.

    Texts too short to score with repeats ignored are left out of both rows.
    """
    zs: dict[bool, list[float]] = {True: [], False: []}
    for text in texts:
        pasted = " ".join([text] * REPEATS)
        try:
            ignored, _ = detect_text(scheme, pasted, tokenizer, ignore_repeated=True)
        except NotEnoughTokensError:
            continue
        counted, _ = detect_text(scheme, pasted, tokenizer, ignore_repeated=False)
        zs[True].append(ignored.z_score)
        zs[False].append(counted.z_score)
    row: dict[str, Any] = {"texts": len(texts), "n": len(zs[True])}
    for ignore, values in zs.items():
        flagged = Rate(sum(z > DEFAULT_Z_THRESHOLD for z in values), len(values))
        row[f"ignore_repeated={ignore}"] = {
            "mean_z": statistics.fmean(values),
            "max_z": max(values),
            "above_threshold": flagged.to_dict(),
        }
    return row


def main() -> None:
    """Measure the null distributions and write the results."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    began = time.perf_counter()
    load_before = list(os.getloadavg())
    lm = load_language_model(MODEL)
    tweets = _human_tweets()
    singles = tweets[:SINGLE_TWEETS]
    passages = [
        " ".join(tweets[start : start + PASSAGE_TWEETS])
        for start in range(0, PASSAGES * PASSAGE_TWEETS, PASSAGE_TWEETS)
    ]
    null: dict[str, dict[str, Any]] = {}
    greenest: list[dict[str, Any]] = []
    repeated: dict[str, Any] = {}
    for seeding in SEEDINGS:
        scheme = WatermarkScheme(lm.vocab_size, gamma=GAMMA, seeding=seeding)
        tokens: Counter[int] = Counter()
        watch = tokens if seeding == "selfhash" else None
        null[seeding] = {
            "single tweets": _null_row(scheme, singles, lm.tokenizer, watch),
            f"passages of {PASSAGE_TWEETS} tweets": _null_row(scheme, passages, lm.tokenizer, None),
        }
        if watch is not None:
            greenest = _greenest(tokens, lm.tokenizer)
        repeated[seeding] = _repeated_row(scheme, tweets[:REPEATED_TWEETS], lm.tokenizer)
        print(f"{seeding} done at {time.perf_counter() - began:.0f} s", flush=True)
    scheme = WatermarkScheme(lm.vocab_size, gamma=GAMMA)
    results = {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "environment": {
            "processor": platform.processor() or platform.machine(),
            "cpus": os.cpu_count(),
            "torch": torch.__version__,
            "load_average_before": load_before,
            "load_average_after": list(os.getloadavg()),
        },
        "model": lm.name,
        "vocab_size": lm.vocab_size,
        "key": scheme.key,
        "gamma": GAMMA,
        "z_threshold": DEFAULT_Z_THRESHOLD,
        "nominal_rate": NOMINAL_RATE,
        "tweets_available": len(tweets),
        "seed": SEED,
        "null": null,
        "selfhash_greenest_tokens": {"min_scored": MIN_OCCURRENCES, "tokens": greenest},
        "repeated": {"repeats": REPEATS} | repeated,
        "total_s": time.perf_counter() - began,
    }
    (RESULTS / "watermark_null.json").write_text(json.dumps(results, indent=2) + "\n")
    (RESULTS / "watermark_null.md").write_text(_markdown(results))
    print(_markdown(results))


def _percent(rate: dict[str, Any]) -> str:
    low, high = rate["ci95"]
    return f"{rate['rate']:.2%} [{low:.2%}–{high:.2%}]"


def _markdown(results: dict[str, Any]) -> str:
    env = results["environment"]
    lines = [
        "# Watermark detector on human text",
        "",
        f"The z-scores the watermark detector gives human text, written without the key: the "
        f"bundled human tweets (both splits, {results['tweets_available']:,} tweets, shuffled "
        f"with seed {results['seed']}; the first ones of the shuffle are used, see n), "
        f"{results['model']}'s tokenizer ({results['vocab_size']:,} ids), "
        f"default key, gamma {results['gamma']}; {env['cpus']} CPUs, torch {env['torch']}, load "
        f"average {env['load_average_before'][0]:.2f} before and "
        f"{env['load_average_after'][0]:.2f} after (1 min); measured {results['date']}, total "
        f"{results['total_s']:.0f} s.",
        "",
        "## Human text, simple_1 and selfhash",
        "",
        "| seeding | text | n | median scored tokens | green rate | mean z (sd) | z > 4 | "
        "rate [95% CI] | 99.9th pct of z | max z | threshold for the nominal rate |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for seeding, rows in results["null"].items():
        for kind, row in rows.items():
            rate = row["above_threshold"]
            lines.append(
                f"| {seeding} | {kind} | {row['n']:,} | {row['median_scored_tokens']:.0f} | "
                f"{row['green_rate']:.3f} | {row['mean_z']:+.2f} ({row['sd_z']:.2f}) | "
                f"{rate['count']} | {_percent(rate)} | {row['z_p99_9']:.2f} | "
                f"{row['max_z']:.2f} | {row['threshold_for_nominal_rate']:.1f} |"
            )
    singles = next(iter(results["null"][SEEDINGS[0]].values()))
    lines += [
        "",
        f"Detection by `detect_text` with its defaults (normalized, repeated (context, token) "
        f"pairs counted once, a leading BOS dropped, verdict z > {results['z_threshold']:g}), "
        f"gamma {results['gamma']}: n texts of {singles['texts']:,} single tweets (those with "
        f"too few scorable tokens left out) and of passages of {PASSAGE_TWEETS} tweets joined "
        f"by spaces. Green rate: green of all scored tokens (gamma under the null). The nominal "
        f"rate of z > {results['z_threshold']:g} is {results['nominal_rate']:.1e}. The last "
        f"column is the threshold that gives the nominal rate if z is normal with the measured "
        f"mean and sd (mean + {results['z_threshold']:g} sd, a normal-tail approximation); with "
        f"n below 1,000 the 99.9th percentile is close to the maximum.",
        "",
        f"selfhash's greenest frequent tokens (scored at least "
        f"{results['selfhash_greenest_tokens']['min_scored']} times in the single tweets):",
        "",
        "| token | id | scored | green |",
        "|---|---:|---:|---:|",
    ]
    for token in results["selfhash_greenest_tokens"]["tokens"][:GREENEST]:
        shown = json.dumps(token["token"], ensure_ascii=False).replace("|", "\\|")
        lines.append(
            f"| `{shown}` | {token['token_id']} | {token['scored']:,} | "
            f"{token['green_fraction']:.0%} |"
        )
    repeats = results["repeated"]["repeats"]
    lines += [
        "",
        "## Repeated human text",
        "",
        "| seeding | n | repeats | mean z | max z | z > 4 [95% CI] |",
        "|---|---:|---|---:|---:|---:|",
    ]
    for seeding in SEEDINGS:
        row = results["repeated"][seeding]
        for ignore in (True, False):
            cell = row[f"ignore_repeated={ignore}"]
            label = "ignored (default)" if ignore else "counted"
            lines.append(
                f"| {seeding} | {row['n']:,} | {label} | {cell['mean_z']:+.2f} | "
                f"{cell['max_z']:.2f} | {_percent(cell['above_threshold'])} |"
            )
    lines += [
        "",
        f"Each of the first {row['texts']:,} tweets of the shuffle pasted {repeats} times "
        f"(joined by spaces) and scored by `detect_text` with `ignore_repeated=True` (the "
        f"default: each distinct (context, token) pair once) and `False` (every token); n: "
        f"those with enough distinct pairs to score.",
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
