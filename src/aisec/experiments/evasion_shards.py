"""The shard tasks of ``aisec attack`` and ``aisec evaluate``: one attack, or a suite, on a
range of examples, exactly as the serial run evaluates them (see
:mod:`aisec.experiments.shards`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import Tensor

from aisec.attacks import AttackResult, EvasionAttack
from aisec.evaluate import AttackStage, RobustnessReport, evaluate_robustness, run_attack
from aisec.experiments.shards import ShardOutput, TensorTask
from aisec.models.plumbing import Model
from aisec.threat import ThreatModel

__all__ = ["AttackTask", "SuiteTask", "attack_result_of", "report_of"]

_REPORT_TENSORS = ("robust", "x_adv", "clean_pred", "adv_pred", "y")
_RESULT_COUNTS = ("forwards", "backwards", "forward_examples", "backward_examples", "time_s")


@dataclass
class SuiteTask(TensorTask):
    """The worst case under a suite on examples ``start … stop−1`` (sanity checks excluded:
    the driver runs them once).

    Attributes:
        model: the classifier.
        x: ``(N, ...)`` all the inputs.
        y: ``(N,)`` their labels.
        threat: the threat model.
        attacks: the suite, in order.
        batch_size: examples per batch of the data set.
        seed: the evaluation's seed.
        plan: the plan (its fingerprint keys the checkpoints).
    """

    kind: ClassVar[str] = "suite"
    model: Model
    x: Tensor
    y: Tensor
    threat: ThreatModel
    attacks: Sequence[EvasionAttack]
    batch_size: int
    seed: int
    plan: object

    def run_shard(self, start: int, stop: int) -> ShardOutput:
        """Evaluate examples ``start … stop−1`` (their indices key their draws and batches)."""
        report = evaluate_robustness(
            self.model,
            self.x[start:stop],
            self.y[start:stop],
            self.threat,
            self.attacks,
            batch_size=self.batch_size,
            seed=self.seed,
            sanity_checks=False,
            warn=False,
            ids=torch.arange(start, stop, device=self.x.device),
        )
        return ShardOutput(
            tensors={name: getattr(report, name) for name in _REPORT_TENSORS},
            meta={"stages": [stage.to_dict() for stage in report.stages], "time_s": report.time_s},
        )


def report_of(output: ShardOutput, threat: ThreatModel) -> RobustnessReport:
    """The :class:`~aisec.evaluate.RobustnessReport` of one shard (for the merge)."""
    tensors = output.tensors
    n = int(tensors["y"].shape[0])
    stages = [AttackStage(**stage) for stage in output.meta["stages"]]
    correct = tensors["clean_pred"] == tensors["y"]
    return RobustnessReport(
        threat=threat,
        n=n,
        clean_accuracy=float(correct.float().mean()) if n else 0.0,
        robust_accuracy=float(tensors["robust"].float().mean()) if n else 0.0,
        stages=stages,
        robust=tensors["robust"],
        x_adv=tensors["x_adv"],
        clean_pred=tensors["clean_pred"],
        adv_pred=tensors["adv_pred"],
        y=tensors["y"],
        time_s=float(output.meta["time_s"]),
    )


@dataclass
class AttackTask(TensorTask):
    """One attack on examples ``start … stop−1``.

    Attributes:
        model: the classifier.
        x: ``(N, ...)`` all the inputs.
        y: ``(N,)`` their labels.
        attack: the configured attack.
        batch_size: examples per attack call.
        plan: the plan (its fingerprint keys the checkpoints).
    """

    kind: ClassVar[str] = "attack"
    model: Model
    x: Tensor
    y: Tensor
    attack: EvasionAttack
    batch_size: int
    plan: object

    def run_shard(self, start: int, stop: int) -> ShardOutput:
        """Attack examples ``start … stop−1`` (their indices key their draws)."""
        result = run_attack(
            self.model,
            self.x[start:stop],
            self.y[start:stop],
            self.attack,
            batch_size=self.batch_size,
            ids=torch.arange(start, stop, device=self.x.device),
        )
        tensors = {
            "x_adv": result.x_adv,
            "success": result.success,
            "norms": result.norms,
            "y": result.y,
            "clean_pred": result.clean_pred,
            "adv_pred": result.adv_pred,
            **{f"extra.{key}": value for key, value in result.extras.items()},
        }
        if result.targets is not None:
            tensors["targets"] = result.targets
        meta: dict[str, Any] = {key: getattr(result, key) for key in _RESULT_COUNTS}
        return ShardOutput(tensors=tensors, meta=meta)


def attack_result_of(output: ShardOutput, attack: EvasionAttack) -> AttackResult:
    """The :class:`~aisec.attacks.AttackResult` of one shard (to concatenate)."""
    tensors, meta = output.tensors, output.meta
    return AttackResult(
        attack=attack.name,
        threat=attack.threat,
        x_adv=tensors["x_adv"],
        success=tensors["success"],
        norms=tensors["norms"],
        y=tensors["y"],
        targets=tensors.get("targets"),
        clean_pred=tensors["clean_pred"],
        adv_pred=tensors["adv_pred"],
        forwards=int(meta["forwards"]),
        backwards=int(meta["backwards"]),
        forward_examples=int(meta["forward_examples"]),
        backward_examples=int(meta["backward_examples"]),
        time_s=float(meta["time_s"]),
        extras={
            key.removeprefix("extra."): value
            for key, value in tensors.items()
            if key.startswith("extra.")
        },
    )
