"""Sharded experiments: serial against Ray with two workers on this machine, and Ray's start-up.

Two per-example workloads run three ways in one process, one after the other (never two at
once):

- **serial**: ``SerialExecutor``, torch with its default threads (all cores);
- **ray, cold**: a fresh ``RayExecutor(workers=2)`` on a running local cluster: the two worker
  processes start (importing torch and aisec), fetch the task once and run the shards;
- **ray, warm**: the same executor again with its workers kept (``keep_workers=True``): only
  the task transfer and the shards.

The workloads are a robustness evaluation (the worst case under APGD-CE, APGD-T and Square
on the adversarially trained ``signs-cnn-at`` at 8/255) and a text-attack campaign
(DeepWordBug against ``tweets-bow``). Every run's result is compared with the serial one
(apart from times): a speed-up that changed the answer would be worthless. ``ray.init``
itself is timed separately.

The serial process has both cores through torch's threads; two single-thread Ray workers can
still be faster where a workload's batches are too small to keep two threads busy. This
measures what sharding costs and gains on one small machine, and what a cluster starts from.

Run ``python -m benchmarks ray`` or ``python benchmarks/bench_ray.py [--quick]``. Results go
to ``benchmarks/results/ray.md`` and ``.json``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

RESULTS = Path(__file__).resolve().parent / "results"
_TIME_KEYS = {"time_s", "seconds", "execution", "certify_samples_per_s"}


@dataclass(frozen=True)
class Config:
    """What one run measures."""

    suite_n: int
    suite_batch: int
    text_n: int
    text_shard: int
    quick: bool


def _parse(argv: list[str]) -> Config:
    parser = argparse.ArgumentParser(prog="bench_ray", description=__doc__.split("\n")[0])
    parser.add_argument("--suite-n", type=int, default=64, help="images of the suite")
    parser.add_argument("--suite-batch", type=int, default=16, help="batch (and shard) size")
    parser.add_argument("--text-n", type=int, default=64, help="tweets attacked")
    parser.add_argument("--text-shard", type=int, default=8, help="tweets per shard")
    parser.add_argument("--quick", action="store_true", help="small sizes, to test the script")
    args = parser.parse_args(argv)
    if args.quick:
        return Config(16, 8, 8, 4, True)
    return Config(args.suite_n, args.suite_batch, args.text_n, args.text_shard, False)


def _without_times(record: Any) -> Any:
    if isinstance(record, dict):
        return {k: _without_times(v) for k, v in record.items() if k not in _TIME_KEYS}
    if isinstance(record, list):
        return [_without_times(v) for v in record]
    return record


def _leaves(record: Any, path: str = "") -> dict[str, Any]:
    """A JSON value flattened to ``{path: leaf}``."""
    if isinstance(record, dict):
        return {
            k: v for key, item in record.items() for k, v in _leaves(item, f"{path}/{key}").items()
        }
    if isinstance(record, list):
        return {
            k: v for i, item in enumerate(record) for k, v in _leaves(item, f"{path}[{i}]").items()
        }
    return {path: record}


def compare(expected: Any, got: Any) -> tuple[bool, bool, float]:
    """``(identical, same apart from floats, largest float difference)`` of two JSON values."""
    a, b = _leaves(expected), _leaves(got)
    if a.keys() != b.keys():
        return False, False, float("inf")
    largest = 0.0
    same_rest = True
    for key, value in a.items():
        other = b[key]
        if isinstance(value, float) and isinstance(other, float):
            if value != other and not (value != value and other != other):  # NaN == NaN here
                largest = max(largest, abs(value - other))
        elif value != other:
            same_rest = False
    return same_rest and largest == 0.0, same_rest, largest


def _timed(run: Callable[[], Any]) -> tuple[float, Any]:
    began = time.perf_counter()
    result = run()
    return time.perf_counter() - began, result


def _workloads(config: Config) -> dict[str, tuple[int, Callable[[Any], Any]]]:
    """Each workload: its number of examples and ``run(execution) -> result``."""
    from aisec.experiments import text
    from aisec.experiments.evasion import SuitePlan, run_suite

    suite = SuitePlan(
        model="signs-cnn-at",
        eps=8 / 255,
        n=config.suite_n,
        batch_size=config.suite_batch,
        square_queries=200 if config.quick else 1000,
        apgd_steps=20 if config.quick else 100,
    )
    campaign = text.TextAttackPlan(model="tweets-bow", recipe="deepwordbug", n=config.text_n)
    return {
        "robustness evaluation (signs-cnn-at, APGD-CE + APGD-T + Square, 8/255)": (
            config.suite_n,
            lambda execution: run_suite(suite, execution=execution),
        ),
        "text-attack campaign (DeepWordBug on tweets-bow)": (
            config.text_n,
            lambda execution: text.run(campaign, execution=execution),
        ),
    }


def measure(config: Config) -> dict[str, Any]:
    """Time every workload serially and on Ray (cold and warm workers)."""
    import ray

    from aisec.experiments.ray_executor import RayExecutor
    from aisec.experiments.sharded import Execution

    load_before = os.getloadavg()[0]
    init_s, _ = _timed(
        lambda: ray.init(
            num_cpus=2, include_dashboard=False, logging_level="ERROR", configure_logging=False
        )
    )
    rows = []
    try:
        for name, (examples, run) in _workloads(config).items():
            shard = config.suite_batch if "robustness" in name else config.text_shard
            run(Execution(shard_size=shard))  # warm-up: the zoo model trained or cached, imports
            serial_s, serial = _timed(lambda: run(Execution(shard_size=shard)))  # noqa: B023
            executor = RayExecutor(workers=2, keep_workers=True)
            on_ray = Execution(executor=executor, shard_size=shard)
            cold_s, cold = _timed(lambda: run(on_ray))  # noqa: B023
            warm_s, warm = _timed(lambda: run(on_ray))  # noqa: B023
            executor.close()
            expected = _without_times(serial.to_dict())
            checks = [compare(expected, _without_times(r.to_dict())) for r in (cold, warm)]
            rows.append(
                {
                    "workload": name,
                    "examples": examples,
                    "shards": serial.execution.shards,
                    "serial_s": serial_s,
                    "ray_cold_s": cold_s,
                    "ray_warm_s": warm_s,
                    "worker_start_s": cold_s - warm_s,
                    "serial_per_s": examples / serial_s,
                    "ray_warm_per_s": examples / warm_s,
                    "warm_over_serial": serial_s / warm_s,
                    "identical": all(c[0] for c in checks),
                    "same_apart_from_floats": all(c[1] for c in checks),
                    "largest_float_difference": max(c[2] for c in checks),
                }
            )
    finally:
        ray.shutdown()
    return {
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, "
        f"{torch.get_num_threads()} torch threads, torch {torch.__version__}, "
        f"ray {ray.__version__}",
        "load_before": load_before,
        "load_after": os.getloadavg()[0],
        "measured": time.strftime("%Y-%m-%d %H:%M"),
        "ray_init_s": init_s,
        "config": dataclasses.asdict(config),
        "rows": rows,
    }


def _verdict(row: dict[str, Any]) -> str:
    if row["identical"]:
        return "bit for bit"
    if row["same_apart_from_floats"]:
        return f"all decisions; floats within {row['largest_float_difference']:.1g}"
    return "NO"


def _markdown(record: dict[str, Any]) -> str:
    lines = [
        "# Sharded experiments: serial against Ray with two workers",
        "",
        f"{record['machine']}; load average {record['load_before']:.2f} before, "
        f"{record['load_after']:.2f} after (1 min); measured {record['measured']}. "
        f"`ray.init` of a local two-CPU cluster: {record['ray_init_s']:.1f} s.",
        "",
        "| workload | examples | shards | serial (s) | Ray cold (s) | Ray warm (s) | worker "
        "start-up (s) | serial examples/s | Ray warm examples/s | serial ÷ Ray warm | "
        "same result |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for row in record["rows"]:
        lines.append(
            f"| {row['workload']} | {row['examples']} | {row['shards']} | "
            f"{row['serial_s']:.1f} | {row['ray_cold_s']:.1f} | {row['ray_warm_s']:.1f} | "
            f"{row['worker_start_s']:.1f} | {row['serial_per_s']:.2f} | "
            f"{row['ray_warm_per_s']:.2f} | {row['warm_over_serial']:.2f} | "
            f"{_verdict(row)} |"
        )
    lines += [
        "",
        "Ray cold: a fresh executor (two worker processes start, import torch and aisec, fetch "
        "the task once); Ray warm: the same executor's kept workers. serial ÷ Ray warm above "
        "1 means Ray was faster. same result: both Ray runs' JSON against the serial run's, "
        "apart from times (bit for bit; or every count, mask, text and prediction equal and "
        "the floats within the given difference). Ray gives each worker one CPU, so its "
        "torch runs one thread where the serial run uses two, and a few kernels round "
        "differently with another thread count (here MiniLM's sentence embeddings, which "
        "only the reported similarity uses). The serial run has both cores through torch's "
        "threads; two single-thread workers can still be faster when a workload's batches "
        "are too small to keep two threads busy, and the workers' start-up is paid once per "
        "executor (cold − warm).",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    """Measure and write ``benchmarks/results/ray.md`` and ``.json``."""
    config = _parse(sys.argv[1:] if argv is None else argv)
    record = measure(config)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "ray.json").write_text(json.dumps(record, indent=2) + "\n")
    (RESULTS / "ray.md").write_text(_markdown(record))
    print(_markdown(record))


if __name__ == "__main__":
    main()
