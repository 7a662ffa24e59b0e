"""Shared test set-up: a dedicated aisec cache, so tests never touch the user's ~/.cache/aisec.

The cache persists under the repository's ``.cache/`` between local runs (so the zoo's models
train once); CI starts from a fresh clone and trains them once per run.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

_TEST_CACHE = Path(__file__).resolve().parents[1] / ".cache" / "aisec-test"
os.environ.setdefault("AISEC_CACHE", str(_TEST_CACHE))
torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
