"""Figures for the CLI and the tour: labelled image grids saved as PNG (matplotlib, Agg)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from torch import Tensor

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["save_figure", "save_image_grid"]


def save_image_grid(
    images: Tensor,
    path: str | Path,
    *,
    titles: Sequence[str] | None = None,
    ncols: int = 8,
    cell_inches: float = 1.3,
    suptitle: str | None = None,
) -> Path:
    """Save ``images`` ``(N, C, H, W)`` in [0, 1] as a labelled grid PNG at ``path``.

    Args:
        images: 1- or 3-channel images.
        path: output file; parent directories are created.
        titles: optional caption per image.
        ncols: images per row.
        cell_inches: size of one cell.
        suptitle: optional title of the whole figure.

    Returns:
        The written path.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if images.ndim != 4 or images.shape[1] not in (1, 3):
        raise ValueError(f"images must be (N, 1|3, H, W), got {tuple(images.shape)}")
    if titles is not None and len(titles) != images.shape[0]:
        raise ValueError(f"got {len(titles)} titles for {images.shape[0]} images")
    count = images.shape[0]
    ncols = max(1, min(ncols, count))
    nrows = max(1, math.ceil(count / ncols))
    figure, axes = plt.subplots(
        nrows, ncols, figsize=(ncols * cell_inches, nrows * (cell_inches + 0.25)), squeeze=False
    )
    pixels = images.detach().cpu().clamp(0, 1).permute(0, 2, 3, 1).numpy()
    for index, axis in enumerate(axes.flat):
        axis.axis("off")
        if index >= count:
            continue
        image = pixels[index]
        if image.shape[-1] == 1:
            axis.imshow(image[..., 0], cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        else:
            axis.imshow(image, interpolation="nearest")
        if titles is not None:
            axis.set_title(titles[index], fontsize=7)
    if suptitle:
        figure.suptitle(suptitle, fontsize=10)
    out = save_figure(figure, path)
    plt.close(figure)
    return out


def save_figure(figure: Figure, path: str | Path, *, dpi: int = 110) -> Path:
    """Lay out ``figure`` and write it as a PNG at ``path`` (parent folders created).

    Works for pyplot figures (close them afterwards) and for a bare ``matplotlib.figure.Figure``
    with an Agg canvas.
    """
    figure.tight_layout()
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out, dpi=dpi)
    return out
