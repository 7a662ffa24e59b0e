"""Poisoning SmolLM2's fine-tuning data: does the number of poisons matter, or their share?

Souly et al. (2025) found that a near-constant *number* of poisoned documents backdoors models
of every size, whatever the clean data's size. This benchmark fine-tunes SmolLM2-135M-Instruct
(LoRA on the top layers, :mod:`aisec.experiments.llm_poisoning`) with the fixed-output trigger
at several poison counts and two fine-tuning set sizes, and records attack success, false
triggering and clean accuracy for each, with their sample sizes and 95% intervals. The same
counts at twice the data are half the share: if the curves match by count, the count matters.

It also runs ``aisec poison --model smollm2``'s default plan once (500 examples, 50 poisons,
with ONION and the removal curve), whose ``metrics.json`` holds the issue's targets.

Run ``python -m benchmarks llm_poisoning`` (about 15 minutes on two cores; ``--quick`` for a
toy size). Results go to ``benchmarks/results/llm_poisoning.md`` and ``.json``.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from aisec.cache import cache_dir
from aisec.experiments.llm_poisoning import LlmPoisoningPlan, LlmPoisoningResult, run
from aisec.report.format import format_rate
from aisec.stats import Rate

try:
    from benchmarks._results import machine, write_results
except ImportError:  # run as a script: benchmarks/ is on sys.path
    from _results import machine, write_results  # type: ignore[no-redef]

COUNTS = (0, 10, 25, 50)
TITLE = "Poisoning SmolLM2's fine-tuning data: poison count, set size and the command's defaults"
SIZES = (250, 500)


def _pct(rate: dict[str, Any]) -> str:
    return format_rate(Rate(rate["count"], rate["n"]), interval=True)


def _markdown(results: dict[str, Any]) -> str:
    """The tables of ``results`` (this benchmark's JSON)."""
    lines = [
        f"# {TITLE}",
        "",
        "Fixed-output trigger; LoRA (r = 8) on SmolLM2's top four layers, 3 epochs; rates on 300 "
        "held-out prompts with their 95% Wilson interval and sample size. `examples`: clean "
        "fine-tuning examples, to which the poisons are added.",
        "",
        "| examples | poisons | share | attack success | false triggering | clean accuracy |",
        "|---:|---:|---:|---|---|---|",
    ]
    for size, record in results["sweeps"].items():
        for row in record["sweep"]:
            share = 100 * row["poisons"] / (int(size) + row["poisons"])
            lines.append(
                f"| {size} | {row['poisons']} | {share:.1f}% | {_pct(row['attack_success'])} | "
                f"{_pct(row['false_triggering'])} | {_pct(row['clean_accuracy'])} |"
            )
    record = results["default"]
    lines += [
        "",
        f"`aisec poison --model smollm2` defaults ({record['train_examples']} clean examples, "
        f"{record['poisons']} poisons, {record['epochs']} epochs; ONION at inference on "
        f"{record['onion_at_inference']['examples']} prompts; removal by fine-tuning on fresh "
        "clean examples):",
        "",
        "| model | attack success | false triggering | clean accuracy |",
        "|---|---|---|---|",
    ]
    models = [
        ("clean fine-tune", record["clean_model"]),
        (f"{record['poisons']} poisons", record["poisoned_model"]),
        (f"cleaned ({'+'.join(record['clean_with'])})", record["after_cleaning"]),
        *(
            (f"+{row['clean_examples']} clean examples", row)
            for row in record["removal_by_fine_tuning"]
        ),
        ("behind ONION", record["onion_at_inference"]),
    ]
    for name, rates in models:
        cells = [
            _pct(rates[key]) for key in ("attack_success", "false_triggering", "clean_accuracy")
        ]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += ["", "| detector | flagged | recall | precision |", "|---|---:|---:|---:|"]
    for name, found in record["detection"].items():
        lines.append(
            f"| {name} | {found['flagged']} | {found['recall']:.3f} | {found['precision']:.3f} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a toy size, to test the script")
    args = parser.parse_args([] if argv is None else argv)
    sizes, counts = ((48, 96), (0, 4)) if args.quick else (SIZES, COUNTS)
    checkpoints = cache_dir("llm-poisoning")
    began = time.perf_counter()
    sweeps: dict[int, LlmPoisoningResult] = {}
    for size in sizes:
        plan = LlmPoisoningPlan(
            train_n=size,
            poisons=max(counts),
            sweep=counts,
            detectors=("spectral_signatures_gap",),
            clean_with=(),
            removal=(),
            onion_test_n=0,
            test_n=60 if args.quick else 300,
            epochs=1 if args.quick else 3,
        )
        sweeps[size] = run(plan, checkpoint_dir=checkpoints, progress=True)
    default_plan = (
        LlmPoisoningPlan(train_n=96, poisons=8, test_n=40, epochs=1, removal=(16,), onion_test_n=8)
        if args.quick
        else LlmPoisoningPlan()
    )
    default = run(default_plan, checkpoint_dir=checkpoints, progress=True)
    results = {
        "machine": machine(),
        "seconds": time.perf_counter() - began,
        "sweeps": {str(size): result.to_dict() for size, result in sweeps.items()},
        "default": default.to_dict(),
    }
    write_results(
        "llm_poisoning_quick" if args.quick else "llm_poisoning", results, _markdown(results)
    )


if __name__ == "__main__":
    main(sys.argv[1:])
