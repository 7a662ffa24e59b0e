"""Small architectures for the bundled datasets, and the normalization wrapper.

Every model maps images in [0, 1] (NCHW) to logits ``(N, num_classes)``. Normalization lives
inside the model (:class:`Normalized`), so attacks and defenses always work in pixel space.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

__all__ = ["Normalized", "SmallCNN"]


class Normalized(nn.Module):
    """Wrap ``model`` so that it takes images in [0, 1] and normalizes them itself.

    Args:
        model: a module that expects normalized inputs.
        mean: per-channel mean, length C.
        std: per-channel standard deviation, length C, all positive.
    """

    mean: Tensor
    std: Tensor

    def __init__(self, model: nn.Module, mean: Sequence[float], std: Sequence[float]) -> None:
        super().__init__()
        if len(mean) != len(std):
            raise ValueError(f"mean and std must have the same length, got {len(mean)}, {len(std)}")
        if any(s <= 0 for s in std):
            raise ValueError(f"std must be positive, got {list(std)}")
        self.model = model
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1))

    def forward(self, x: Tensor) -> Tensor:
        return self.model((x - self.mean) / self.std)  # type: ignore[no-any-return]


def _conv_block(in_channels: int, out_channels: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


class SmallCNN(nn.Module):
    """A compact VGG-style CNN: stages of ``convs_per_stage`` conv-BN-ReLU and 2×2 max pooling.

    Args:
        in_channels: image channels (1 for digits, 3 for signs).
        num_classes: number of logits.
        widths: channels of each stage; the spatial size halves after each stage.
        hidden: width of the fully connected layer before the classifier.
        convs_per_stage: 3×3 convolutions in each stage.

    Input ``(N, in_channels, H, W)`` in [0, 1] (normalized to zero mean inside), output
    ``(N, num_classes)`` logits. Any H, W works: the head pools globally.
    """

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        *,
        widths: Sequence[int] = (32, 64, 128),
        hidden: int = 128,
        convs_per_stage: int = 1,
    ) -> None:
        super().__init__()
        if in_channels < 1 or num_classes < 2 or not widths or convs_per_stage < 1:
            raise ValueError(
                "SmallCNN needs in_channels >= 1, num_classes >= 2, at least one stage and "
                f"convs_per_stage >= 1; got in_channels={in_channels}, num_classes={num_classes}, "
                f"widths={tuple(widths)}, convs_per_stage={convs_per_stage}"
            )
        stages: list[nn.Module] = []
        channels = in_channels
        for width in widths:
            for _ in range(convs_per_stage):
                stages.append(_conv_block(channels, width))
                channels = width
            stages.append(nn.MaxPool2d(2))
        self.features = nn.Sequential(*stages)
        self.head = nn.Sequential(
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Linear(channels, hidden),
            nn.ReLU(inplace=True),
            nn.Linear(hidden, num_classes),
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.features(x - 0.5))  # type: ignore[no-any-return]

    def penultimate(self, x: Tensor) -> Tensor:
        """Activations before the classifier, ``(N, hidden)`` (used by poisoning detectors)."""
        return self.head[:-1](self.features(x - 0.5))  # type: ignore[no-any-return]
