"""aisec: a PyTorch-native AI-security toolkit and a tutorial that runs.

Layers (dependencies flow one way): ``threat, data -> models -> attacks, defenses, genai ->
evaluate -> report -> cli``.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
