"""Randomized smoothing: certification throughput against the base model's plain forward pass.

CERTIFY classifies ``n0 + n`` noisy copies of every input. Its cost over the physical limit is
drawing the noise, adding it, counting votes and the statistics; the limit is the base model's
own batched forward pass on the same number of images. One run measures both, interleaved
(paired trials after a warm-up), for the zoo's digits and signs CNNs, and reports

    ratio = (noisy samples classified per second by certify) / (images per second, plain forward)

with the same batch size. Each trial times certify and the plain forward pass back to back,
in alternating order, so that both see the same load on a shared machine; the ratio reported is
the median over trials. The target of issue 5 is a ratio of at least 0.90. The plain
forward pass reuses one pre-made batch (no data preparation at all), so the comparison is
strict. Throughput does not depend on the weights, so ``--stand-in`` times the untrained zoo
architectures (no training, to test the script).

Run ``python -m benchmarks certify`` or ``python benchmarks/bench_certify.py [--quick]``.
Results go to ``benchmarks/results/certify.md`` and ``.json``.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from aisec.defenses.certify import RandomizedSmoothing

try:
    from benchmarks._results import machine, write_results
except ImportError:  # run as a script: benchmarks/ is on sys.path
    from _results import machine, write_results  # type: ignore[no-redef]


@dataclass(frozen=True)
class Config:
    """What one run measures."""

    models: tuple[str, ...]
    points: int
    n0: int
    n: int
    batch_size: int
    repeats: int
    sigma: float
    stand_in: bool


def _parse(argv: list[str]) -> Config:
    parser = argparse.ArgumentParser(prog="bench_certify", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--models", default="digits-cnn,signs-cnn", help="comma-separated zoo models"
    )
    parser.add_argument("--points", type=int, default=2, help="inputs certified per trial")
    parser.add_argument("--n0", type=int, default=100)
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=15, help="paired trials (median)")
    parser.add_argument("--sigma", type=float, default=0.25)
    parser.add_argument(
        "--stand-in", action="store_true", help="untrained zoo architectures (to test the script)"
    )
    parser.add_argument("--quick", action="store_true", help="small sizes, to test the script")
    args = parser.parse_args(argv)
    models = tuple(args.models.split(","))
    if args.quick:
        return Config(models, 2, 50, 400, 250, 2, args.sigma, args.stand_in)
    return Config(
        models,
        args.points,
        args.n0,
        args.n,
        args.batch_size,
        args.repeats,
        args.sigma,
        args.stand_in,
    )


def _load(name: str, stand_in: bool) -> tuple[nn.Module, Tensor]:
    import aisec.data
    from aisec.zoo import load, model_spec

    spec = model_spec(name)
    model = spec.build() if stand_in else load(name)
    data = aisec.data.load(spec.dataset, "test", n=64 if spec.dataset == "signs" else None)
    return model.eval(), data.images


def _plain_forward(model: nn.Module, batch: Tensor, sizes: list[int]) -> float:
    """Seconds for the model's forward passes on batches of ``sizes`` (one pre-made batch)."""
    start = time.perf_counter()
    with torch.inference_mode():
        for size in sizes:
            model(batch[:size])
    return time.perf_counter() - start


def _batch_sizes(points: int, num: int, batch_size: int) -> list[int]:
    """The forward-pass sizes ``RandomizedSmoothing.sample_counts`` uses for ``num`` copies."""
    if num >= batch_size:
        per_input = [batch_size] * (num // batch_size) + (
            [num % batch_size] if num % batch_size else []
        )
        return per_input * points
    per_batch = batch_size // num
    full, rest = divmod(points, per_batch)
    return [per_batch * num] * full + ([rest * num] if rest else [])


def bench_model(name: str, config: Config) -> dict[str, Any]:
    """Certify against plain-forward times for one model: paired trials, alternating order."""
    model, images = _load(name, config.stand_in)
    x = images[: config.points]
    samples = config.points * (config.n0 + config.n)
    sizes = _batch_sizes(config.points, config.n0, config.batch_size)
    sizes += _batch_sizes(config.points, config.n, config.batch_size)
    assert sum(sizes) == samples
    batch = torch.rand(
        (config.batch_size, *x.shape[1:]), generator=torch.Generator().manual_seed(0)
    )
    smoothed = RandomizedSmoothing(model, config.sigma)

    def certify() -> float:
        start = time.perf_counter()
        smoothed.certify(x, n0=config.n0, n=config.n, batch_size=config.batch_size, seed=0)
        return time.perf_counter() - start

    certify()  # warm-up
    _plain_forward(model, batch, sizes)
    times: dict[str, list[float]] = {"certify": [], "plain": []}
    for trial in range(config.repeats):
        if trial % 2 == 0:
            times["certify"].append(certify())
            times["plain"].append(_plain_forward(model, batch, sizes))
        else:
            times["plain"].append(_plain_forward(model, batch, sizes))
            times["certify"].append(certify())
    ratios = [p / c for p, c in zip(times["plain"], times["certify"], strict=True)]
    certify_s = statistics.median(times["certify"])
    plain_s = statistics.median(times["plain"])
    return {
        "model": name,
        "image_shape": list(x.shape[1:]),
        "samples": samples,
        "forward_passes": len(sizes),
        "certify_median_s": certify_s,
        "plain_median_s": plain_s,
        "certify_samples_per_s": samples / certify_s,
        "plain_images_per_s": samples / plain_s,
        "ratio": statistics.median(ratios),
        "ratio_of_totals": sum(times["plain"]) / sum(times["certify"]),
        "trial_ratios": ratios,
        "times": times,
    }


def _markdown(results: dict[str, Any]) -> str:
    env, config = results["environment"], results["config"]
    load_before, load_after = results["load_average_before"], results["load_average_after"]
    lines = [
        "# Randomized smoothing: certification throughput vs the plain forward pass",
        "",
        f"CERTIFY with n0 = {config['n0']}, n = {config['n']} on {config['points']} inputs, "
        f"batch {config['batch_size']}, σ = {config['sigma']}; the plain forward pass runs the "
        "same number of images in batches of the same sizes; "
        f"{config['repeats']} paired trials after a warm-up. {env['processor']}, "
        f"{env['cpu_count']} CPUs, {env['torch_threads']} torch threads, torch {env['torch']}; "
        f"load average {load_before[0]:.2f} before, {load_after[0]:.2f} after (1 min); "
        f"measured {results['date']}.",
        "",
        "| model | image | samples per trial | certify (samples/s) | plain forward (images/s) "
        "| ratio (median of trials) | ratio of total times |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for row in results["rows"]:
        shape = "×".join(str(s) for s in row["image_shape"])
        lines.append(
            f"| {row['model']} | {shape} | {row['samples']} | "
            f"{row['certify_samples_per_s']:,.0f} | {row['plain_images_per_s']:,.0f} | "
            f"{row['ratio']:.3f} | {row['ratio_of_totals']:.3f} |"
        )
    lines += [
        "",
        "ratio = certify's samples per second / the plain forward pass's images per second, "
        "per trial (median over trials); the last column divides the total times. Throughputs "
        "are medians. Target: ratio ≥ 0.90.",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    """Measure each model and write ``benchmarks/results/certify.{md,json}``."""
    config = _parse([] if argv is None else argv)
    results: dict[str, Any] = {
        "config": dataclasses.asdict(config),
        "environment": machine(OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS")),
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "load_average_before": list(os.getloadavg()),
        "rows": [],
    }
    for name in config.models:
        print(f"{name} ...", flush=True)
        row = bench_model(name, config)
        print(
            f"  certify {row['certify_samples_per_s']:,.0f} samples/s, plain forward "
            f"{row['plain_images_per_s']:,.0f} images/s, ratio {row['ratio']:.3f}",
            flush=True,
        )
        results["rows"].append(row)
    results["load_average_after"] = list(os.getloadavg())
    write_results("certify", results, _markdown(results))
    print(_markdown(results))


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    main(sys.argv[1:])
