"""The adversarial-example figure: clean images, adversarial images and their perturbations."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from torch import Tensor

from aisec.report.figures import save_figure

__all__ = ["amplify_perturbation", "save_adversarial_grid", "save_attack_grid"]


def amplify_perturbation(delta: Tensor) -> tuple[Tensor, float]:
    """Map perturbations to viewable images: ``0.5 + k·δ`` with one gain ``k`` for the batch.

    Args:
        delta: ``(N, C, H, W)`` perturbations ``x_adv − x``.

    Returns:
        ``(images, k)``: images in ``[0, 1]`` (grey is no change) and the gain, chosen so that
        the largest change of the batch reaches black or white (1.0 for a zero perturbation).
    """
    peak = float(delta.abs().max()) if delta.numel() else 0.0
    gain = 0.5 / peak if peak > 0 else 1.0
    return (0.5 + gain * delta).clamp(0.0, 1.0), gain


def _label(index: int, class_names: Sequence[str] | None) -> str:
    if class_names is not None and 0 <= index < len(class_names):
        return class_names[index]
    return str(index)


def save_adversarial_grid(
    x: Tensor,
    x_adv: Tensor,
    y: Tensor,
    clean_pred: Tensor,
    adv_pred: Tensor,
    path: str | Path,
    *,
    class_names: Sequence[str] | None = None,
    max_columns: int = 8,
    cell_inches: float = 1.6,
    title: str | None = None,
) -> Path:
    """Save a three-row PNG: clean, adversarial, amplified perturbation, one column per example.

    Titles read ``true`` over ``→ predicted`` (clean and adversarial rows); the third row shows
    ``0.5 + k·(x_adv − x)`` with the gain ``k`` in its titles. Uses matplotlib's Agg backend
    through a ``Figure`` object, so it needs no display and touches no global state.

    Args:
        x: ``(N, C, H, W)`` clean images in ``[0, 1]`` (C is 1 or 3).
        x_adv: ``(N, C, H, W)`` adversarial images.
        y: ``(N,)`` true labels.
        clean_pred: ``(N,)`` predictions on ``x``.
        adv_pred: ``(N,)`` predictions on ``x_adv``.
        path: the PNG to write; parent directories are created.
        class_names: names for the labels (indices are shown otherwise).
        max_columns: at most this many examples (the first ones) are shown.
        cell_inches: the size of one image.
        title: an optional title for the figure.

    Returns:
        The written path.

    Raises:
        ValueError: for mismatched shapes or images that are not 1- or 3-channel NCHW.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    if x.ndim != 4 or x.shape[1] not in (1, 3):
        raise ValueError(f"x must be (N, 1|3, H, W), got {tuple(x.shape)}")
    if x_adv.shape != x.shape:
        raise ValueError(f"x_adv must have x's shape {tuple(x.shape)}, got {tuple(x_adv.shape)}")
    n = x.shape[0]
    for name, labels in (("y", y), ("clean_pred", clean_pred), ("adv_pred", adv_pred)):
        if labels.shape != (n,):
            raise ValueError(f"{name} must have shape ({n},), got {tuple(labels.shape)}")
    if n == 0:
        raise ValueError("nothing to show: the batch is empty")
    if max_columns < 1:
        raise ValueError(f"max_columns must be >= 1, got {max_columns}")
    columns = min(n, max_columns)
    x, x_adv = x[:columns].detach().cpu().float(), x_adv[:columns].detach().cpu().float()
    delta_images, gain = amplify_perturbation(x_adv - x)
    rows = [
        (
            "clean",
            x,
            [
                f"{_label(int(t), class_names)}\n→ {_label(int(p), class_names)}"
                for t, p in zip(y[:columns], clean_pred[:columns], strict=True)
            ],
        ),
        (
            "adversarial",
            x_adv,
            [
                f"{_label(int(t), class_names)}\n→ {_label(int(p), class_names)}"
                for t, p in zip(y[:columns], adv_pred[:columns], strict=True)
            ],
        ),
        (
            f"perturbation ×{gain:.3g}",
            delta_images,
            [f"‖δ‖∞={float(d.abs().max()):.3g}" for d in (x_adv - x)],
        ),
    ]
    figure = Figure(figsize=(columns * cell_inches, 3 * (cell_inches + 0.55) + 0.4))
    FigureCanvasAgg(figure)
    axes = figure.subplots(3, columns, squeeze=False)
    for r, (row_name, images, captions) in enumerate(rows):
        pixels = images.clamp(0, 1).permute(0, 2, 3, 1).numpy()
        for c in range(columns):
            axis = axes[r][c]
            axis.set_xticks([])
            axis.set_yticks([])
            image = pixels[c]
            if image.shape[-1] == 1:
                axis.imshow(image[..., 0], cmap="gray", vmin=0, vmax=1, interpolation="nearest")
            else:
                axis.imshow(image, interpolation="nearest")
            flipped = r == 1 and int(adv_pred[c]) != int(clean_pred[c])
            axis.set_title(captions[c], fontsize=7, color="tab:red" if flipped else "black")
            if c == 0:
                axis.set_ylabel(row_name, fontsize=9)
    if title:
        figure.suptitle(title, fontsize=10)
    return save_figure(figure, path, dpi=100)


def save_attack_grid(
    x: Tensor,
    x_adv: Tensor,
    y: Tensor,
    clean_pred: Tensor,
    adv_pred: Tensor,
    path: str | Path,
    *,
    class_names: Sequence[str] | None = None,
    max_columns: int = 8,
    title: str | None = None,
) -> Path:
    """:func:`save_adversarial_grid` showing the examples whose prediction flipped first.

    Args:
        x: ``(N, C, H, W)`` clean images.
        x_adv: ``(N, C, H, W)`` adversarial images.
        y: ``(N,)`` labels.
        clean_pred: ``(N,)`` predictions on ``x``.
        adv_pred: ``(N,)`` predictions on ``x_adv``.
        path: the PNG to write.
        class_names: names for the labels.
        max_columns: examples shown.
        title: an optional figure title.

    Returns:
        The written path.
    """
    flipped = (adv_pred != clean_pred) & (clean_pred == y)
    order = (~flipped).long().argsort(stable=True)[:max_columns]
    return save_adversarial_grid(
        x[order],
        x_adv[order],
        y[order],
        clean_pred[order],
        adv_pred[order],
        path,
        class_names=class_names,
        max_columns=max_columns,
        title=title,
    )
