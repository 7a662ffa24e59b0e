"""Chapter 6's exercises: read a pickle's imports without running it; a split-proof random start.

``pickle_globals`` hands the learner pickles whose imports the checker knows by construction —
plain data, standard-library objects, ``os.mkdir`` payloads written by every protocol (``GLOBAL``,
``STACK_GLOBAL`` with memoized strings, ``INST``), and a payload hidden after the first ``STOP``
— and checks the answer and that no payload ran. ``keyed_random_start`` asks for PGD's random
start drawn per example from (seed, the example's index), as aisec's shards need, and checks that
the answer does not depend on how the batch is split or ordered.
"""

from __future__ import annotations

import collections
import datetime
import functools
import os
import pickle
import tempfile
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from aisec.exercises.base import Checks, Exercise, LearnerError, Solution, as_tensor, pct

__all__ = ["KEYED_RANDOM_START", "PICKLE_GLOBALS"]

_START_EPS = 0.1
_START_SEED = 7


class _Payload:
    """Unpickling calls ``function(*args)``: what an attacker puts in a checkpoint."""

    def __init__(self, function: Any, *args: object) -> None:
        self.function, self.args = function, args

    def __reduce__(self) -> tuple[Any, tuple[object, ...]]:
        return self.function, self.args


def _name(function: Any) -> tuple[str, str]:
    return (function.__module__, function.__qualname__)


def _pickles(trap: Path) -> list[tuple[str, bytes, set[tuple[str, str]]]]:
    """(what, the bytes, the globals they import), each payload aimed at creating ``trap``."""
    mkdir, rmdir = _name(os.mkdir), _name(os.rmdir)
    trap_path = str(trap)
    benign = pickle.dumps({"weight": [0.5, -1.25], "bias": 3, "name": "layer"}, protocol=2)
    hand_written_inst = b"(S'" + trap_path.encode() + b"'\nios\nmkdir\n."
    two_payloads = pickle.dumps(
        [_Payload(os.mkdir, trap_path), _Payload(os.rmdir, trap_path)], protocol=4
    )
    return [
        ("plain data (protocol 2)", benign, set()),
        (
            "an OrderedDict and a date (protocol 3)",
            pickle.dumps([collections.OrderedDict(a=1), datetime.date(2024, 1, 2)], protocol=3),
            {("collections", "OrderedDict"), ("datetime", "date")},
        ),
        (
            "an os.mkdir payload (protocol 0, GLOBAL)",
            pickle.dumps(_Payload(os.mkdir, trap_path), 0),
            {mkdir},
        ),
        (
            "an os.mkdir payload (protocol 2, GLOBAL)",
            pickle.dumps(_Payload(os.mkdir, trap_path), 2),
            {mkdir},
        ),
        (
            "an os.mkdir payload (protocol 4, STACK_GLOBAL)",
            pickle.dumps(_Payload(os.mkdir, trap_path), 4),
            {mkdir},
        ),
        ("two payloads sharing memoized strings (protocol 4)", two_payloads, {mkdir, rmdir}),
        ("a hand-written INST opcode", hand_written_inst, {("os", "mkdir")}),
        (
            "a payload after the first pickle's STOP",
            benign + pickle.dumps(_Payload(os.mkdir, trap_path), 4),
            {mkdir},
        ),
        (
            "a functools.partial (protocol 5)",
            pickle.dumps(functools.partial(int, base=2), protocol=5),
            {("functools", "partial"), ("builtins", "int")},
        ),
    ]


def _as_pairs(value: object) -> set[tuple[str, str]]:
    if not isinstance(value, (set, frozenset, list, tuple)):
        raise LearnerError(
            f"pickle_globals must return a set of (module, name) pairs, got {type(value).__name__}"
        )
    pairs = set()
    for item in value:
        if not (
            isinstance(item, tuple) and len(item) == 2 and all(isinstance(s, str) for s in item)
        ):
            raise LearnerError(f"pickle_globals must return (module, name) pairs, got {item!r}")
        pairs.add(item)
    return pairs


def _check_pickles(solution: Solution, checks: Checks) -> None:
    with tempfile.TemporaryDirectory() as folder:
        trap = Path(folder) / "payload-ran"
        for what, data, expected in _pickles(trap):
            found = _as_pairs(solution.call("pickle_globals", data))
            checks.expect(
                f"finds the imports of {what}",
                found == expected,
                f"expected {sorted(expected)}, got {sorted(found)}",
            )
            if trap.exists():
                checks.fail("never runs the pickle", f"a payload created {trap.name}")
                return
        checks.expect("never runs the pickle", True)


def _check_start(solution: Solution, checks: Checks) -> None:
    generator = torch.Generator().manual_seed(0)
    x = torch.rand(20, 3, 4, 4, generator=generator)
    x[0], x[1, 0] = 0.0, 1.0  # pixels on the box's faces
    ids = torch.randperm(1000, generator=generator)[:20]
    eps, seed = _START_EPS, _START_SEED

    def start(images: Tensor, indices: Tensor, s: int = seed) -> Tensor:
        value = solution.call("random_start", images.clone(), indices.clone(), eps, s)
        return as_tensor(value, "random_start", shape=tuple(images.shape), floating=True)

    full = start(x, ids)
    largest = float((full - x).abs().max())
    checks.expect(
        "inside the L∞ ball and [0, 1]",
        largest <= eps + 1e-6 and float(full.min()) >= 0 and float(full.max()) <= 1,
        f"max |x0 − x| = {largest:.6f}, values in [{float(full.min()):.4f}, "
        f"{float(full.max()):.4f}]",
    )
    pieces = torch.cat([start(x[a:b], ids[a:b]) for a, b in ((0, 3), (3, 11), (11, 20))])
    checks.expect(
        "the same start in batches of 3, 8 and 9", torch.equal(pieces, full), "compared bit for bit"
    )
    order = torch.randperm(20, generator=generator)
    checks.expect(
        "the same start for each example in another order",
        torch.equal(start(x[order], ids[order]), full[order]),
        "compared bit for bit",
    )
    other_seed = start(x, ids, seed + 1)
    checks.expect(
        "another seed gives another start",
        float((other_seed != full).double().mean()) > 0.5,
        f"{pct(float((other_seed != full).double().mean()))} of the pixels changed",
    )
    twins = start(x[2:3].repeat(4, 1, 1, 1), torch.arange(4))
    distinct = all(not torch.equal(twins[i], twins[j]) for i in range(4) for j in range(i))
    checks.expect(
        "the same image under different indices gets different starts",
        distinct,
        "" if distinct else "two indices gave the same start",
    )
    grey = torch.full((64, 3, 8, 8), 0.5)
    delta = start(grey, torch.arange(64)) - grey
    mean_abs, largest, bias = (
        float(delta.abs().mean()),
        float(delta.abs().max()),
        float(delta.mean()),
    )
    uniform = abs(mean_abs - eps / 2) <= 0.05 * eps and largest >= 0.95 * eps
    checks.expect(
        "uniform in the ball: mean |δ| ≈ ε/2, reaching ±ε, centred",
        uniform and abs(bias) <= 0.02 * eps,
        f"mean |δ| = {mean_abs:.4f} (ε/2 = {eps / 2}), max |δ| = {largest:.4f}, mean δ = "
        f"{bias:.5f}",
    )


PICKLE_GLOBALS = Exercise(
    name="pickle_globals",
    chapter=6,
    title="Read a pickle's imports without running it: GLOBAL, STACK_GLOBAL, INST",
    statement=(
        "A pickle runs whatever callables it imports. Write pickle_globals(data), which returns "
        "every (module, name) a byte string of pickles would import, without unpickling it: walk "
        "the opcodes with pickletools.genops and read GLOBAL and INST (their argument is "
        "'module name'), and STACK_GLOBAL (module and name are the two strings pushed before it: "
        "follow the memo for strings that MEMOIZE stored and BINGET/LONG_BINGET fetch). An "
        "attacker can hide a second pickle after the first STOP: keep reading until the bytes "
        "end."
    ),
    functions=("pickle_globals(data: bytes) -> set[tuple[str, str]]",),
    checks=(
        "the exact set of imports of 9 pickles: plain data, OrderedDict and date, os.mkdir "
        "payloads in protocols 0, 2 and 4, two payloads sharing memoized strings, a "
        "hand-written INST, a payload after the first STOP, a functools.partial (protocol 5)",
        "no payload ran (they would create a file)",
    ),
    checker=_check_pickles,
)

KEYED_RANDOM_START = Exercise(
    name="keyed_random_start",
    chapter=6,
    title="A random start keyed by (seed, example index): the same however the work is split",
    statement=(
        "aisec's shards give the same answer however a run is split because every random draw "
        "of an example comes from (seed, its index), never from its batch. Write PGD's L∞ "
        "random start that way: x0 = clip(x + δ, 0, 1) with δ uniform in [−ε, ε] per pixel, "
        "drawn for row i from a generator seeded by (seed, ids[i]) only (e.g. "
        "aisec.seeding.example_generator, or your own mix of the two numbers). Splitting the "
        "batch or reordering it must not change any example's start."
    ),
    functions=("random_start(x: Tensor, ids: Tensor, eps: float, seed: int) -> Tensor",),
    checks=(
        "x0 within ε of x (L∞) and inside [0, 1]",
        "bit-for-bit the same start for each example in one batch, in batches of 3, 8 and 9, "
        "and in another order",
        "another seed, or another index for the same image, gives another start",
        "δ is uniform on [−ε, ε]: mean |δ| within 5% of ε/2, max |δ| ≥ 0.95·ε, mean δ ≈ 0",
    ),
    checker=_check_start,
)
