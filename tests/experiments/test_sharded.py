"""Experiments in shards give the serial result, checkpoint every shard and resume.

See :mod:`aisec.experiments.sharded`; the Ray executor is tested in ``test_ray_executor.py``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from shard_cases import (
    ATTACK,
    CERTIFY,
    SHARD_SIZES,
    SUITE,
    digest,
    digits_model,
    without_times,
)
from torch import nn

from aisec.experiments import certify
from aisec.experiments.evasion import run_attack_plan, run_suite
from aisec.experiments.executors import ExecutorReport, SerialExecutor
from aisec.experiments.sharded import Execution, make_executor, run_sharded
from aisec.experiments.shards import Shard, ShardOutput, ShardStore, fingerprint, plan_shards


def test_shards_hold_whole_batches() -> None:
    shards = plan_shards(22, 5, 4)  # 5 rounds up to two batches of 4
    assert [(s.start, s.stop) for s in shards] == [(0, 8), (8, 16), (16, 22)]
    assert [s.index for s in shards] == [0, 1, 2] and shards[-1].size == 6
    assert plan_shards(0, 3) == []
    assert [(s.start, s.stop) for s in plan_shards(7, 100, 4)] == [(0, 7)]
    with pytest.raises(ValueError, match="shard_size must be an int >= 1"):
        plan_shards(5, 0)
    with pytest.raises(ValueError, match="shard_size must be None or an int >= 1"):
        Execution(shard_size=0)
    with pytest.raises(ValueError, match="unknown executor 'dask'"):
        make_executor("dask")
    with pytest.raises(ValueError, match="ray executor only"):
        make_executor("serial", address="auto")


def test_a_shard_output_survives_its_file(tmp_path: Path) -> None:
    output = ShardOutput(
        tensors={
            "x": torch.rand(3, 2),
            "mask": torch.tensor([True, False, True]),
            "empty": torch.zeros(0, dtype=torch.long),
        },
        meta={"stages": [{"attack": "APGD-CE", "broken": 2}], "note": "ünïcode"},
    )
    store = ShardStore(tmp_path, "suite", "ab" * 32)
    shard = Shard(1, 8, 11)
    assert store.load(shard) is None
    store.save(shard, output)
    back = store.load(shard)
    assert back is not None and back.meta == output.meta
    assert all(torch.equal(back.tensors[k], v) for k, v in output.tensors.items())
    assert [p.name for p in store.folder.iterdir()] == ["000000008-000000011.safetensors"]


def test_a_fingerprint_changes_with_the_weights_the_data_and_the_plan(model: nn.Module) -> None:
    x = torch.rand(4, 1, 8, 8)
    base = fingerprint("suite", SUITE, model, x)
    assert base == fingerprint("suite", SUITE, model, x.clone())
    other = digits_model()
    with torch.no_grad():
        other[1].bias[0] += 1e-6
    assert fingerprint("suite", SUITE, other, x) != base
    assert fingerprint("suite", SUITE, model, x + 1e-6) != base
    assert fingerprint("suite", ATTACK, model, x) != base
    norm = nn.BatchNorm1d(3)  # a 0-d buffer (num_batches_tracked) hashes too
    assert fingerprint(norm) == fingerprint(nn.BatchNorm1d(3)) != fingerprint(nn.BatchNorm1d(4))


@pytest.mark.parametrize("shard_size", SHARD_SIZES[1:])
def test_a_sharded_suite_is_the_serial_suite(zoo: nn.Module, shard_size: int) -> None:
    serial = run_suite(SUITE)
    sharded = run_suite(SUITE, execution=Execution(shard_size=shard_size))
    assert 0 < serial.robust.count < serial.clean.count  # the attacks break some points
    assert digest(sharded.report.x_adv) == digest(serial.report.x_adv)
    assert torch.equal(sharded.report.robust, serial.report.robust)
    assert without_times(sharded.to_dict()) == without_times(serial.to_dict())
    assert sharded.execution is not None and serial.execution is not None
    assert serial.execution.shards == 6  # default: one batch (4 points) per shard
    assert sharded.execution.shards == -(-22 // shard_size)


def test_the_sanity_checks_run_once_on_the_whole_suite(zoo: nn.Module) -> None:
    from aisec.evaluate import evaluate_robustness

    run = run_suite(SUITE)
    from aisec.experiments.targets import load_target

    task = load_target(SUITE.model, SUITE.options, n=SUITE.n, seed=SUITE.seed)
    attacks = SUITE.build_attacks(num_classes=10)
    direct = evaluate_robustness(
        task.model, task.x, task.y, SUITE.threat, attacks, batch_size=4, warn=False
    )
    assert run.report.warnings == direct.warnings
    assert digest(run.report.x_adv) == digest(direct.x_adv)  # one call over all: the same
    assert [s.broken for s in run.report.stages] == [s.broken for s in direct.stages]


@pytest.mark.parametrize("shard_size", [22, 12])
def test_a_sharded_attack_is_the_serial_attack(zoo: nn.Module, shard_size: int) -> None:
    serial = run_attack_plan(ATTACK)
    sharded = run_attack_plan(ATTACK, execution=Execution(shard_size=shard_size))
    assert (
        0
        < int(serial.result.success.sum())
        < int((serial.result.clean_pred == serial.result.y).sum())
    )
    assert digest(sharded.result.x_adv) == digest(serial.result.x_adv)
    assert without_times(sharded.to_dict()) == without_times(serial.to_dict())
    assert sharded.result.forwards == serial.result.forwards


@pytest.mark.parametrize("shard_size", [7, 3])
def test_sharded_certification_is_the_serial_certification(zoo: nn.Module, shard_size: int) -> None:
    serial = certify.run(CERTIFY)
    sharded = certify.run(CERTIFY, execution=Execution(shard_size=shard_size))
    assert without_times(sharded.to_dict()) == without_times(serial.to_dict())
    assert torch.equal(sharded.evaluation.certificate.counts, serial.evaluation.certificate.counts)
    assert sharded.to_dict()["settings"]["points"] == 7


class _StopAfter(SerialExecutor):
    """Runs ``shards`` shards, then stops as a killed process would."""

    def __init__(self, shards: int) -> None:
        self.left = shards

    def run(self, task, shards, done):  # type: ignore[no-untyped-def]
        for shard in shards:
            if self.left == 0:
                raise KeyboardInterrupt
            done(shard, task.run_shard(shard.start, shard.stop))
            self.left -= 1
        return ExecutorReport(workers=1)


def test_an_interrupted_suite_resumes_and_computes_only_the_rest(
    zoo: nn.Module, tmp_path: Path
) -> None:
    with pytest.raises(KeyboardInterrupt):
        run_suite(SUITE, execution=Execution(executor=_StopAfter(2), checkpoint_dir=tmp_path))
    (folder,) = tmp_path.iterdir()
    assert len(list(folder.iterdir())) == 2  # the finished shards, stored
    resumed = run_suite(SUITE, execution=Execution(checkpoint_dir=tmp_path))
    assert resumed.execution is not None
    assert (resumed.execution.resumed, resumed.execution.computed) == (2, 4)
    again = run_suite(SUITE, execution=Execution(checkpoint_dir=tmp_path))
    assert again.execution is not None and again.execution.computed == 0
    serial = run_suite(SUITE)
    for run in (resumed, again):
        assert digest(run.report.x_adv) == digest(serial.report.x_adv)
        assert without_times(run.to_dict()) == without_times(serial.to_dict())
    # Other work (another seed) never reads these shards.
    other = run_suite(
        SUITE.__class__(**{**SUITE.__dict__, "seed": 1}),
        execution=Execution(checkpoint_dir=tmp_path),
    )
    assert other.execution is not None and other.execution.resumed == 0
    assert len(list(tmp_path.iterdir())) == 2


def test_progress_counts_shards_and_examples(zoo: nn.Module) -> None:
    seen = []
    run_attack_plan(ATTACK, execution=Execution(shard_size=8, on_progress=seen.append))
    assert [(p.shards_done, p.shards_total, p.examples_done) for p in seen] == [
        (1, 3, 8),
        (2, 3, 16),
        (3, 3, 22),
    ]
    assert all(p.examples_per_second > 0 for p in seen)


def test_run_sharded_returns_outputs_in_order() -> None:
    class Echo:
        def run_shard(self, start: int, stop: int) -> ShardOutput:
            return ShardOutput(tensors={"i": torch.arange(start, stop)})

        def to(self, device: str) -> Echo:
            return self

        def fingerprint(self) -> str:
            return "echo"

    outputs, record = run_sharded(Echo(), 10, kind="echo", execution=Execution(shard_size=3))
    assert torch.equal(torch.cat([o.tensors["i"] for o in outputs]), torch.arange(10))
    assert json.loads(json.dumps(record.to_dict()))["shards"] == 4


def test_a_sharded_text_attack_is_the_serial_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(Path(__file__).parents[1] / "text"))
    from text_stubs import LexiconModel, StubEncoder

    from aisec.experiments import text as experiment

    monkeypatch.setattr(experiment.names, "text_model", lambda name, **_: LexiconModel())
    plan = experiment.TextAttackPlan(model="tweets-bow", recipe="deepwordbug", n=10)
    serial = experiment.run(plan, encoder=StubEncoder())  # type: ignore[arg-type]
    sharded = experiment.run(
        plan,
        encoder=StubEncoder(),  # type: ignore[arg-type]
        execution=Execution(shard_size=3),
    )
    assert serial.execution is not None and sharded.execution is not None
    assert (serial.execution.shards, sharded.execution.shards) == (1, 4)
    assert without_times(sharded.to_dict()) == without_times(serial.to_dict())
    assert [r.to_dict() for r in sharded.run.results] == [
        {**r.to_dict(), "seconds": s.seconds}
        for r, s in zip(serial.run.results, sharded.run.results, strict=True)
    ]
    assert serial.summary.succeeded > 0
