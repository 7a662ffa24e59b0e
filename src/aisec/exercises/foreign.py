"""A toy attack library with other conventions than aisec's, for chapter 5's exercise.

Like ART and Foolbox, it works on NumPy arrays and asks the caller for the loss gradient; unlike
aisec, its images are channels-last ``(N, H, W, C)`` float64 arrays of pixel values in
``[0, 255]``, and its budgets are in pixel levels. ``library_adapter`` asks the learner to run
:func:`fgsm_nhwc` under aisec's contract, as :class:`aisec.integrations.ArtAttack` runs ART.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

__all__ = ["fgsm_nhwc"]


def fgsm_nhwc(
    loss_gradient: Callable[[np.ndarray, np.ndarray], np.ndarray],
    images: np.ndarray,
    labels: np.ndarray,
    eps: float,
) -> np.ndarray:
    """FGSM in the library's conventions: ``clip(images + eps·sign(∇ loss), 0, 255)``.

    Args:
        loss_gradient: ``(images, labels) -> gradient``: the gradient of the classifier's loss
            with respect to ``images``, in the same layout and units ``(N, H, W, C)``.
        images: ``(N, H, W, C)`` float64 pixel values in ``[0, 255]``.
        labels: ``(N,)`` integer class indices.
        eps: the budget in pixel levels (``8`` means 8 of 255).

    Returns:
        ``(N, H, W, C)`` float64 adversarial images in ``[0, 255]``.

    Raises:
        ValueError: arrays of the wrong kind, shape or range.
    """
    if not isinstance(images, np.ndarray) or images.ndim != 4 or images.dtype != np.float64:
        raise ValueError("images must be a float64 NumPy array (N, H, W, C)")
    if images.size and (images.min() < 0 or images.max() > 255):
        raise ValueError("images must hold pixel values in [0, 255]")
    if not isinstance(labels, np.ndarray) or labels.shape != images.shape[:1]:
        raise ValueError("labels must be a NumPy array (N,)")
    gradient = np.asarray(loss_gradient(images.copy(), labels.copy()))
    if gradient.shape != images.shape:
        raise ValueError(
            f"loss_gradient returned shape {gradient.shape}, expected {images.shape} (N, H, W, C)"
        )
    adversarial: np.ndarray = np.clip(images + float(eps) * np.sign(gradient), 0.0, 255.0)
    return adversarial
