"""Reuse the digits CNN of ``tests/attacks/conftest.py`` for the evaluation tests."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

_spec = importlib.util.spec_from_file_location(
    "_aisec_attack_fixtures", Path(__file__).resolve().parents[1] / "attacks" / "conftest.py"
)
assert _spec is not None and _spec.loader is not None
_fixtures = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = _fixtures  # dataclasses look their module up there
_spec.loader.exec_module(_fixtures)

Digits = _fixtures.Digits
train_digits_cnn = _fixtures.train_digits_cnn
one_thread = _fixtures.one_thread


@pytest.fixture(scope="session")
def digits() -> Digits:
    """The trained digits CNN and 300 held-out test images (on ``$AISEC_TEST_DEVICE``)."""
    with one_thread():
        trained = train_digits_cnn()
    device = _fixtures.device_under_test()
    return Digits(trained.model.to(device), trained.x.to(device), trained.y.to(device))


@pytest.fixture(scope="module")
def single_thread() -> Iterator[None]:
    """One intra-op thread for a test module (use with ``pytest.mark.usefixtures``)."""
    with one_thread():
        yield
