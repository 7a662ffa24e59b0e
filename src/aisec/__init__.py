"""aisec: a PyTorch-native AI-security toolkit and a tutorial that runs.

Layers (dependencies flow one way, checked by ``import-linter``): ``threat, cache, stats,
unicode -> data -> models -> attacks -> defenses | genai -> evaluate | integrations -> zoo ->
experiments -> report -> cli`` (see docs/architecture.md).
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
