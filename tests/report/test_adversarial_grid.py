"""The adversarial-example grid writes a PNG with three rows and rejects bad shapes."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from PIL import Image

from aisec.report.grid import amplify_perturbation, save_adversarial_grid


def test_grid_png(tmp_path: Path) -> None:
    g = torch.Generator().manual_seed(0)
    x = torch.rand(5, 3, 16, 16, generator=g)
    x_adv = (x + 0.03 * torch.randn(x.shape, generator=g)).clamp(0, 1)
    y = torch.tensor([0, 1, 2, 3, 4])
    path = save_adversarial_grid(
        x, x_adv, y, y, (y + 1) % 5, tmp_path / "sub" / "grid.png", class_names=list("abcde")
    )
    assert path.exists()
    with Image.open(path) as image:
        width, height = image.size
    assert width > height  # five columns, three rows


def test_amplified_perturbation_is_grey_for_no_change() -> None:
    images, gain = amplify_perturbation(torch.zeros(2, 1, 4, 4))
    assert gain == 1.0 and torch.all(images == 0.5)
    images, gain = amplify_perturbation(torch.full((1, 1, 2, 2), 0.01))
    assert gain == pytest.approx(50.0) and torch.allclose(images, torch.ones_like(images))


def test_grid_rejects_bad_shapes(tmp_path: Path) -> None:
    x = torch.rand(2, 3, 8, 8)
    y = torch.zeros(2, dtype=torch.long)
    with pytest.raises(ValueError, match="x_adv"):
        save_adversarial_grid(x, x[:1], y, y, y, tmp_path / "a.png")
    with pytest.raises(ValueError, match="adv_pred"):
        save_adversarial_grid(x, x, y, y, y[:1], tmp_path / "a.png")
    with pytest.raises(ValueError, match=r"\(N, 1\|3, H, W\)"):
        save_adversarial_grid(x[:, :2], x[:, :2], y, y, y, tmp_path / "a.png")
