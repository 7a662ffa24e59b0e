"""The stage loop of a worst-case evaluation: each attack runs only on the still-robust points.

:func:`~aisec.evaluate.evaluate_robustness` and :func:`~aisec.evaluate.evaluate_defense` both
run a list of attacks in order, each on the points that every earlier attack (and, for a
defense, the transferred examples) failed on, and count a point as robust only if all of them
fail. They differ in who judges a candidate: the attacked model itself (the attack's own
``success``), or another model (the real defended model, while the attack ran on its BPDA/EOT
surrogate). :func:`run_stages` is that loop, with the judge as a parameter.

Reference:
    F. Croce, M. Hein, "Reliable evaluation of adversarial robustness with an ensemble of
    diverse parameter-free attacks", ICML 2020 (the per-example worst case over a suite).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from torch import Tensor

from aisec.attacks.base import AttackResult, EvasionAttack
from aisec.evaluate.sanity import check_blackbox_beats_whitebox
from aisec.models.plumbing import Model
from aisec.seeding import ids_or_range

__all__ = [
    "Judge",
    "StageLoop",
    "StageRun",
    "attack_success",
    "batch_groups",
    "batches",
    "run_stages",
]

Judge = Callable[[AttackResult, Tensor], tuple[Tensor, Tensor]]
"""``judge(result, y)`` for one attack's result on the attacked points and their labels
``(M,)``: returns ``(broken, predictions)``, both ``(M,)`` — which candidates count as
adversarial, and the judging model's predictions on them."""


def attack_success(result: AttackResult, y: Tensor) -> tuple[Tensor, Tensor]:
    """The default :data:`Judge`: the attack's own success and predictions on the model it ran on.

    Args:
        result: the attack's result on ``M`` points.
        y: ``(M,)`` their labels (unused: the result already judged them).

    Returns:
        ``(result.success, result.adv_pred)``, both ``(M,)``.
    """
    del y
    return result.success, result.adv_pred


@dataclass(frozen=True)
class StageRun:
    """One attack of the loop, after it ran.

    Attributes:
        attack: the attack.
        attacked: points it ran on (those still robust before it).
        broken: of those, points the judge counts as adversarial.
        robust: ``(N,)`` bool, the points still robust after it (a copy).
        time_s: seconds spent on the attack and its judgement.
        forwards: batched forward passes of the attack.
        backwards: batched backward passes of the attack.
        forward_examples: examples summed over the attack's forward passes.
    """

    attack: EvasionAttack
    attacked: int
    broken: int
    robust: Tensor
    time_s: float
    forwards: int
    backwards: int
    forward_examples: int


@dataclass(frozen=True)
class StageLoop:
    """What :func:`run_stages` returns.

    Attributes:
        robust: ``(N,)`` bool, the points every attack failed on.
        x_adv: ``(N, ...)`` for each point an attack broke the example that broke it, the
            initial ``x_adv`` elsewhere.
        adv_pred: ``(N,)`` the judge's predictions on ``x_adv`` where an attack broke the point,
            the initial predictions elsewhere (``None`` if none were given).
        warnings: sanity warnings raised by the loop (a black-box attack beating the white-box
            ones), in order.
    """

    robust: Tensor
    x_adv: Tensor
    adv_pred: Tensor | None
    warnings: list[str]


def batches(index: Tensor, batch_size: int) -> list[Tensor]:
    """``index`` split into consecutive chunks of at most ``batch_size`` entries."""
    return [index[i : i + batch_size] for i in range(0, index.numel(), batch_size)]


def batch_groups(index: Tensor, ids: Tensor, batch_size: int) -> list[Tensor]:
    """``index`` split by the data set's batch each point belongs to (``ids // batch_size``).

    An attack called on the still-robust points of one fixed batch of the data set (never on
    survivors packed from several) sees the same rows in a sharded run as in a serial one
    whenever shards are made of whole batches, so the same floating-point operations run
    (CPU matrix kernels round differently for different row counts).

    Args:
        index: ``(M,)`` positions of points in ``ids``.
        ids: ``(N,)`` the points' indices in their data set.
        batch_size: the data set's batch size.

    Returns:
        The positions in ``index`` of each batch's points, batch by batch.
    """
    if index.numel() == 0:
        return []
    keys = ids[index] // batch_size
    return [index[keys == key] for key in keys.unique().tolist()]


def run_stages(
    model: Model,
    x: Tensor,
    y: Tensor,
    attacks: Sequence[EvasionAttack],
    *,
    robust: Tensor,
    x_adv: Tensor,
    adv_pred: Tensor | None = None,
    batch_size: int,
    judge: Judge = attack_success,
    check_black_box: bool = True,
    on_stage: Callable[[StageRun], None] | None = None,
    ids: Tensor | None = None,
) -> StageLoop:
    """Run ``attacks`` in order, each on the points still robust, and keep the worst case.

    Each attack runs on ``model`` on the points still robust before it, one call per batch of
    the data set (``ids // batch_size``, see :func:`batch_groups`); ``judge`` decides which of
    its candidates are adversarial, and those points stop being robust, keeping the candidate
    that broke them. A point is robust at the end only if it was robust at the start and every
    attack failed on it.

    Args:
        model: the model the attacks run on (the caller sets its mode).
        x: ``(N, ...)`` inputs, already validated against the attacks' threat model.
        y: ``(N,)`` labels.
        attacks: the attacks, in order (validated by the caller).
        robust: ``(N,)`` bool, the points still to attack (e.g. the correctly classified ones).
        x_adv: ``(N, ...)`` the examples so far (e.g. ``x``).
        adv_pred: ``(N,)`` the predictions on ``x_adv`` so far, or ``None`` not to track them.
        batch_size: examples per attack call.
        judge: decides which candidates are adversarial (default: the attack's own success).
        check_black_box: warn when a black-box attack breaks points the earlier white-box
            attacks left robust (see :func:`~aisec.evaluate.check_blackbox_beats_whitebox`).
        on_stage: called with each :class:`StageRun` as soon as its attack finished.
        ids: ``(N,)`` the points' indices in their data set, which key each point's random
            draws (see :class:`~aisec.attacks.AttackContext`); default ``0 … N−1``. So a point
            gets the same draws whatever the batch size and whichever points are still robust.

    Returns:
        A :class:`StageLoop`; ``robust``, ``x_adv`` and ``adv_pred`` are new tensors (the
        arguments are not modified).
    """
    n = int(x.shape[0])
    robust = robust.clone()
    x_adv = x_adv.clone()
    adv_pred = None if adv_pred is None else adv_pred.clone()
    messages: list[str] = []
    seen_white_box = False
    ids = ids_or_range(ids, n, x.device)
    for attack in attacks:
        began = time.perf_counter()
        todo = robust.nonzero().squeeze(1)
        results = [
            attack(model, x[chunk], y[chunk], ids=ids[chunk])
            for chunk in batch_groups(todo, ids, batch_size)
        ]
        broken = 0
        if results:
            result = AttackResult.concatenate(results)
            fooled, predictions = judge(result, y[todo])
            hit = todo[fooled]
            broken = int(hit.numel())
            robust[hit] = False
            x_adv[hit] = result.x_adv[fooled]
            if adv_pred is not None:
                adv_pred[hit] = predictions[fooled]
        stage = StageRun(
            attack=attack,
            attacked=int(todo.numel()),
            broken=broken,
            robust=robust.clone(),
            time_s=time.perf_counter() - began,
            forwards=sum(r.forwards for r in results),
            backwards=sum(r.backwards for r in results),
            forward_examples=sum(r.forward_examples for r in results),
        )
        if on_stage is not None:
            on_stage(stage)
        if attack.uses_gradients:
            seen_white_box = True
        elif check_black_box and seen_white_box:
            messages += check_blackbox_beats_whitebox(broken, n, attack.name)
    return StageLoop(robust=robust, x_adv=x_adv, adv_pred=adv_pred, warnings=messages)
