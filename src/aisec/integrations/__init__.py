"""Adapters to IBM ART (``aisec[art]``) and Foolbox (``aisec[foolbox]``).

The submodules import their library lazily, so ``import aisec.integrations`` never needs it:

- :mod:`aisec.integrations.art`: :func:`~aisec.integrations.art.to_art`,
  :class:`~aisec.integrations.art.ArtAttack`,
  :class:`~aisec.integrations.art.ArtPreprocessedModel`.
- :mod:`aisec.integrations.foolbox`: :func:`~aisec.integrations.foolbox.to_foolbox`,
  :class:`~aisec.integrations.foolbox.FoolboxAttack`.
"""

from __future__ import annotations

from aisec.integrations.art import ArtAttack, ArtPreprocessedModel, art_preprocessor, to_art
from aisec.integrations.foolbox import FoolboxAttack, to_foolbox

__all__ = [
    "ArtAttack",
    "ArtPreprocessedModel",
    "FoolboxAttack",
    "art_preprocessor",
    "to_art",
    "to_foolbox",
]
