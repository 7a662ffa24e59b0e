"""The evasion-attack contract: the base class and its result.

An attack is configured at construction (a :class:`~aisec.threat.ThreatModel` and keyword-only
hyperparameters), holds no model, and is called as ``attack(model, x, y, targets=None)``. The base
class owns ``__call__``: it validates the inputs, puts the model in eval mode (and restores every
sub-module's previous mode afterwards), skips points that are already adversarial, runs the
subclass's ``_run`` on the rest, applies the final projection onto the threat model and computes
success on the returned ``x_adv``.
"""

from __future__ import annotations

import abc
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
from torch import Tensor

from aisec.attacks.model_output import (
    FiniteWatch,
    NonFiniteOutputError,
    check_logits,
    predict,
)
from aisec.checks import check_int
from aisec.models.plumbing import Model, eval_mode
from aisec.seeding import check_ids
from aisec.threat import ThreatModel

__all__ = [
    "CPU_FORWARD_ROWS",
    "AttackContext",
    "AttackResult",
    "CleanGraph",
    "EvasionAttack",
    "FiniteWatch",
    "NonFiniteOutputError",
    "check_ids",
    "check_labels",
    "check_logits",
    "predict",
    "validate_inputs",
]


#: Rows per forward pass on a CPU (:attr:`EvasionAttack.forward_rows`). On a CPU, torch takes
#: its tensors from ``malloc``; with glibc, a block above the dynamic mmap threshold (at most
#: 32 MiB) is mapped afresh at every allocation and page-faulted in, so a batch whose
#: activations exceed it pays that on every forward and backward pass. Pieces of 64 rows keep a
#: small CNN's activations below it (in ``benchmarks/results/evasion.md`` PGD and APGD at batch
#: 256 run in such pieces); a GPU wants whole batches.
CPU_FORWARD_ROWS = 64


def check_labels(name: str, labels: object, n: int, device: torch.device | None = None) -> Tensor:
    """``labels`` as an int64 tensor of ``n`` class indices ``>= 0`` on ``device``.

    Float labels are refused rather than truncated (``2.7`` is not class 2).

    Args:
        name: the argument's name, for the messages (e.g. ``"y"``).
        labels: ``(n,)`` an integer tensor.
        n: the expected length.
        device: where the result goes (default: where ``labels`` are).

    Raises:
        TypeError: for a non-tensor, or a bool, floating-point or complex tensor.
        ValueError: for a wrong shape or a negative index.
    """
    if not isinstance(labels, Tensor):
        raise TypeError(
            f"{name} must be a torch tensor of class indices, got {type(labels).__name__}"
        )
    if labels.dtype == torch.bool or labels.is_floating_point() or labels.is_complex():
        raise TypeError(
            f"{name} must be an integer tensor of class indices (e.g. torch.int64), got "
            f"{labels.dtype}; float labels are not rounded or truncated"
        )
    if labels.shape != (n,):
        raise ValueError(f"{name} must have shape ({n},) to match x, got {tuple(labels.shape)}")
    labels = labels.to(device=labels.device if device is None else device, dtype=torch.long)
    if n and int(labels.min()) < 0:
        raise ValueError(f"{name} must be class indices >= 0, got {int(labels.min())}")
    return labels


def validate_inputs(
    x: object, y: object, targets: object, threat: ThreatModel, *, min_ndim: int = 2
) -> tuple[Tensor, Tensor, Tensor | None]:
    """Check a batch for an attack and return it detached, with labels as int64 on x's device.

    Args:
        x: ``(N, ...)`` floating-point inputs inside ``threat.bounds``, finite.
        y: ``(N,)`` integer labels ``>= 0``.
        targets: ``None`` or ``(N,)`` integer target classes, each different from its label.
        threat: the threat model whose bounds ``x`` must respect.
        min_ndim: the smallest accepted ``x.ndim`` (4 for attacks that need images).

    Returns:
        ``(x, y, targets)`` ready for the attack.

    Raises:
        TypeError: for non-tensors or wrong dtypes (float labels included).
        ValueError: for wrong shapes, NaN/inf, values outside the bounds, an ``eps`` larger than
            the box's diameter for this input size, negative labels or targets equal to labels.
            Labels beyond the model's classes are checked once the model's output is known.
    """
    if not isinstance(x, Tensor):
        raise TypeError(f"x must be a torch tensor, got {type(x).__name__}")
    if not x.is_floating_point():
        raise TypeError(
            f"x must be a floating-point tensor (e.g. float32 in [0, 1]), got {x.dtype}"
        )
    if x.ndim < min_ndim:
        expected = "(N, C, H, W)" if min_ndim >= 4 else "(N, ...)"
        raise ValueError(f"x must have shape {expected}, got {tuple(x.shape)}")
    n = x.shape[0]
    x = x.detach()
    if x.is_inference():
        x = x.clone()
    if x.numel():
        bad = (~torch.isfinite(x)).sum()
        if int(bad):
            raise ValueError(f"x contains {int(bad)} NaN or infinite values")
        lo, hi = threat.bounds
        x_min, x_max = float(x.min()), float(x.max())
        if x_min < lo or x_max > hi:
            raise ValueError(
                f"x has values in [{x_min:.4g}, {x_max:.4g}], outside the threat model's bounds "
                f"{threat.bounds}; scale inputs to the bounds and put normalization inside the "
                f"model"
            )
        threat.check_input(x)
    labels = check_labels("y", y, n, x.device)
    target_labels = None
    if targets is not None:
        target_labels = check_labels("targets", targets, n, x.device)
        same = int((target_labels == labels).sum())
        if same:
            raise ValueError(
                f"targets must differ from the true labels y; {same} of {n} examples have "
                f"target == label"
            )
    return x, labels, target_labels


def _check_num_classes(labels: Tensor, targets: Tensor | None, num_classes: int) -> None:
    for name, tensor in (("y", labels), ("targets", targets)):
        if tensor is not None and tensor.numel() and int(tensor.max()) >= num_classes:
            raise ValueError(
                f"{name} has class index {int(tensor.max())}, but the model outputs only "
                f"{num_classes} classes (valid indices 0..{num_classes - 1})"
            )


def _stat(values: Tensor, reduce: str) -> float | None:
    if values.numel() == 0:
        return None
    value = values.double().mean() if reduce == "mean" else values.double().max()
    return float(value)


@dataclass
class AttackResult:
    """The outcome of one attack on one batch.

    Attributes:
        attack: the attack's name, e.g. ``"PGD"``.
        threat: the threat model the attack ran under.
        x_adv: ``(N, ...)`` adversarial examples, always inside the threat model and bounds.
        success: ``(N,)`` bool, computed on ``x_adv`` as returned: misclassified (untargeted) or
            classified as the target (targeted).
        norms: ``(N,)`` ``‖x_adv − x‖`` in the threat model's norm.
        y: ``(N,)`` true labels.
        targets: ``(N,)`` target classes, or ``None`` for an untargeted attack.
        clean_pred: ``(N,)`` the model's predictions on the clean inputs.
        adv_pred: ``(N,)`` the model's predictions on ``x_adv``.
        forwards: batched forward passes through the model, including the base class's clean
            and final checks.
        backwards: batched backward passes through the model.
        forward_examples: examples summed over all forward passes (queries).
        backward_examples: examples summed over all backward passes.
        time_s: wall-clock seconds of the call.
        extras: attack-specific ``(N,)`` tensors, e.g. C&W's ``"initial_norms"``.
    """

    attack: str
    threat: ThreatModel
    x_adv: Tensor
    success: Tensor
    norms: Tensor
    y: Tensor
    targets: Tensor | None
    clean_pred: Tensor
    adv_pred: Tensor
    forwards: int = 0
    backwards: int = 0
    forward_examples: int = 0
    backward_examples: int = 0
    time_s: float = 0.0
    extras: dict[str, Tensor] = field(default_factory=dict)

    @property
    def n(self) -> int:
        """The number of examples."""
        return int(self.y.shape[0])

    @property
    def targeted(self) -> bool:
        """Whether the attack was targeted."""
        return self.targets is not None

    @property
    def clean_accuracy(self) -> float | None:
        """Accuracy on the clean inputs (``None`` for an empty batch)."""
        return _stat((self.clean_pred == self.y).float(), "mean")

    @property
    def robust_accuracy(self) -> float | None:
        """Accuracy on ``x_adv`` (``None`` for an empty batch)."""
        return _stat((self.adv_pred == self.y).float(), "mean")

    @property
    def success_rate(self) -> float | None:
        """Targeted: the fraction of examples classified as their target. Untargeted: the
        fraction of clean-correct examples that ``x_adv`` misclassifies (``None`` if there are
        none)."""
        if self.targets is not None:
            return _stat(self.success.float(), "mean")
        correct = self.clean_pred == self.y
        return _stat(self.success[correct].float(), "mean")

    def summary(self) -> dict[str, Any]:
        """JSON-friendly scalars: accuracies, success rate, norms, model calls and time.

        ``mean_norm``/``max_norm`` are over all examples, ``mean_norm_success`` over the
        successful ones only (the usual statistic for minimum-norm attacks).
        """
        return {
            "attack": self.attack,
            "threat": self.threat.to_dict(),
            "targeted": self.targeted,
            "n": self.n,
            "clean_accuracy": self.clean_accuracy,
            "robust_accuracy": self.robust_accuracy,
            "success_rate": self.success_rate,
            "mean_norm": _stat(self.norms, "mean"),
            "max_norm": _stat(self.norms, "max"),
            "mean_norm_success": _stat(self.norms[self.success], "mean"),
            "forwards": self.forwards,
            "backwards": self.backwards,
            "forward_examples": self.forward_examples,
            "backward_examples": self.backward_examples,
            "time_s": self.time_s,
        }

    def to_dict(self, *, per_example: bool = False) -> dict[str, Any]:
        """:meth:`summary`, plus per-example lists (labels, predictions, success, norms) if
        ``per_example``; never the images."""
        out = self.summary()
        if per_example:
            out["y"] = self.y.tolist()
            out["targets"] = None if self.targets is None else self.targets.tolist()
            out["clean_pred"] = self.clean_pred.tolist()
            out["adv_pred"] = self.adv_pred.tolist()
            out["success"] = self.success.tolist()
            out["norms"] = [float(v) for v in self.norms.double()]
            for key, value in self.extras.items():
                out[key] = [float(v) if math.isfinite(float(v)) else None for v in value.double()]
        return out

    @classmethod
    def concatenate(cls, results: Sequence[AttackResult]) -> AttackResult:
        """Join the results of one attack on consecutive batches (counts and times add up)."""
        if not results:
            raise ValueError("concatenate needs at least one result")
        first = results[0]
        targets = None
        if first.targets is not None:
            targets = torch.cat([r.targets for r in results if r.targets is not None])
        extras = {
            key: torch.cat([r.extras[key] for r in results])
            for key in first.extras
            if all(key in r.extras for r in results)
        }
        return cls(
            attack=first.attack,
            threat=first.threat,
            x_adv=torch.cat([r.x_adv for r in results]),
            success=torch.cat([r.success for r in results]),
            norms=torch.cat([r.norms for r in results]),
            y=torch.cat([r.y for r in results]),
            targets=targets,
            clean_pred=torch.cat([r.clean_pred for r in results]),
            adv_pred=torch.cat([r.adv_pred for r in results]),
            forwards=sum(r.forwards for r in results),
            backwards=sum(r.backwards for r in results),
            forward_examples=sum(r.forward_examples for r in results),
            backward_examples=sum(r.backward_examples for r in results),
            time_s=sum(r.time_s for r in results),
            extras=extras,
        )


@dataclass
class CleanGraph:
    """The clean forward pass with its autograd graph, so that a first step taken at ``x`` costs
    no extra forward pass.

    Attributes:
        x: ``(N, ...)`` the whole batch as a leaf that requires grad.
        logits: ``(N, K)`` the model's logits on it, with the graph.
        rows: ``(n,)`` the rows of the batch that ``_run`` received.
    """

    x: Tensor
    logits: Tensor
    rows: Tensor

    def gradient(self, loss: Callable[[Tensor], Tensor]) -> Tensor:
        """The input gradient of ``loss(logits[rows]).sum()`` for the received rows, ``(n, ...)``.

        The graph is freed afterwards: call it once.
        """
        with torch.enable_grad():
            value = loss(self.logits[self.rows]).sum()
            (grad,) = torch.autograd.grad(value, self.x)
        return grad if grad.shape[0] == self.rows.numel() else grad[self.rows]


@dataclass
class AttackContext:
    """What :meth:`EvasionAttack._run` gets.

    Attributes:
        model: the eval-mode model, wrapped to count its calls.
        x: ``(n, ...)`` clean inputs that are not adversarial yet.
        y: ``(n,)`` labels.
        targets: ``(n,)`` targets, or ``None`` for an untargeted attack.
        logits: ``(n, K)`` the model's logits on ``x`` (detached).
        clean_graph: the clean pass with its graph, if the attack asked for it.
        info: per-example ``(n,)`` tensors the attack reports (they become result extras).
        ids: ``(n,)`` the examples' indices in the data set, or ``None``. Given, every random
            draw of an example is keyed by ``(seed, its index)`` (:mod:`aisec.seeding`), so it
            does not depend on the batch it shares; ``None``: one generator for the batch.
    """

    model: Model
    x: Tensor
    y: Tensor
    targets: Tensor | None
    logits: Tensor
    clean_graph: CleanGraph | None = None
    info: dict[str, Tensor] = field(default_factory=dict)
    ids: Tensor | None = None


class EvasionAttack(abc.ABC):
    """Base class of evasion attacks: validation, eval mode, projection and success.

    Subclasses set :attr:`name`, :attr:`supported_norms` and :attr:`uses_gradients`, take
    keyword-only hyperparameters in ``__init__`` and implement :meth:`_run`.

    Args:
        threat: the threat model every returned ``x_adv`` satisfies.

    Raises:
        TypeError: if ``threat`` is not a :class:`~aisec.threat.ThreatModel`.
        ValueError: if the attack does not support the threat model's norm.
    """

    name: str = "attack"
    supported_norms: ClassVar[tuple[str, ...]] = ("linf", "l2")
    uses_gradients: ClassVar[bool] = True
    min_ndim: ClassVar[int] = 2
    #: The most rows per call of the model: a larger batch is passed in consecutive pieces and
    #: their logits concatenated (the model is in eval mode, so each row's logits, gradients and
    #: hence the attack's result do not depend on the cut). The exception is a randomized model,
    #: e.g. random preprocessing under EOT: it draws its randomness per call, so other pieces
    #: mean other draws (from the same distribution). ``None`` (the default) means
    #: :data:`CPU_FORWARD_ROWS` on a CPU and whole batches elsewhere; set it on an instance to
    #: change it (``attack.forward_rows = 256``).
    forward_rows: int | None = None

    def __init__(self, threat: ThreatModel) -> None:
        if not isinstance(threat, ThreatModel):
            raise TypeError(f"threat must be a ThreatModel, got {type(threat).__name__}")
        if threat.norm not in self.supported_norms:
            raise ValueError(
                f"{self.name} supports the norms {self.supported_norms}, got {threat.norm!r}"
            )
        self.threat = threat

    def __repr__(self) -> str:
        params = ", ".join(
            f"{k}={v!r}" for k, v in vars(self).items() if k not in ("threat", "name")
        )
        return f"{type(self).__name__}({self.threat!s}{', ' if params else ''}{params})"

    _check_int = staticmethod(check_int)

    @staticmethod
    def _check_float(name: str, value: object, *, positive: bool = False) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TypeError(f"{name} must be a number, got {type(value).__name__}")
        result = float(value)
        if not math.isfinite(result) or result < 0 or (positive and result == 0):
            kind = "> 0" if positive else ">= 0"
            raise ValueError(f"{name} must be finite and {kind}, got {value!r}")
        return result

    def _wants_clean_graph(self) -> bool:
        """Whether ``_run`` uses the gradient at the clean inputs (see :class:`CleanGraph`)."""
        return False

    def __call__(
        self,
        model: Model,
        x: Tensor,
        y: Tensor,
        targets: Tensor | None = None,
        *,
        ids: Tensor | None = None,
    ) -> AttackResult:
        """Attack ``model`` on the batch ``x``.

        Args:
            model: a classifier returning logits ``(N, num_classes)``; an ``nn.Module`` is put in
                eval mode for the attack and its previous modes are restored.
            x: ``(N, C, H, W)`` (or ``(N, ...)``) inputs inside the threat model's bounds.
            y: ``(N,)`` true labels.
            targets: ``(N,)`` target classes for a targeted attack, or ``None``.
            ids: ``(N,)`` int64 indices of the examples in their data set (distinct, ``>= 0``).
                Given, a randomized attack draws each example's randomness from ``(seed, its
                index)``, so its result for an example is the same whichever batch, shard or
                worker it ran in; ``None`` (a single batch): one generator for the batch.

        Returns:
            An :class:`AttackResult`; ``x_adv`` has ``x``'s shape, dtype and device.
        """
        start = time.perf_counter()
        if not callable(model):
            raise TypeError(f"model must be callable (an nn.Module), got {type(model).__name__}")
        x, y, targets = validate_inputs(x, y, targets, self.threat, min_ndim=self.min_ndim)
        ids = check_ids(ids, x.shape[0], x.device)
        max_rows = self.forward_rows
        if max_rows is not None and (
            isinstance(max_rows, bool) or not isinstance(max_rows, int) or max_rows < 1
        ):
            raise ValueError(f"forward_rows must be None or an int >= 1, got {max_rows!r}")
        if max_rows is None and x.device.type == "cpu":
            max_rows = CPU_FORWARD_ROWS
        counted = FiniteWatch(model, max_rows)
        n = x.shape[0]
        extras: dict[str, Tensor] = {}
        with eval_mode(model):
            if n == 0:
                empty = torch.zeros(0, dtype=torch.long, device=x.device)
                return AttackResult(
                    self.name,
                    self.threat,
                    x.clone(),
                    torch.zeros(0, dtype=torch.bool, device=x.device),
                    x.new_zeros(0),
                    y,
                    targets,
                    empty,
                    empty.clone(),
                    time_s=time.perf_counter() - start,
                )
            # The clean forward pass: predictions, output checks, and (for attacks whose first
            # step is taken at x) the graph for that step's gradient.
            graph: CleanGraph | None = None
            if self._wants_clean_graph():
                with torch.enable_grad():
                    x_leaf = x.clone().requires_grad_(True)
                    graph_logits = counted(x_leaf)
                logits = graph_logits.detach()
                graph = CleanGraph(x_leaf, graph_logits, torch.arange(n, device=x.device))
            else:
                with torch.no_grad():
                    logits = counted(x)
            clean_pred = predict(logits, "clean inputs")
            _check_num_classes(y, targets, int(logits.shape[1]))
            done = clean_pred == targets if targets is not None else clean_pred != y
            x_adv = x.clone()
            adv_pred = clean_pred.clone()
            todo = (~done).nonzero().squeeze(1)
            if todo.numel():
                every = todo.numel() == n
                sub_x = x if every else x[todo]
                if graph is not None and not every:
                    graph = CleanGraph(graph.x, graph.logits, todo)
                context = AttackContext(
                    model=counted,
                    x=sub_x,
                    y=y if every else y[todo],
                    targets=None if targets is None else (targets if every else targets[todo]),
                    logits=logits if every else logits[todo],
                    clean_graph=graph,
                    ids=None if ids is None else (ids if every else ids[todo]),
                )
                out = self._run(context)
                info = context.info
                del graph, context  # frees the clean graph before the final forward pass
                known: Tensor | None = None
                if isinstance(out, tuple):
                    out, known = out
                if not isinstance(out, Tensor) or out.shape != sub_x.shape:
                    raise RuntimeError(f"{self.name}._run returned a wrong shape")
                with torch.no_grad():
                    out = out.detach().to(x.dtype)
                    projected = self.threat._project(out, sub_x)
                    # Predictions the attack already computed on exactly these points are kept;
                    # the others (or any point the projection moved) cost one forward pass.
                    unknown = torch.ones(sub_x.shape[0], dtype=torch.bool, device=x.device)
                    sub_pred = torch.empty(sub_x.shape[0], dtype=torch.long, device=x.device)
                    if known is not None:
                        moved = (projected != out).reshape(out.shape[0], -1).any(dim=1)
                        unknown = (known < 0) | moved
                        sub_pred = known.clone()
                    rows = unknown.nonzero().squeeze(1)
                    if rows.numel():
                        sub_pred[rows] = counted(projected[rows]).argmax(dim=1)
                x_adv[todo] = projected
                adv_pred[todo] = sub_pred
                for key, value in info.items():
                    full = torch.zeros(n, dtype=value.dtype, device=x.device)
                    full[todo] = value.detach()
                    extras[key] = full
            # The one synchronisation of the output check: NaN logits anywhere in the attack
            # would make its predictions (argmax of NaN: class 0) and its success meaningless.
            counted.check()
        success = adv_pred == targets if targets is not None else adv_pred != y
        return AttackResult(
            attack=self.name,
            threat=self.threat,
            x_adv=x_adv,
            success=success,
            norms=self.threat.norms(x_adv - x),
            y=y,
            targets=targets,
            clean_pred=clean_pred,
            adv_pred=adv_pred,
            forwards=counted.forwards,
            backwards=counted.backwards,
            forward_examples=counted.forward_examples,
            backward_examples=counted.backward_examples,
            time_s=time.perf_counter() - start,
            extras=extras,
        )

    @abc.abstractmethod
    def _run(self, ctx: AttackContext) -> Tensor | tuple[Tensor, Tensor]:
        """Find adversarial examples for the points that are not adversarial yet.

        Args:
            ctx: the counting model, the inputs (the clean points the model classifies
                correctly, or not as their target), their clean logits, an ``info`` dict for
                per-example extras, and the clean graph if requested.

        Returns:
            ``(n, ...)`` candidate adversarial examples, optionally with ``(n,)`` predictions the
            attack already computed on exactly those points (``-1`` where unknown), which spares
            the final forward pass for them. The base class projects the candidates onto the
            threat model and predicts the points whose prediction is unknown or that moved.
        """
