"""What the sharding tests share: a digits model in plain torch modules (so Ray workers can
unpickle it), a fake zoo, the plans, and the comparison of two results apart from times."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
import torch
from torch import Tensor, nn

import aisec.experiments.names
from aisec.data import load as load_data
from aisec.experiments.certify import CertifyPlan
from aisec.experiments.evasion import AttackPlan, SuitePlan
from aisec.experiments.names import watermark_scheme
from tiny_language_model import VOCAB

SUITE = SuitePlan(model="digits-cnn", eps=0.15, n=22, apgd_steps=6, square_queries=60, batch_size=4)
ATTACK = AttackPlan(model="digits-cnn", attack="square", eps=0.15, n=22, steps=60, batch_size=4)
CERTIFY = CertifyPlan(model="digits-cnn-noise", n_points=7, n0=8, n=40, batch_size=16)
SHARD_SIZES = (None, 22, 8, 12)
"""Default (one batch per shard: 6 shards), one shard, three shards (8, 8, 6), two of uneven
size (12, 10)."""


def digits_model() -> nn.Module:
    """The digits' nearest-class-mean classifier as ``Flatten → Linear`` (no training)."""
    train = load_data("digits", "train")
    flat = train.images.flatten(1)
    means = torch.stack([flat[train.labels == c].mean(0) for c in range(10)])
    linear = nn.Linear(64, 10)
    with torch.no_grad():
        linear.weight.copy_(4 * means)
        linear.bias.copy_(-2 * means.pow(2).sum(1))
    return nn.Sequential(nn.Flatten(), linear).eval()


def install_fake_zoo(monkeypatch: pytest.MonkeyPatch, model: nn.Module) -> None:
    monkeypatch.setattr(aisec.experiments.names, "zoo_model", lambda name: model)


def digest(tensor: Tensor) -> str:
    """SHA-256 of a tensor's bytes (its dtype and shape included)."""
    data = tensor.detach().cpu().contiguous()
    header = f"{data.dtype}:{tuple(data.shape)}".encode()
    return hashlib.sha256(header + data.reshape(-1).view(torch.uint8).numpy().tobytes()).hexdigest()


_TIME_KEYS = {"time_s", "seconds", "certify_samples_per_s", "execution"}


def without_times(record: Any) -> Any:
    """A result's JSON without wall times and the execution record (all else must match)."""
    if isinstance(record, dict):
        return {k: without_times(v) for k, v in record.items() if k not in _TIME_KEYS}
    if isinstance(record, list):
        return [without_times(v) for v in record]
    return record


def green_text(length: int, key: int = 15485863) -> str:
    """A text whose every character after the first is green for its predecessor."""
    scheme = watermark_scheme(VOCAB, gamma=0.25, delta=0.0, seeding="simple_1", key=key)
    letters = [ord("a")]
    for _ in range(length - 1):
        green = scheme.green_list([letters[-1]]).tolist()
        letters.append(next(c for c in green if 97 <= c < 123 or 65 <= c < 91 or 192 <= c < 383))
    return "".join(chr(c) for c in letters)
