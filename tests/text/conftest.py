"""Fixtures of the text tests."""

from __future__ import annotations

import pytest
from text_stubs import LexiconModel


@pytest.fixture
def lexicon_model() -> LexiconModel:
    return LexiconModel()
