"""What a model returns under attack: logits checked for NaN and infinity, and the model wrapper
that notes non-finite outputs without a synchronisation in the attacks' inner loops.
"""

from __future__ import annotations

import torch
from torch import Tensor

from aisec.models.plumbing import CountingModel, Model

__all__ = ["FiniteWatch", "NonFiniteOutputError", "check_logits", "predict"]


class NonFiniteOutputError(ValueError):
    """The model returned NaN or infinite logits: its predictions there mean nothing.

    ``argmax`` of a NaN row is an arbitrary class (class 0 in PyTorch), so counting such a
    prediction would report robustness (or accuracy) the model does not have.
    """


def _nonfinite_message(bad: int, total: int, where: str) -> str:
    return (
        f"the model returned NaN or infinite logits on {bad} of {total} {where}; predictions "
        f"from such outputs are meaningless (argmax of NaN is class 0), so nothing is reported. "
        f"Check the model for overflow or division by zero on inputs in the threat model"
    )


def check_logits(logits: Tensor, where: str = "inputs") -> Tensor:
    """``logits`` if every entry is finite; :class:`NonFiniteOutputError` otherwise.

    One device synchronisation: call it where predictions are decided (once per batch), not
    inside an optimisation loop (see :class:`FiniteWatch` for that).

    Args:
        logits: ``(N, K)`` a model's outputs.
        where: what the rows are, for the message (e.g. ``"clean inputs"``).

    Raises:
        NonFiniteOutputError: if any entry is NaN or infinite.
    """
    if logits.numel():
        bad = int((~torch.isfinite(logits.detach())).reshape(logits.shape[0], -1).any(1).sum())
        if bad:
            raise NonFiniteOutputError(_nonfinite_message(bad, int(logits.shape[0]), where))
    return logits


def predict(logits: Tensor, where: str = "inputs") -> Tensor:
    """The predicted classes ``(N,)`` of finite ``logits`` ``(N, K)`` (see :func:`check_logits`)."""
    return check_logits(logits, where).argmax(dim=1)


class FiniteWatch(CountingModel):
    """A :class:`~aisec.models.CountingModel` that also notes non-finite outputs, without a sync.

    Every forward pass adds the number of rows with a NaN or infinite logit to a counter that
    stays on the device; :meth:`check` reads it once, at the end of an attack. So the attack's
    inner loop (PGD, APGD, Square) pays one small reduction per step and no synchronisation.

    Args:
        model: the classifier to wrap.
        max_rows: the most rows per call of ``model`` (see :class:`~aisec.models.CountingModel`).
    """

    def __init__(self, model: Model, max_rows: int | None = None) -> None:
        super().__init__(model, max_rows)
        self._bad_rows: Tensor | None = None

    def __call__(self, x: Tensor) -> Tensor:
        out = super().__call__(x)
        bad = (~torch.isfinite(out.detach())).any(dim=1).sum()
        self._bad_rows = bad if self._bad_rows is None else self._bad_rows + bad
        return out

    def check(self, where: str = "inputs the attack queried") -> None:
        """Raise :class:`NonFiniteOutputError` if any output so far had a NaN or infinite logit."""
        if self._bad_rows is None:
            return
        bad = int(self._bad_rows)
        if bad:
            raise NonFiniteOutputError(_nonfinite_message(bad, self.forward_examples, where))
