"""LLM watermarking: the green-list scheme, its logits processor, detector and Unigram variant.

>>> scheme = WatermarkScheme(vocab_size=len(tokenizer))          # doctest: +SKIP
>>> processor = WatermarkLogitsProcessor(scheme)                   # doctest: +SKIP
>>> detect(scheme, generated_ids).z_score                          # doctest: +SKIP
"""

from aisec.genai.watermark.detect import (
    DEFAULT_Z_THRESHOLD,
    Detection,
    NotEnoughTokensError,
    detect,
    detect_text,
    normalize_text,
    z_score,
)
from aisec.genai.watermark.processor import WatermarkLogitsProcessor, green_bias_mask
from aisec.genai.watermark.scheme import SEEDING_SCHEMES, WatermarkScheme
from aisec.genai.watermark.unigram import UnigramScheme

__all__ = [
    "DEFAULT_Z_THRESHOLD",
    "SEEDING_SCHEMES",
    "Detection",
    "NotEnoughTokensError",
    "UnigramScheme",
    "WatermarkLogitsProcessor",
    "WatermarkScheme",
    "detect",
    "detect_text",
    "green_bias_mask",
    "normalize_text",
    "z_score",
]
