"""Preprocessing defenses: transformations put in front of a model, with their BPDA paths.

Each :class:`Preprocessor` maps images ``(N, C, H, W)`` in ``[0, 1]`` to images of the same shape
and declares :attr:`~Preprocessor.differentiable` and :attr:`~Preprocessor.randomized`:

* :class:`JPEGCompression` (``jpeg:75``): not differentiable (BPDA), deterministic;
* :class:`GaussianBlur` (``blur:3:1.0``): differentiable, deterministic;
* :class:`MedianFilter` (``median:3``): piecewise linear, its exact gradient (deterministic);
* :class:`BitDepthReduction` (``bits:4``): not differentiable (BPDA), deterministic;
* :class:`RandomResizePad` (``resize-pad:0.8``): differentiable given the draw, randomized (EOT).

``PreprocessedModel(model, *preprocessors)`` composes them; its ``.with_bpda()`` gives the view
an adaptive attacker uses (exact defenses forward; straight-through gradient backward for the
non-differentiable ones, the exact gradient for the others).
:func:`parse_defense` builds one from a string. Evaluate a defense honestly with
:func:`aisec.evaluate.evaluate_defense` (BPDA and EOT are applied automatically).
"""

from __future__ import annotations

from aisec.defenses.preprocess.base import (
    PreprocessedModel,
    Preprocessor,
    check_images,
    straight_through,
)
from aisec.defenses.preprocess.bits import BitDepthReduction
from aisec.defenses.preprocess.blur import GaussianBlur
from aisec.defenses.preprocess.jpeg import JPEGCompression
from aisec.defenses.preprocess.median import MedianFilter
from aisec.defenses.preprocess.parse import DEFENSE_NAMES, DEFENSE_USAGE, parse_defense
from aisec.defenses.preprocess.resize_pad import RandomResizePad, resize_pad

__all__ = [
    "DEFENSE_NAMES",
    "DEFENSE_USAGE",
    "BitDepthReduction",
    "GaussianBlur",
    "JPEGCompression",
    "MedianFilter",
    "PreprocessedModel",
    "Preprocessor",
    "RandomResizePad",
    "check_images",
    "parse_defense",
    "resize_pad",
    "straight_through",
]
