"""The Ray executor on a local two-CPU cluster: the serial result, whatever the shards, a
dead worker or a failing task; checkpoints resumed.

One cluster serves the module (starting it costs seconds); each run starts its own actors,
which receive the task (model and data) once.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from shard_cases import (
    ATTACK,
    CERTIFY,
    SUITE,
    digest,
    green_text,
    without_times,
)
from torch import nn

from aisec.experiments import certify
from aisec.experiments.evasion import run_attack_plan, run_suite
from aisec.experiments.executors import Executor, ExecutorReport
from aisec.experiments.ray_executor import RayExecutor
from aisec.experiments.sharded import Execution
from aisec.experiments.shards import Shard, ShardOutput, ShardTask
from tiny_language_model import tiny_lm

ray = pytest.importorskip("ray")


@pytest.fixture(scope="module", autouse=True)
def cluster() -> Iterator[None]:
    ray.init(num_cpus=2, include_dashboard=False, logging_level="ERROR", configure_logging=False)
    # The workers import this module's helpers by value (the tests folder is not a package).
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    ray.cloudpickle.register_pickle_by_value(sys.modules["shard_cases"])
    ray.cloudpickle.register_pickle_by_value(sys.modules["tiny_language_model"])
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def executor() -> RayExecutor:
    """One executor for the module: its two workers start once and serve every run."""
    return RayExecutor(workers=2, keep_workers=True)


@dataclass
class FailOnce:
    """A task that fails once on the shard starting at ``start``: its worker process dies
    (``how="die"``) or it raises (``how="raise"``); a marker file remembers it failed."""

    task: ShardTask
    marker: str
    start: int
    how: str

    def run_shard(self, start: int, stop: int) -> ShardOutput:
        if start == self.start and not os.path.exists(self.marker):
            Path(self.marker).touch()
            if self.how == "die":
                os._exit(1)
            raise RuntimeError("a transient failure")
        return self.task.run_shard(start, stop)

    def to(self, device: str) -> FailOnce:
        self.task = self.task.to(device)
        return self

    def fingerprint(self) -> str:
        return self.task.fingerprint()


@dataclass
class Echo:
    """A task whose shards hold their own range."""

    def run_shard(self, start: int, stop: int) -> ShardOutput:
        return ShardOutput(meta={"range": [start, stop]})

    def to(self, device: str) -> Echo:
        return self

    def fingerprint(self) -> str:
        return "echo"


class FailingOnce(Executor):
    """The module's Ray executor (its warm workers), running a task that fails once."""

    name = "ray"

    def __init__(self, ray_executor: RayExecutor, marker: Path, start: int, how: str) -> None:
        self.ray_executor = ray_executor
        self.failure = (str(marker), start, how)

    def run(self, task, shards, done):  # type: ignore[no-untyped-def]
        return self.ray_executor.run(FailOnce(task, *self.failure), shards, done)


def test_a_suite_on_ray_is_the_serial_suite(zoo: nn.Module, executor: RayExecutor) -> None:
    serial = run_suite(SUITE)
    for shard_size in (8, 12):  # three shards; two of uneven size
        on_ray = run_suite(SUITE, execution=Execution(executor=executor, shard_size=shard_size))
        assert digest(on_ray.report.x_adv) == digest(serial.report.x_adv)
        assert without_times(on_ray.to_dict()) == without_times(serial.to_dict())
        assert on_ray.execution is not None and on_ray.execution.executor == "ray"
        assert on_ray.execution.workers == min(2, on_ray.execution.shards)


def test_no_free_cpu_is_an_error_not_a_hang(executor: RayExecutor) -> None:
    assert len(executor._actors) == 2  # the module's workers hold both CPUs
    crowded = RayExecutor(workers=1, start_timeout_s=1.0)
    with pytest.raises(RuntimeError, match="no Ray worker started within 1 s"):
        crowded.run(Echo(), [Shard(0, 0, 1)], lambda shard, out: None)


def test_certification_on_ray_resumes_from_an_interrupted_run(
    zoo: nn.Module, tmp_path: Path, executor: RayExecutor
) -> None:
    class StopAfterOne(RayExecutor):
        def run(self, task, shards, done):  # type: ignore[no-untyped-def]
            done(shards[0], task.run_shard(shards[0].start, shards[0].stop))
            raise KeyboardInterrupt

    serial = certify.run(CERTIFY)
    execution = Execution(executor=StopAfterOne(), shard_size=3, checkpoint_dir=tmp_path)
    with pytest.raises(KeyboardInterrupt):
        certify.run(CERTIFY, execution=execution)
    resumed = certify.run(
        CERTIFY, execution=Execution(executor=executor, shard_size=3, checkpoint_dir=tmp_path)
    )
    assert resumed.execution is not None
    assert (resumed.execution.resumed, resumed.execution.computed) == (1, 2)
    assert without_times(resumed.to_dict()) == without_times(serial.to_dict())


def test_corpus_detection_on_ray_is_the_serial_one(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, executor: RayExecutor
) -> None:
    from aisec.experiments import names, text_detection

    lm = tiny_lm()
    monkeypatch.setattr(names, "language_model", lambda name: lm)
    for index, text in enumerate([green_text(50), "a plain sentence by a person, " * 3]):
        (tmp_path / f"{index}.txt").write_text(text)
    for method in ("watermark", "zero-shot"):
        plan = text_detection.CorpusDetectionPlan(corpus=str(tmp_path), method=method)
        serial = text_detection.run(plan)
        on_ray = text_detection.run(plan, execution=Execution(executor=executor, shard_size=1))
        assert on_ray.records == serial.records
        if method == "watermark":
            assert [r["watermarked"] for r in serial.records] == [True, False]


@pytest.mark.parametrize("how", ["die", "raise"])
def test_a_failed_shard_is_run_again(
    zoo: nn.Module, tmp_path: Path, how: str, executor: RayExecutor
) -> None:
    serial = run_attack_plan(ATTACK)
    marker = tmp_path / "failed"
    failing = FailingOnce(executor, marker, 8, how)
    run = run_attack_plan(ATTACK, execution=Execution(executor=failing, shard_size=8))
    assert marker.exists()  # it did fail once
    assert run.execution is not None and run.execution.retried == 1
    assert digest(run.result.x_adv) == digest(serial.result.x_adv)
    assert without_times(run.to_dict()) == without_times(serial.to_dict())


def test_ray_options_are_checked() -> None:
    with pytest.raises(ValueError, match="workers must be None or an int >= 1"):
        RayExecutor(workers=0)
    with pytest.raises(ValueError, match="gpus_per_worker must be >= 0"):
        RayExecutor(gpus_per_worker=-1)
    assert ExecutorReport(workers=2).retried == 0


def test_a_wrong_input_is_not_retried(executor: RayExecutor) -> None:
    @dataclass
    class Wrong:
        def run_shard(self, start: int, stop: int) -> ShardOutput:
            raise ValueError("labels out of range")

        def to(self, device: str) -> Wrong:
            return self

        def fingerprint(self) -> str:
            return "wrong"

    with pytest.raises(ValueError, match="labels out of range"):
        executor.run(Wrong(), [Shard(0, 0, 1)], lambda shard, out: None)
    assert executor._actors == []  # an error releases the workers
