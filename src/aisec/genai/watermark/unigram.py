"""The Unigram watermark of Zhao et al. (2023): one fixed green list for every position.

A fixed green list (``int(gamma * V)`` ids drawn with a CPU generator seeded by the key) makes
the watermark provably robust to edits: an edit changes the green status of at most the edited
token, whereas a context-seeded list also changes for the tokens after it. The price is that the
green list can be estimated from enough watermarked text. It plugs into the same processor and
detector as :class:`~aisec.genai.watermark.scheme.WatermarkScheme` (context width 0).

Reference: X. Zhao, P. Ananth, L. Li, Y.-X. Wang, "Provable Robust Watermarking for AI-Generated
Text", ICLR 2024 (arXiv:2306.17439). Its defaults are gamma = 0.5 and delta = 2.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from aisec.genai.watermark.scheme import WatermarkScheme

__all__ = ["UnigramScheme"]


class UnigramScheme(WatermarkScheme):
    """Unigram watermark: a single green list of ``int(gamma * V)`` ids fixed by the key.

    Args:
        vocab_size: ``V``, the tokenizer's vocabulary size.
        gamma: green fraction in (0, 1) (paper default 0.5).
        delta: logit bias for green tokens, ``>= 0`` (paper default 2).
        key: the secret key.

    Raises:
        ValueError: invalid parameters.
    """

    def __init__(
        self, vocab_size: int, gamma: float = 0.5, delta: float = 2.0, key: int = 15485863
    ) -> None:
        super().__init__(vocab_size, gamma=gamma, delta=delta, seeding="simple_1", key=key)
        self.seeding = "unigram"

    @property
    def context_width(self) -> int:
        """No context: the green list never changes."""
        return 0

    @property
    def self_salt(self) -> bool:
        """The token does not seed its own list."""
        return False

    def config(self) -> dict[str, object]:
        """JSON-serialisable description (without the key)."""
        return {
            "kind": "unigram",
            "vocab_size": self.vocab_size,
            "gamma": self.gamma,
            "delta": self.delta,
        }

    def __repr__(self) -> str:
        return (
            f"UnigramScheme(vocab_size={self.vocab_size}, gamma={self.gamma}, "
            f"delta={self.delta}, key=<hidden>)"
        )

    def prf(self, windows: Tensor) -> Tensor:
        """The constant PRF value (the key) for each of ``N`` empty windows ``(N, 0)``."""
        if windows.ndim != 2 or windows.shape[1] != 0:
            raise ValueError(f"windows must be (N, 0), got {tuple(windows.shape)}")
        return torch.full((windows.shape[0],), self.key, dtype=torch.long)

    def green_list(self, context_ids: Tensor | Sequence[int] = ()) -> Tensor:
        """The fixed green ids ``(int(gamma * V),)``; the context is ignored."""
        return self._green_for_value(self.key)
