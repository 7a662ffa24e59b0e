"""Evasion attacks: aisec against a plain PyTorch loop, ART, Foolbox and torchattacks.

Four measurements in one run, on the signs CNN of the model zoo (L∞), each row with its peak
memory (``benchmarks/_memory.py``):

1. **PGD speed** — 20 steps of 2/255 from the clean point (no random start, so every
   implementation computes the same iterates) on a batch of 256: aisec, a plain hand-written
   PyTorch loop (the model's own forward and backward passes and nothing else), ART, Foolbox
   and torchattacks. Median wall time of several interleaved repeats, as a ratio to the loop.
   aisec stops optimising a point once it is adversarial; the same run at eps = 0, where no
   point can fall, measures the cost per step without that saving (APGD-CE too).
2. **APGD-CE** — aisec against torchattacks' APGD at the same number of steps: robust accuracy
   and time.
3. **Square's cost per query** — aisec's Square at eps = 2/255 against a replay of the bare
   forward passes it made (same batch sizes, the model alone).
4. **Worst-case robust accuracy** — :func:`aisec.evaluate.evaluate_robustness` (APGD-CE,
   APGD-T, Square) against torchattacks' ``AutoAttack(version="standard")`` on the same points.

The reference libraries are optional (``pip install -e .[bench]``; torchattacks with
``--no-deps``); a missing one is reported and skipped. Run ``python -m benchmarks evasion`` or
``python benchmarks/bench_evasion.py [--quick] [--stand-in]``. Results go to
``benchmarks/results/evasion.md`` and ``.json``.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.metadata
import json
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from aisec.attacks import APGD, PGD, SquareAttack
from aisec.attacks.base import CPU_FORWARD_ROWS
from aisec.evaluate import default_suite, evaluate_robustness
from aisec.threat import ThreatModel, parse_eps

try:
    from benchmarks._memory import peak_memory_mib
    from benchmarks._results import RESULTS, machine, write_results
except ImportError:  # run as a script: benchmarks/ is on sys.path
    from _memory import peak_memory_mib  # type: ignore[no-redef]
    from _results import RESULTS, machine, write_results  # type: ignore[no-redef]

SECTIONS = ("pgd", "pgd_overhead", "apgd", "square", "autoattack")
EPS = 8 / 255
STEP = 2 / 255
SQUARE_EPS = 2 / 255  # most points survive Square here: the common case on a robust model


@dataclass(frozen=True)
class Config:
    """What one run measures."""

    model: str
    batch: int
    pgd_steps: int
    repeats: int
    apgd_steps: int
    apgd_repeats: int
    n_autoattack: int
    stand_in: bool
    square_queries: int = 5000
    square_bench_queries: int = 1000
    square_repeats: int = 3
    autoattack_eps: tuple[float, ...] = (8 / 255, 2 / 255)
    only: tuple[str, ...] = ()


def _parse(argv: list[str]) -> Config:
    parser = argparse.ArgumentParser(prog="bench_evasion", description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="signs-cnn", help="zoo model (default signs-cnn)")
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--pgd-steps", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=9, help="timed PGD repeats (median)")
    parser.add_argument("--apgd-steps", type=int, default=100)
    parser.add_argument("--apgd-repeats", type=int, default=1)
    parser.add_argument("--n-autoattack", type=int, default=300, help="points for sections 3 and 4")
    parser.add_argument(
        "--autoattack-eps",
        default="8/255,2/255",
        help="comma-separated L∞ budgets for section 4 (the smaller one leaves robust points)",
    )
    parser.add_argument(
        "--stand-in",
        action="store_true",
        help="use a quickly trained stand-in CNN instead of the zoo model (to test the script)",
    )
    parser.add_argument("--quick", action="store_true", help="small sizes, to test the script")
    parser.add_argument(
        "--only",
        default="",
        help=f"comma-separated sections to re-run ({', '.join(SECTIONS)}); the others are kept "
        "from the existing results/evasion.json",
    )
    args = parser.parse_args(argv)
    only = tuple(part for part in args.only.split(",") if part)
    unknown = sorted(set(only) - set(SECTIONS))
    if unknown:
        parser.error(f"unknown section(s) {unknown}; choose from {list(SECTIONS)}")
    budgets = tuple(parse_eps(part) for part in args.autoattack_eps.split(","))
    if args.quick:  # tests the script: tiny budgets, Square shortened on both sides
        return Config(
            args.model,
            64,
            5,
            2,
            20,
            1,
            48,
            args.stand_in,
            100,
            square_bench_queries=50,
            square_repeats=1,
            autoattack_eps=budgets[:1],
            only=only,
        )
    return Config(
        args.model,
        args.batch,
        args.pgd_steps,
        args.repeats,
        args.apgd_steps,
        args.apgd_repeats,
        args.n_autoattack,
        args.stand_in,
        autoattack_eps=budgets,
        only=only,
    )


def _version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def _environment() -> dict[str, Any]:
    return machine(
        aisec=_version("aisec"),
        **{
            name: _version(name)
            for name in ("adversarial-robustness-toolbox", "foolbox", "torchattacks")
        },
    )


def _stand_in_model(x: Tensor, y: Tensor, num_classes: int) -> nn.Module:
    """The zoo's architecture, trained for two epochs (only to test this script)."""
    from aisec.models import SmallCNN

    generator = torch.Generator().manual_seed(0)
    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = SmallCNN(x.shape[1], num_classes)
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-3)
    model.train()
    for _ in range(2):
        order = torch.randperm(len(y), generator=generator)
        for start in range(0, len(y), 128):
            batch = order[start : start + 128]
            loss = F.cross_entropy(model(x[batch]), y[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return model.eval()


def _load(config: Config) -> tuple[nn.Module, Tensor, Tensor, int, str]:
    import aisec.data
    import aisec.zoo

    n = max(2 * config.batch, config.n_autoattack)
    test = aisec.data.load("signs", "test", n=n, seed=0)
    if config.stand_in:
        train = aisec.data.load("signs", "train", n=4000, seed=1)
        model = _stand_in_model(train.images, train.labels, train.num_classes)
        name = "stand-in SmallCNN (2 epochs)"
    else:
        model = aisec.zoo.load(config.model)
        name = config.model
    return model.eval(), test.images, test.labels, test.num_classes, name


def _accuracy(model: nn.Module, x: Tensor, y: Tensor) -> float:
    with torch.no_grad():
        correct = sum(
            int((model(x[i : i + 256]).argmax(dim=1) == y[i : i + 256]).sum())
            for i in range(0, len(y), 256)
        )
    return correct / len(y)


def plain_pgd(
    model: nn.Module, x: Tensor, y: Tensor, eps: float, step: float, steps: int
) -> Tensor:
    """The physical limit: PGD as a user would write it, with nothing but the math."""
    x_adv = x.clone()
    for _ in range(steps):
        x_adv.requires_grad_(True)
        loss = F.cross_entropy(model(x_adv), y)
        (grad,) = torch.autograd.grad(loss, x_adv)
        x_adv = x_adv.detach() + step * grad.sign()
        x_adv = torch.min(torch.max(x_adv, x - eps), x + eps).clamp(0.0, 1.0)
    return x_adv


def _pgd_contestants(
    model: nn.Module, num_classes: int, x: Tensor, y: Tensor, steps: int, eps: float
) -> tuple[dict[str, Callable[[], Tensor]], dict[str, str]]:
    """Callables running 20-step PGD in each library (None-free), and why any are missing."""
    contestants: dict[str, Callable[[], Tensor]] = {}
    missing: dict[str, str] = {}
    contestants["plain PyTorch loop"] = lambda: plain_pgd(model, x, y, eps, STEP, steps)
    attack = PGD(ThreatModel("linf", eps), steps=steps, step_size=STEP, random_start=False)
    contestants["aisec"] = lambda: attack(model, x, y).x_adv
    if eps == 0:  # one forward and one backward pass per step too: its cost per step
        apgd = APGD(ThreatModel("linf", eps), steps=steps, loss="ce", seed=0)
        contestants[f"aisec APGD-CE ({steps} steps)"] = lambda: apgd(model, x, y).x_adv

    try:
        from art.attacks.evasion import ProjectedGradientDescentPyTorch
        from art.estimators.classification import PyTorchClassifier

        classifier = PyTorchClassifier(
            model=model,
            loss=nn.CrossEntropyLoss(),
            input_shape=tuple(x.shape[1:]),
            nb_classes=num_classes,
            clip_values=(0.0, 1.0),
            device_type="gpu" if x.is_cuda else "cpu",
        )
        art_attack = ProjectedGradientDescentPyTorch(
            classifier,
            norm=np.inf,
            eps=eps,
            eps_step=STEP,
            max_iter=steps,
            num_random_init=0,
            batch_size=x.shape[0],
            verbose=False,
        )
        x_np, y_np = x.cpu().numpy(), y.cpu().numpy()
        contestants["ART"] = lambda: torch.from_numpy(art_attack.generate(x=x_np, y=y_np))
    except Exception as error:  # an optional library: report, do not fail
        missing["ART"] = f"{type(error).__name__}: {error}"

    try:
        import foolbox

        fmodel = foolbox.PyTorchModel(model, bounds=(0.0, 1.0))  # type: ignore[attr-defined]
        fb_attack = foolbox.attacks.LinfPGD(abs_stepsize=STEP, steps=steps, random_start=False)

        def run_foolbox() -> Tensor:
            _, clipped, _ = fb_attack(fmodel, x, y, epsilons=eps)
            result: Tensor = clipped
            return result

        contestants["Foolbox"] = run_foolbox
    except Exception as error:
        missing["Foolbox"] = f"{type(error).__name__}: {error}"

    try:
        import torchattacks

        ta_attack = torchattacks.PGD(model, eps=eps, alpha=STEP, steps=steps, random_start=False)
        contestants["torchattacks"] = lambda: ta_attack(x, y)
    except Exception as error:
        missing["torchattacks"] = f"{type(error).__name__}: {error}"
    return contestants, missing


def interleaved_times(runs: dict[str, Callable[[], Any]], repeats: int) -> dict[str, list[float]]:
    """Wall times of ``repeats`` rounds of every run. Each round starts with the next run, so
    that none always runs in the same position (right after the same neighbour, or first after
    a pause)."""
    names = list(runs)
    times: dict[str, list[float]] = {name: [] for name in names}
    for repeat in range(repeats):
        for name in names[repeat % len(names) :] + names[: repeat % len(names)]:
            start = time.perf_counter()
            runs[name]()
            times[name].append(time.perf_counter() - start)
    return times


def bench_pgd(
    model: nn.Module, num_classes: int, x: Tensor, y: Tensor, config: Config, eps: float = EPS
) -> dict[str, Any]:
    """Section 1: median time of PGD per implementation, interleaved repeats.

    At ``eps = 0`` no point can become adversarial, so every implementation runs every step on
    every point: the time per step without early stopping.
    """
    contestants, missing = _pgd_contestants(model, num_classes, x, y, config.pgd_steps, eps)
    accuracy: dict[str, float] = {}
    failed: dict[str, str] = {}
    peaks: dict[str, float | None] = {}
    for name, run in contestants.items():  # warm-up, the accuracy check and the peak memory
        try:
            x_adv, peaks[name] = peak_memory_mib(run, x.device)
            accuracy[name] = _accuracy(model, x_adv.to(x.device), y)
        except Exception as error:
            failed[name] = f"{type(error).__name__}: {error}"
    for name in failed:
        contestants.pop(name)
    times = interleaved_times(contestants, config.repeats)
    plain = statistics.median(times["plain PyTorch loop"])
    rows = [
        {
            "implementation": name,
            "median_s": statistics.median(t),
            "min_s": min(t),
            "ratio_to_plain": statistics.median(t) / plain,
            "robust_accuracy": accuracy[name],
            "peak_mib": peaks[name],
        }
        for name, t in times.items()
    ]
    return {
        "batch": int(x.shape[0]),
        "steps": config.pgd_steps,
        "eps": eps,
        "step_size": STEP,
        "random_start": False,
        "repeats": config.repeats,
        "clean_accuracy": _accuracy(model, x, y),
        "rows": rows,
        "skipped": {**missing, **failed},
    }


def bench_apgd(model: nn.Module, x: Tensor, y: Tensor, config: Config) -> dict[str, Any]:
    """Section 2: aisec APGD-CE against torchattacks' APGD at the same number of steps."""
    threat = ThreatModel("linf", EPS)
    ours = APGD(threat, steps=config.apgd_steps, loss="ce", seed=0)
    runs: dict[str, Callable[[], Tensor]] = {"aisec APGD-CE": lambda: ours(model, x, y).x_adv}
    skipped: dict[str, str] = {}
    try:
        import torchattacks

        theirs = torchattacks.APGD(
            model, norm="Linf", eps=EPS, steps=config.apgd_steps, n_restarts=1, loss="ce", seed=0
        )
        runs["torchattacks APGD (ce)"] = lambda: theirs(x, y)
    except Exception as error:
        skipped["torchattacks"] = f"{type(error).__name__}: {error}"
    rows: list[dict[str, Any]] = []
    for name, run in runs.items():
        times = []
        x_adv = x
        peak: float | None = None
        for repeat in range(config.apgd_repeats):
            start = time.perf_counter()
            if repeat == 0:
                x_adv, peak = peak_memory_mib(run, x.device)
            else:
                x_adv = run()
            times.append(time.perf_counter() - start)
        rows.append(
            {
                "implementation": name,
                "median_s": statistics.median(times),
                "robust_accuracy": _accuracy(model, x_adv, y),
                "peak_mib": peak,
            }
        )
    if len(rows) == 2:
        rows[0]["time_ratio"] = rows[0]["median_s"] / rows[1]["median_s"]
    return {
        "batch": int(x.shape[0]),
        "steps": config.apgd_steps,
        "repeats": config.apgd_repeats,
        "rows": rows,
        "skipped": skipped,
    }


class _BatchRecorder(nn.Module):
    """The model, noting the batch size of every forward pass made through it."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model
        self.sizes: list[int] = []

    def forward(self, x: Tensor) -> Tensor:
        self.sizes.append(int(x.shape[0]))
        out: Tensor = self.model(x)
        return out


def bench_square(model: nn.Module, x: Tensor, y: Tensor, config: Config) -> dict[str, Any]:
    """Section 3: Square alone against the bare forward passes it makes, replayed.

    One recorded run notes the batch size of every forward pass Square asks for (the clean
    pass, each query on the points still robust, the final check). The baseline replays exactly
    those passes on the model alone, under ``torch.no_grad``, with nothing else, as whole batches
    and in the pieces aisec cuts them into on this device (``EvasionAttack.forward_rows``): the
    ratio to the whole batches is what a query costs against a bare forward pass of the same
    batch. Interleaved repeats, median.
    """
    threat = ThreatModel("linf", SQUARE_EPS)
    with torch.no_grad():
        correct = model(x).argmax(dim=1) == y
    x, y = x[correct], y[correct]
    attack = SquareAttack(threat, n_queries=config.square_bench_queries, p_init=0.8, seed=0)
    recording = SquareAttack(threat, n_queries=config.square_bench_queries, p_init=0.8, seed=0)
    recording.forward_rows = max(int(x.shape[0]), 1)  # whole batches: the calls Square makes
    recorder = _BatchRecorder(model)
    recorded = recording(recorder, x, y)
    sizes = recorder.sizes
    piece = CPU_FORWARD_ROWS if x.device.type == "cpu" else None

    def replay(rows: int | None) -> Callable[[], None]:
        def run() -> None:
            with torch.no_grad():
                for size in sizes:
                    for part in x[:size].split(rows or size):
                        model(part)

        return run

    runs: dict[str, Callable[[], Any]] = {
        "aisec Square": lambda: attack(model, x, y),
        "bare forward passes, whole batches": replay(None),
    }
    if piece is not None:
        runs[f"bare forward passes, in pieces of {piece} rows"] = replay(piece)
    peaks = {name: peak_memory_mib(run, x.device)[1] for name, run in runs.items()}  # warm-up
    times = interleaved_times(runs, config.square_repeats)
    medians = {name: statistics.median(t) for name, t in times.items()}
    whole_s = medians["bare forward passes, whole batches"]
    rows = sum(sizes)
    return {
        "eps": SQUARE_EPS,
        "n": int(x.shape[0]),
        "n_queries": config.square_bench_queries,
        "repeats": config.square_repeats,
        "forward_passes": len(sizes),
        "forward_rows": rows,
        "piece_rows": piece,
        "robust_accuracy": float((~recorded.success).float().mean()),
        "rows": [
            {
                "implementation": name,
                "median_s": seconds,
                "ms_per_1000_rows": 1e6 * seconds / rows,
                "ratio_to_forward": seconds / whole_s,
                "peak_mib": peaks[name],
            }
            for name, seconds in medians.items()
        ],
    }


def _published_autoattack(model: nn.Module, eps: float, num_classes: int) -> Any:
    """torchattacks' components at the published AutoAttack "standard" settings: APGD-CE and
    APGD-T (9 targets) with 100 steps, FAB-T (9 targets) with 100 steps, Square 5,000 queries."""
    import torchattacks

    targets = min(9, num_classes - 1)
    apgd_t = torchattacks.APGDT(
        model, norm="Linf", eps=eps, steps=100, n_restarts=1, n_classes=num_classes, seed=0
    )
    apgd_t.n_target_classes = targets
    fab_t = torchattacks.FAB(
        model,
        norm="Linf",
        eps=eps,
        steps=100,
        n_restarts=1,
        multi_targeted=True,
        n_classes=num_classes,
        seed=0,
    )
    fab_t.n_target_classes = targets
    return torchattacks.MultiAttack(
        [
            torchattacks.APGD(model, norm="Linf", eps=eps, steps=100, n_restarts=1, seed=0),
            apgd_t,
            fab_t,
            torchattacks.Square(model, norm="Linf", eps=eps, n_queries=5000, n_restarts=1, seed=0),
        ]
    )


def bench_autoattack(
    model: nn.Module, num_classes: int, x: Tensor, y: Tensor, eps: float, config: Config
) -> dict[str, Any]:
    """Section 4: worst-case robust accuracy, aisec's suite against AutoAttack (torchattacks)."""
    threat = ThreatModel("linf", eps)
    suite = default_suite(threat, num_classes=num_classes, n_queries=config.square_queries)
    start = time.perf_counter()
    report, ours_peak = peak_memory_mib(
        lambda: evaluate_robustness(model, x, y, threat, suite, batch_size=256, warn=False),
        x.device,
    )
    ours_s = time.perf_counter() - start
    out: dict[str, Any] = {
        "eps": eps,
        "n": int(x.shape[0]),
        "clean_accuracy": report.clean_accuracy,
        "aisec": {
            "robust_accuracy": report.robust_accuracy,
            "time_s": ours_s,
            "peak_mib": ours_peak,
            "stages": [stage.to_dict() for stage in report.stages],
            "warnings": report.warnings,
        },
        "references": {},
        "skipped": {},
    }
    try:
        import torchattacks

        references = {
            "torchattacks AutoAttack (its defaults: 10 steps)": torchattacks.AutoAttack(
                model, norm="Linf", eps=eps, version="standard", n_classes=num_classes, seed=0
            ),
            "AutoAttack standard as published (torchattacks parts, 100 steps)": (
                _published_autoattack(model, eps, num_classes)
            ),
        }
    except Exception as error:
        out["skipped"]["torchattacks"] = f"{type(error).__name__}: {error}"
        return out
    for name, attack in references.items():
        if config.square_queries != 5000:  # --quick only: shorten Square as on our side
            parts = attack._autoattack.attacks if hasattr(attack, "_autoattack") else attack.attacks
            parts[-1].n_queries = config.square_queries
        start = time.perf_counter()
        x_ref, peak = peak_memory_mib(
            lambda attack=attack: torch.cat(
                [attack(x[i : i + 256], y[i : i + 256]) for i in range(0, len(y), 256)]
            ),
            x.device,
        )
        seconds = time.perf_counter() - start
        with torch.no_grad():
            pred = torch.cat(
                [model(x_ref[i : i + 256]).argmax(dim=1) for i in range(0, len(y), 256)]
            )
        robust = pred == y
        accuracy = float(robust.float().mean())
        out["references"][name] = {
            "robust_accuracy": accuracy,
            "time_s": seconds,
            "peak_mib": peak,
            "gap_points": 100 * (report.robust_accuracy - accuracy),
            "time_ratio": ours_s / seconds,
            "robust_only_aisec": int((report.robust & ~robust).sum()),
            "robust_only_reference": int((robust & ~report.robust).sum()),
        }
    return out


def _markdown(results: dict[str, Any]) -> str:
    env = results["environment"]
    lines = [
        "# Evasion attacks: aisec vs a plain loop, ART, Foolbox and torchattacks",
        "",
        f"Model: {results['model']} · L∞ eps = 8/255 · {env['processor']}, "
        f"{env['cpu_count']} CPUs, {env['torch_threads']} torch threads · torch {env['torch']} · "
        f"ART {env['adversarial-robustness-toolbox']} · Foolbox {env['foolbox']} · "
        f"torchattacks {env['torchattacks']} · measured {results['date']}, "
        f"total {results['total_s']:.0f} s.",
        "",
    ]
    rerun = results.get("rerun")
    if rerun is not None:
        lines[-1:-1] = [
            f"Sections {', '.join(rerun['sections'])} re-run on {rerun['date']} "
            f"({rerun.get('seconds', 0):.0f} s) with `--only`; the others are from the run above.",
        ]
    pgd = results["pgd"]
    lines += [
        f"## PGD: {pgd['steps']} steps of 2/255, no random start, batch {pgd['batch']}",
        "",
        f"Median of {pgd['repeats']} interleaved repeats (each starting with the next "
        f"implementation) after a warm-up run, on {pgd['batch']} "
        "test signs the model classifies correctly (so that no implementation saves work by "
        "skipping misclassified points); the ratio is to the plain PyTorch loop. aisec keeps the "
        "first adversarial iterate of each point and stops optimising it there; the others run "
        "every point for every step. A point fooled at any evaluated iterate counts as broken, so "
        "aisec's robust accuracy is at most the others'.",
        "",
    ]
    lines += _pgd_table(pgd)
    overhead = results.get("pgd_overhead")
    if overhead is not None:
        lines += [
            "",
            "### Cost per step: the same PGD at eps = 0",
            "",
            "At eps = 0 no point can become adversarial, so every implementation, aisec included, "
            "runs all steps on all points: this measures the work per step, with no early "
            "stopping.",
            "",
        ]
        lines += _pgd_table(overhead)
    apgd = results["apgd"]
    lines += [
        "",
        f"## APGD-CE: {apgd['steps']} steps, batch {apgd['batch']}",
        "",
        "aisec stops optimising each point once it is misclassified; torchattacks runs every "
        "point for all steps.",
        "",
        "| implementation | time (s) | robust accuracy | peak memory (MiB) |",
        "|---|---:|---:|---:|",
    ]
    for row in apgd["rows"]:
        lines.append(
            f"| {row['implementation']} | {row['median_s']:.2f} | {row['robust_accuracy']:.1%} "
            f"| {_mib(row)} |"
        )
    if "time_ratio" in apgd["rows"][0]:
        lines += ["", f"Time ratio aisec / torchattacks: {apgd['rows'][0]['time_ratio']:.2f}."]
    square = results.get("square")
    if square is not None:
        lines += _square_section(square)
    for auto in results["autoattack"]:
        lines += [
            "",
            f"## Worst-case robust accuracy, eps = {auto['eps'] * 255:.3g}/255, {auto['n']} points",
            "",
            "aisec: `evaluate_robustness`'s default suite (APGD-CE 100 steps, APGD-T 9 targets × "
            f"100 steps, Square {results['config']['square_queries']} queries), each attack only "
            "on the points still robust. References on the same points: torchattacks' "
            '`AutoAttack(version="standard")` with its defaults, and the published AutoAttack '
            "standard settings built from torchattacks' parts. Clean accuracy "
            f"{auto['clean_accuracy']:.1%}.",
            "",
            "| evaluation | robust accuracy | time (s) | peak memory (MiB) | aisec − reference "
            "| aisec time ratio |",
            "|---|---:|---:|---:|---:|---:|",
            f"| aisec evaluate_robustness | {auto['aisec']['robust_accuracy']:.1%} "
            f"| {auto['aisec']['time_s']:.1f} | {_mib(auto['aisec'])} | | |",
        ]
        for name, ref in auto["references"].items():
            lines.append(
                f"| {name} | {ref['robust_accuracy']:.1%} | {ref['time_s']:.1f} | {_mib(ref)} "
                f"| {ref['gap_points']:+.1f} points | {ref['time_ratio']:.2f} |"
            )
        for name, why in auto["skipped"].items():
            lines.append(f"| {name} | skipped: {why} | | | | |")
        lines += ["", "| aisec stage | attacked | broken | accuracy after | time (s) |"]
        lines += ["|---|---:|---:|---:|---:|"]
        for stage in auto["aisec"]["stages"]:
            lines.append(
                f"| {stage['attack']} | {stage['attacked']} | {stage['broken']} "
                f"| {stage['robust_accuracy']:.1%} | {stage['time_s']:.1f} |"
            )
    return "\n".join(lines) + "\n"


def _pgd_table(pgd: dict[str, Any]) -> list[str]:
    lines = [
        "| implementation | median time (s) | × plain loop | robust accuracy | peak memory (MiB) |",
        "|---|---:|---:|---:|---:|",
    ]
    for row in pgd["rows"]:
        lines.append(
            f"| {row['implementation']} | {row['median_s']:.2f} | {row['ratio_to_plain']:.2f}× "
            f"| {row['robust_accuracy']:.1%} | {_mib(row)} |"
        )
    for name, why in pgd["skipped"].items():
        lines.append(f"| {name} | skipped: {why} | | | |")
    return lines


def _square_section(square: dict[str, Any]) -> list[str]:
    lines = [
        "",
        f"## Square: cost per query, eps = {square['eps'] * 255:.3g}/255, {square['n']} points, "
        f"{square['n_queries']} queries",
        "",
        "One run records the batch size of every forward pass Square asks for (the clean pass, "
        "each query on the points still robust, the final check): "
        f"{square['forward_passes']} passes, {square['forward_rows']:,} rows. The baselines "
        "replay exactly those passes on the model alone under `torch.no_grad`, as whole batches "
        "and in the pieces aisec cuts them into on this device (`EvasionAttack.forward_rows`); "
        "the ratio is to the whole batches, a bare forward pass of the same batch. Median of "
        f"{square['repeats']} interleaved repeats. Robust accuracy after Square: "
        f"{square['robust_accuracy']:.1%} of the {square['n']} correctly classified points.",
        "",
        "| run | median time (s) | ms per 1,000 rows | × bare forward | peak memory (MiB) |",
        "|---|---:|---:|---:|---:|",
    ]
    for row in square["rows"]:
        lines.append(
            f"| {row['implementation']} | {row['median_s']:.2f} | {row['ms_per_1000_rows']:.1f} "
            f"| {row['ratio_to_forward']:.2f}× | {_mib(row)} |"
        )
    return lines


def _mib(row: dict[str, Any]) -> str:
    """A row's peak memory for the tables: MiB above the start, or n/a where unmeasured."""
    peak = row.get("peak_mib")
    return "n/a" if peak is None else f"{peak:,.0f}"


def main(argv: list[str] | None = None) -> None:
    """Run the three measurements and write ``benchmarks/results/evasion.{md,json}``."""
    config = _parse([] if argv is None else argv)
    began = time.perf_counter()
    model, x, y, num_classes, name = _load(config)
    print(f"model {name}: {num_classes} classes, clean accuracy {_accuracy(model, x, y):.1%}")
    results: dict[str, Any] = {}
    if config.only and (RESULTS / "evasion.json").exists():
        results = json.loads((RESULTS / "evasion.json").read_text())
        results["rerun"] = {"sections": list(config.only), "date": time.strftime("%Y-%m-%d %H:%M")}
    else:
        results["date"] = time.strftime("%Y-%m-%d %H:%M")
    results |= {
        "model": name,
        "config": dataclasses.asdict(config),
        "environment": _environment(),
    }
    wanted = set(config.only or SECTIONS)
    batch, n = config.batch, config.n_autoattack
    # PGD is timed on correctly classified points, so that no implementation saves work by
    # skipping points that are misclassified already.
    with torch.no_grad():
        correct = (model(x).argmax(dim=1) == y).nonzero().squeeze(1)[:batch]
    sections: list[tuple[str, Callable[[], Any]]] = [
        ("pgd", lambda: bench_pgd(model, num_classes, x[correct], y[correct], config)),
        (
            "pgd_overhead",
            lambda: bench_pgd(model, num_classes, x[correct], y[correct], config, eps=0.0),
        ),
        ("apgd", lambda: bench_apgd(model, x[:batch], y[:batch], config)),
        ("square", lambda: bench_square(model, x[:n], y[:n], config)),
    ]
    for key, run in sections:
        if key not in wanted:
            continue
        print(f"{key} ...", flush=True)
        results[key] = run()
        _record_time(results, began, config)
        _write(results)  # after every section, so that an interrupted run keeps what it measured
    if "autoattack" not in wanted:
        _write(results)
        print(_markdown(results))
        return
    results["autoattack"] = []
    for eps in config.autoattack_eps:
        print(f"worst case at eps {eps * 255:.3g}/255 ...", flush=True)
        results["autoattack"].append(
            bench_autoattack(model, num_classes, x[:n], y[:n], eps, config)
        )
        _record_time(results, began, config)
        _write(results)
    print(_markdown(results))


def _record_time(results: dict[str, Any], began: float, config: Config) -> None:
    """The run's wall time so far: the whole run's, or that of the re-run sections."""
    if config.only and "rerun" in results:
        results["rerun"]["seconds"] = time.perf_counter() - began
    else:
        results["total_s"] = time.perf_counter() - began


def _write(results: dict[str, Any]) -> None:
    complete = "apgd" in results and results.get("autoattack")
    write_results("evasion", results, _markdown(results) if complete else None)


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    main(sys.argv[1:])
