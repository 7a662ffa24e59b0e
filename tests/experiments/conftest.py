"""Fixtures of the sharding tests: the digits model, and the zoo faked to serve it."""

from __future__ import annotations

import pytest
from shard_cases import digits_model, install_fake_zoo
from torch import nn


@pytest.fixture(scope="module")
def model() -> nn.Module:
    """A small digits classifier (trained once per module)."""
    return digits_model()


@pytest.fixture
def zoo(monkeypatch: pytest.MonkeyPatch, model: nn.Module) -> nn.Module:
    """``model`` served as the zoo's models for the test."""
    install_fake_zoo(monkeypatch, model)
    return model
