"""Model plumbing shared by every layer above: the classifier type, eval mode, call counting.

A classifier maps images ``(N, C, H, W)`` to logits ``(N, num_classes)``. Attacks, defenses and
evaluations put it in eval mode for their work (restoring every sub-module's previous mode) and
count its forward and backward passes through :class:`CountingModel`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch
from torch import Tensor, nn

__all__ = ["CountingModel", "Model", "eval_mode"]

Model = Callable[[Tensor], Tensor]
"""A classifier: images ``(N, C, H, W)`` -> logits ``(N, num_classes)``."""


class CountingModel:
    """Wrap a model to count its forward and backward passes and check its output.

    A backward pass is counted when a gradient flows back through the model's output (a tensor
    hook), so every gradient computation an attack makes is counted, however it is made.

    With ``max_rows``, a batch of more rows is passed to the model in consecutive pieces of at
    most that many rows and their logits are concatenated (gradients flow back through each
    piece). For a model that treats each row on its own (any deterministic model in eval mode)
    this is the same function; it only changes how the work is cut. A randomized model draws
    per call, so it sees other draws. Counts stay per call: one forward pass of ``N`` examples,
    however many pieces it took.

    Args:
        model: the classifier to wrap.
        max_rows: the most rows per call of ``model``; ``None`` passes every batch whole.
    """

    def __init__(self, model: Model, max_rows: int | None = None) -> None:
        if max_rows is not None and (
            isinstance(max_rows, bool) or not isinstance(max_rows, int) or max_rows < 1
        ):
            raise ValueError(f"max_rows must be None or an int >= 1, got {max_rows!r}")
        self.model = model
        self.max_rows = max_rows
        self.forwards = 0
        self.backwards = 0
        self.forward_examples = 0
        self.backward_examples = 0

    def _count_backward(self, n: int) -> Callable[[Tensor], None]:
        def hook(_grad: Tensor) -> None:
            self.backwards += 1
            self.backward_examples += n

        return hook

    def _logits(self, x: Tensor) -> Tensor:
        out = self.model(x)
        if not isinstance(out, Tensor):
            raise TypeError(f"the model must return a tensor of logits, got {type(out).__name__}")
        return out

    def __call__(self, x: Tensor) -> Tensor:
        n = x.shape[0]
        if self.max_rows is None or n <= self.max_rows:
            out = self._logits(x)
        else:
            out = torch.cat([self._logits(part) for part in x.split(self.max_rows)])
        self.forwards += 1
        self.forward_examples += n
        if out.ndim != 2 or out.shape[0] != n or out.shape[1] < 2:
            raise ValueError(
                f"the model must return logits of shape (N, num_classes) = ({n}, K) with K >= 2, "
                f"got shape {tuple(out.shape)}"
            )
        if not out.is_floating_point():
            raise TypeError(f"the model must return floating-point logits, got {out.dtype}")
        if out.requires_grad:
            out.register_hook(self._count_backward(n))
        return out


@contextmanager
def eval_mode(model: object) -> Iterator[None]:
    """Put an ``nn.Module`` (and all its sub-modules) in eval mode, restoring each one's mode."""
    if not isinstance(model, nn.Module):
        yield
        return
    modes = [(module, module.training) for module in model.modules()]
    model.eval()
    try:
        yield
    finally:
        for module, training in modes:
            module.training = training
