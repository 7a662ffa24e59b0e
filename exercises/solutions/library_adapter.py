"""Reference solution of the ``library_adapter`` exercise (chapter 5)."""

from typing import ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from aisec.attacks.base import AttackContext, EvasionAttack
from aisec.exercises.foreign import fgsm_nhwc


class ForeignFGSM(EvasionAttack):
    """aisec's contract around the foreign library's FGSM."""

    name = "ForeignFGSM"
    supported_norms: ClassVar[tuple[str, ...]] = ("linf",)

    def _run(self, ctx: AttackContext) -> Tensor:
        """Adversarial versions (n, C, H, W) of ``ctx.x``, from ``fgsm_nhwc``."""
        x = ctx.x

        def to_library(images: Tensor) -> np.ndarray:  # (n, C, H, W) in [0, 1] -> NHWC, 0..255
            return images.detach().permute(0, 2, 3, 1).double().cpu().numpy() * 255.0

        def from_library(images: np.ndarray) -> Tensor:
            as_tensor = torch.from_numpy(np.ascontiguousarray(images) / 255.0)
            return as_tensor.permute(0, 3, 1, 2).to(device=x.device, dtype=x.dtype)

        def loss_gradient(images: np.ndarray, labels: np.ndarray) -> np.ndarray:
            points = from_library(images).requires_grad_(True)
            target = torch.from_numpy(labels).to(x.device)
            loss = F.cross_entropy(ctx.model(points), target, reduction="sum")
            (grad,) = torch.autograd.grad(loss, points)
            # The library's units are 255·x, so its gradient is (d loss / dx) / 255, channels last.
            return grad.permute(0, 2, 3, 1).double().cpu().numpy() / 255.0

        labels = ctx.y.cpu().numpy()
        return from_library(fgsm_nhwc(loss_gradient, to_library(x), labels, self.threat.eps * 255))
