"""Physical-world attacks: printable stickers and patches that survive a camera.

- :mod:`~aisec.attacks.physical.transforms`: Expectation over Transformation (EOT), a batched,
  differentiable distribution of physical conditions (viewpoint, distance, rotation, lighting,
  blur, noise, occlusion, backgrounds) with ranges as parameters and a seeded sampler;
- :mod:`~aisec.attacks.physical.rp2`: RP2 stickers (Eykholt et al., CVPR 2018) confined to a
  mask on a sign, printable (non-printability score against a printer palette, total
  variation, quantized to the palette at the end);
- :mod:`~aisec.attacks.physical.patch`: the universal adversarial patch (Brown et al., 2017);
- :mod:`~aisec.attacks.physical.masks` and :mod:`~aisec.attacks.physical.palette`: sticker
  shapes and the printer palette.

Their held-out evaluation (unseen conditions, a control sticker of random printable colours) is
:mod:`aisec.evaluate.physical`; the stop-sign experiment end to end is
:mod:`aisec.experiments.physical`.

Physical attacks are not bounded in an Lp norm, so they are not
:class:`~aisec.attacks.base.EvasionAttack` subclasses; they follow the same conventions:
configured at construction, called with the model, eval mode restored, seeded, results that
serialise to JSON.
"""

from __future__ import annotations

from aisec.attacks.physical.masks import STICKER_SHAPES, load_mask_png, sticker_mask
from aisec.attacks.physical.palette import PRINTER_PALETTE, Palette
from aisec.attacks.physical.patch import AdversarialPatch, PatchResult, patch_mask
from aisec.attacks.physical.rp2 import RP2, RP2Result, total_variation
from aisec.attacks.physical.transforms import (
    EOT,
    ConditionBatch,
    PhysicalConditions,
    make_generator,
)

__all__ = [
    "EOT",
    "PRINTER_PALETTE",
    "RP2",
    "STICKER_SHAPES",
    "AdversarialPatch",
    "ConditionBatch",
    "Palette",
    "PatchResult",
    "PhysicalConditions",
    "RP2Result",
    "load_mask_png",
    "make_generator",
    "patch_mask",
    "sticker_mask",
    "total_variation",
]
