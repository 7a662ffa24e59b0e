"""Watermark detection time at 1 and 2 torch intra-op threads.

:func:`aisec.genai.watermark.detect` runs on one intra-op thread by default (``num_threads=1``,
restored afterwards): each distinct context costs one ``randperm`` of the vocabulary, sequential
work of a fraction of a millisecond that torch would otherwise split over its threads, paying a
parallel region per context. This benchmark measures whether that choice is right on the machine
it runs on: for torch set to 1 and to 2 threads, the detection time per text with the library's
default (``pinned``: one thread inside ``detect``) and with ``num_threads=None`` (``unpinned``:
torch's setting).

Each configuration runs in a fresh Python process (so that no thread pool outlives its
configuration), on the same texts: uniformly random ids over SmolLM2's vocabulary (49,152), the
worst case (every context distinct), each text scored by a fresh scheme (cold green-list cache).
No model is loaded. ``python -m benchmarks watermark_threads`` runs the default configuration
(8 texts of 400 tokens) and writes ``benchmarks/results/watermark_threads.md`` and ``.json``; run
it on an idle machine and on a busy one. For manual runs::

    python benchmarks/bench_watermark_threads.py                 # 8 texts of 400 tokens
    python benchmarks/bench_watermark_threads.py --texts 3 --length 100 --json out.json
    python benchmarks/bench_watermark_threads.py --out DIR       # also DIR/watermark_threads.md
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"
VOCAB_SIZE = 49_152
MODES = ("pinned", "unpinned")
THREADS = (1, 2)
DEFAULT_TEXTS = 8
DEFAULT_LENGTH = 400


def _child(threads: int, mode: str, texts: int, length: int) -> list[float]:
    """Seconds per text for one configuration (runs inside the fresh process)."""
    import torch

    torch.set_num_threads(threads)
    from aisec.genai.watermark import WatermarkScheme, detect

    generator = torch.Generator().manual_seed(0)
    samples = [torch.randint(0, VOCAB_SIZE, (length,), generator=generator) for _ in range(texts)]
    detect(WatermarkScheme(VOCAB_SIZE), samples[0][:20])  # imports and first-call set-up
    seconds: list[float] = []
    for ids in samples:
        scheme = WatermarkScheme(VOCAB_SIZE)
        began = time.perf_counter()
        detect(scheme, ids, num_threads=1 if mode == "pinned" else None)
        seconds.append(time.perf_counter() - began)
    if torch.get_num_threads() != threads:
        raise RuntimeError("detect did not restore torch's thread count")
    return seconds


def _run_child(threads: int, mode: str, texts: int, length: int) -> list[float]:
    command = [sys.executable, __file__, "--child", str(threads), mode]
    command += ["--texts", str(texts), "--length", str(length)]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    return [float(value) for value in json.loads(done.stdout.strip().splitlines()[-1])]


def measure(
    texts: int = DEFAULT_TEXTS, length: int = DEFAULT_LENGTH, *, echo: bool = False
) -> dict[str, Any]:
    """Time every (threads, mode) configuration, each in a fresh process, and return the results.

    Args:
        texts: texts per configuration.
        length: tokens per text.
        echo: print each configuration's row as it is measured.
    """
    import torch

    began = time.perf_counter()
    load_before = list(os.getloadavg())
    rows: list[dict[str, Any]] = []
    if echo:
        print(f"{'threads':>7}  {'mode':<8}  {'median s':>9}  {'max s':>8}", flush=True)
    for threads in THREADS:
        for mode in MODES:
            seconds = _run_child(threads, mode, texts, length)
            rows.append(
                {
                    "threads": threads,
                    "mode": mode,
                    "median_s": statistics.median(seconds),
                    "max_s": max(seconds),
                    "seconds": seconds,
                }
            )
            if echo:
                row = rows[-1]
                print(
                    f"{threads:>7}  {mode:<8}  {row['median_s']:>9.3f}  {row['max_s']:>8.3f}",
                    flush=True,
                )
    return {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "environment": {
            "processor": platform.processor() or platform.machine(),
            "cpus": os.cpu_count(),
            "torch": torch.__version__,
            "load_average_before": load_before,
            "load_average_after": list(os.getloadavg()),
        },
        "vocab_size": VOCAB_SIZE,
        "texts": texts,
        "length": length,
        "results": rows,
        "total_s": time.perf_counter() - began,
    }


def _markdown(results: dict[str, Any]) -> str:
    env = results["environment"]
    lines = [
        "# Watermark detection threads",
        "",
        f"Detection time per text of `detect` with torch set to 1 and 2 intra-op threads: "
        f"{results['texts']} texts of {results['length']} uniformly random ids over "
        f"{results['vocab_size']:,} (every context distinct), each scored by a fresh scheme "
        f"(cold green-list cache), each configuration in a fresh process. "
        f"{env['processor']}, {env['cpus']} CPUs, torch {env['torch']}; load average "
        f"{env['load_average_before'][0]:.2f} before and {env['load_average_after'][0]:.2f} "
        f"after (1 min); measured {results['date']}, total {results['total_s']:.0f} s.",
        "",
        "## Detection time per text",
        "",
        "| torch threads | detect | median s | max s | unpinned / pinned (medians) |",
        "|---:|---|---:|---:|---:|",
    ]
    pinned: dict[int, float] = {}
    for row in results["results"]:
        if row["mode"] == "pinned":
            pinned[row["threads"]] = row["median_s"]
            label, ratio = "pinned (`num_threads=1`, the default)", ""
        else:
            label = "unpinned (`num_threads=None`)"
            ratio = f"{row['median_s'] / pinned[row['threads']]:.2f}x"
        lines.append(
            f"| {row['threads']} | {label} | {row['median_s']:.3f} | {row['max_s']:.3f} | {ratio} |"
        )
    lines += [
        "",
        f"Seconds per text of {results['length']} tokens (median and maximum over "
        f"{results['texts']} texts). Pinned: `detect` runs on one intra-op thread and restores "
        f"torch's setting afterwards; unpinned: it runs on torch's setting. A ratio above 1 "
        f"means pinning is faster. The times depend on the machine's load: compare runs on an "
        f"idle and a busy machine.",
    ]
    return "\n".join(lines) + "\n"


def write(results: dict[str, Any], directory: Path) -> None:
    """Write ``watermark_threads.md`` and ``.json`` to ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "watermark_threads.json").write_text(json.dumps(results, indent=2) + "\n")
    (directory / "watermark_threads.md").write_text(_markdown(results))


def main() -> None:
    """Run the default configuration and write ``benchmarks/results/watermark_threads.*``."""
    results = measure()
    write(results, RESULTS)
    print(_markdown(results))


def cli(argv: list[str] | None = None) -> None:
    """The command line for manual runs (see the module docstring)."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--texts", type=int, default=DEFAULT_TEXTS, help="texts per configuration")
    parser.add_argument("--length", type=int, default=DEFAULT_LENGTH, help="tokens per text")
    parser.add_argument("--json", type=Path, help="also write the timings to this file")
    parser.add_argument(
        "--out", type=Path, help="also write watermark_threads.md and .json to this folder"
    )
    parser.add_argument("--child", nargs=2, metavar=("THREADS", "MODE"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.texts < 1 or args.length < 20:
        parser.error("--texts must be >= 1 and --length >= 20")
    if args.child is not None:
        threads, mode = int(args.child[0]), args.child[1]
        print(json.dumps(_child(threads, mode, args.texts, args.length)))
        return
    print(f"{args.texts} texts of {args.length} random tokens, V = {VOCAB_SIZE}, cold cache")
    results = measure(args.texts, args.length, echo=True)
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    if args.out is not None:
        write(results, args.out)


if __name__ == "__main__":
    cli()
