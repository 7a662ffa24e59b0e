"""Figures for the CLI and the tour, saved as PNG (matplotlib, Agg).

Labelled image grids (:func:`save_image_grid`), certified accuracy against L2 radius
(:func:`plot_certified_accuracy`) and the shared writer (:func:`save_figure`).
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from torch import Tensor

from aisec.files import atomic_write_bytes

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from aisec.defenses.certify.curve import CertifiedAccuracyCurve

__all__ = ["plot_certified_accuracy", "save_figure", "save_image_grid"]


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


def plot_certified_accuracy(
    curves: Mapping[str, CertifiedAccuracyCurve], path: str | Path, *, title: str | None = None
) -> Path:
    """Plot one or more certified-accuracy curves (accuracy against L2 radius) to a PNG.

    Each curve is drawn as steps at the lower (conservative) value between two grid radii, with
    a dotted line at the largest radius CERTIFY can return with its ``n`` copies
    (``σ·Φ⁻¹(α^(1/n))``, Cohen et al. 2019).

    Args:
        curves: label (e.g. ``"digits-cnn-noise, σ=0.25"``) -> curve.
        path: the PNG to write; parent directories are created.
        title: optional figure title.

    Returns:
        The written path.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from aisec.defenses.certify.curve import max_certifiable_radius

    if not curves:
        raise ValueError("curves must hold at least one curve")
    figure, axis = plt.subplots(figsize=(5.5, 3.8))
    for label, curve in curves.items():
        # "pre": between two grid radii the plot shows the lower (conservative) value.
        (line,) = axis.step(curve.radii, curve.certified_accuracy, where="pre", label=label)
        # Beyond σ·Φ⁻¹(α^(1/n)) nothing can be certified with n copies, however robust g is.
        limit = max_certifiable_radius(curve.sigma, curve.n, curve.alpha)
        axis.axvline(limit, color=line.get_color(), linestyle=":", linewidth=1)
    axis.set_xlabel("L2 radius")
    axis.set_ylabel("certified accuracy")
    axis.set_ylim(0.0, 1.02)
    axis.set_xlim(left=0.0)
    axis.grid(alpha=0.3)
    axis.plot([], [], color="grey", linestyle=":", label="largest radius n copies allow")
    axis.legend(fontsize=8)
    if title:
        axis.set_title(title, fontsize=10)
    out = save_figure(figure, path)
    plt.close(figure)
    return out


def save_figure(figure: Figure, path: str | Path, *, dpi: int = 110) -> Path:
    """Lay out ``figure`` and write it as a PNG at ``path`` (parent folders created).

    The PNG is rendered into memory and written atomically
    (:func:`aisec.files.atomic_write_bytes`), so an interrupted run never leaves half an image.
    Works for pyplot figures (close them afterwards) and for a bare ``matplotlib.figure.Figure``
    with an Agg canvas.
    """
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, dpi=dpi, format="png")
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(out, buffer.getvalue())
    return out
