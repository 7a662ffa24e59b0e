"""Reference solution of the ``printable_sticker`` exercise (chapter 1)."""

from torch import Tensor


def _distances(image: Tensor, palette: Tensor) -> Tensor:
    """(..., K, H, W): each pixel's distance to each colour; 1e-12 keeps the gradient finite."""
    difference = image.unsqueeze(-4) - palette.to(image)[:, :, None, None]  # (..., K, 3, H, W)
    return (difference.square().sum(dim=-3) + 1e-12).sqrt()


def non_printability(image: Tensor, mask: Tensor, palette: Tensor) -> Tensor:
    """Mean over masked pixels of Π_k ‖pixel − palette[k]‖₂, a differentiable scalar."""
    score = _distances(image, palette).prod(dim=-3, keepdim=True)  # (..., 1, H, W)
    weights = mask.to(score).expand_as(score)
    return (score * weights).sum() / weights.sum().clamp_min(1.0)


def print_colours(image: Tensor, palette: Tensor) -> Tensor:
    """``image`` with every pixel replaced by its nearest palette colour (same shape)."""
    nearest = _distances(image.detach(), palette).argmin(dim=-3)  # (..., H, W)
    return palette.to(image)[nearest].movedim(-1, -3)
