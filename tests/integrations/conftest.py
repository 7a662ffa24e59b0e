"""Reuse the digits CNN of ``tests/attacks/conftest.py`` for the ART and Foolbox cross-checks."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest


def _attack_fixtures() -> ModuleType:
    name = "_aisec_attack_fixtures"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(
        name, Path(__file__).resolve().parents[1] / "attacks" / "conftest.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


_fixtures = _attack_fixtures()
Digits = _fixtures.Digits


@pytest.fixture(scope="session")
def digits() -> Digits:
    """The trained digits CNN and 300 held-out test images (on ``$AISEC_TEST_DEVICE``)."""
    with _fixtures.one_thread():
        trained = _fixtures.train_digits_cnn()
    device = _fixtures.device_under_test()
    return Digits(trained.model.to(device), trained.x.to(device), trained.y.to(device))


@pytest.fixture(autouse=True)
def _single_thread() -> object:
    """8×8 images: one intra-op thread is faster than two."""
    with _fixtures.one_thread():
        yield
