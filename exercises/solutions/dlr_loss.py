"""Reference solution of the ``dlr_loss`` exercise (chapter 0)."""

from torch import Tensor


def _logit_of(logits: Tensor, labels: Tensor) -> Tensor:
    return logits.gather(1, labels[:, None]).squeeze(1)


def dlr_loss(logits: Tensor, y: Tensor) -> Tensor:
    """DLR per example, (N,), for logits (N, K) and labels (N,)."""
    if logits.shape[1] < 3:
        raise ValueError(f"DLR needs at least 3 classes, got {logits.shape[1]}")
    top = logits.sort(dim=1, descending=True).values
    best_other = logits.scatter(1, y[:, None], float("-inf")).amax(dim=1)
    return -(_logit_of(logits, y) - best_other) / (top[:, 0] - top[:, 2] + 1e-12)


def targeted_dlr_loss(logits: Tensor, y: Tensor, targets: Tensor) -> Tensor:
    """Targeted DLR per example, (N,), towards ``targets`` (N,)."""
    if logits.shape[1] < 4:
        raise ValueError(f"targeted DLR needs at least 4 classes, got {logits.shape[1]}")
    top = logits.sort(dim=1, descending=True).values
    spread = top[:, 0] - (top[:, 2] + top[:, 3]) / 2
    return -(_logit_of(logits, y) - _logit_of(logits, targets)) / (spread + 1e-12)
