"""The green-list watermark scheme of Kirchenbauer et al. (2023): key, gamma, delta, seeding.

For every position the previous tokens (the *context*) seed a pseudo-random function (PRF); its
value seeds a CPU ``torch.Generator`` and ``torch.randperm(V)`` permutes the vocabulary; the first
``int(gamma * V)`` ids of the permutation are the *green list*. Generation adds ``delta`` to the
green logits; detection counts green tokens and runs a one-proportion z-test.

The seeding schemes reproduce the reference implementation (``jwkirchenbauer/lm-watermarking``,
``alternative_prf_schemes.py``) bit for bit on the CPU, so text watermarked by one is detected by
the other for the same key, scheme and tokenizer:

- ``"simple_1"`` / ``"lefthash"``: additive PRF over a context of width 1,
  ``seed = key * previous_token``.
- ``"selfhash"`` / ``"algorithm-3"``: anchored min-hash PRF over a width-4 window that ends with
  the token being scored itself ("self-salting"), ``seed = min_i(key * h(w_i) * h(w_4))`` with
  ``h`` a fixed permutation table of size 1,000,003 (computed once per scheme from the
  reference's seed 2971215073) and int64 wrap-around as in torch. A token is green iff it is in
  the green list seeded by the window that ends with it.

**selfhash is not calibrated on human text.** Whenever a token's own term ``key * h(w_4)**2``
is the window's minimum, the seed depends on that token alone, so the token is green in every
such window or in none: a frequent token whose own list holds it is green most of the time,
whatever the context. On human text the green rate is therefore not gamma, even on a real
tokenizer, and z is biased upwards by a key- and tokenizer-dependent amount that grows with the
text's length (the excess green rate adds ``(rate - gamma) * sqrt(T / (gamma (1 - gamma)))`` to
the mean z over ``T`` scored tokens): with SmolLM2's tokenizer and the default key, tokens such as
``" I"`` and ``"."`` are green in nearly every window, and ``z > 4`` flags a share of human
passages far above the nominal 3e-5. ``benchmarks/bench_watermark_null.py`` measures the null
distribution on the bundled human tweets (green rate, mean and spread of z, the share above 4
with its interval, and the threshold that gives the nominal rate) for ``selfhash`` and for
``simple_1``, which has no self term and is calibrated on the same text. Calibrate selfhash on
human text of the same kind before relying on its verdict, and measure again for another key or
tokenizer. On very small vocabularies (a few hundred ids) selfhash's seeds also repeat across
windows, and its null drifts further.

Reference: J. Kirchenbauer, J. Geiping, Y. Wen, J. Katz, I. Miers, T. Goldstein, "A Watermark for
Large Language Models", ICML 2023, and "On the Reliability of Watermarks for Large Language
Models", ICLR 2024.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Sequence
from typing import Literal

import torch
from torch import Tensor

__all__ = ["SEEDING_SCHEMES", "Seeding", "WatermarkScheme", "as_token_ids"]

Seeding = Literal["simple_1", "lefthash", "selfhash", "algorithm-3"]
SEEDING_SCHEMES: tuple[str, ...] = ("simple_1", "lefthash", "selfhash", "algorithm-3")

_HASH_TABLE_SIZE = 1_000_003
_HASH_TABLE_SEED = 2_971_215_073
_SEED_MODULUS = 2**64 - 1
_CACHE_ENTRIES = 1024  # masks of V bytes each: 50 MB for V = 49,152


def as_token_ids(token_ids: Tensor | Sequence[int], *, name: str = "token_ids") -> Tensor:
    """Validate and convert token ids to a 1-D int64 CPU tensor ``(L,)``."""
    if isinstance(token_ids, Tensor):
        if token_ids.ndim == 2 and token_ids.shape[0] == 1:
            token_ids = token_ids[0]
        if token_ids.ndim != 1:
            raise ValueError(f"{name} must be 1-D (L,), got shape {tuple(token_ids.shape)}")
        if token_ids.dtype.is_floating_point or token_ids.dtype == torch.bool:
            raise TypeError(f"{name} must be integer token ids, got dtype {token_ids.dtype}")
        return token_ids.detach().to("cpu", torch.long)
    if isinstance(token_ids, str):
        raise TypeError(f"{name} must be token ids, got a str; tokenize the text first")
    values = list(token_ids)
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        raise TypeError(f"{name} must be a sequence of ints")
    return torch.tensor(values, dtype=torch.long)


class WatermarkScheme:
    """One green-list watermark: key, gamma, delta and seeding scheme, shared by embed and detect.

    Args:
        vocab_size: ``V``, the tokenizer's vocabulary size (``len(tokenizer)``, as the reference's
            ``len(tokenizer.get_vocab())``).
        gamma: fraction of the vocabulary in each green list, in (0, 1).
        delta: logit bias added to green tokens during generation, ``>= 0``.
        seeding: ``"simple_1"`` (alias ``"lefthash"``) or ``"selfhash"`` (alias ``"algorithm-3"``).
        key: the secret hash key (the reference's default is the prime 15485863).

    Raises:
        ValueError: invalid ``vocab_size``, ``gamma``, ``delta``, ``seeding`` or ``key``.
    """

    def __init__(
        self,
        vocab_size: int,
        gamma: float = 0.25,
        delta: float = 2.0,
        seeding: str = "simple_1",
        key: int = 15485863,
    ) -> None:
        if isinstance(vocab_size, bool) or not isinstance(vocab_size, int) or vocab_size < 2:
            raise ValueError(f"vocab_size must be an int >= 2, got {vocab_size!r}")
        if not isinstance(gamma, (int, float)) or not 0.0 < float(gamma) < 1.0:
            raise ValueError(f"gamma must be in the open interval (0, 1), got {gamma!r}")
        if not isinstance(delta, (int, float)) or not math.isfinite(delta) or delta < 0:
            raise ValueError(f"delta must be a finite number >= 0, got {delta!r}")
        if seeding not in SEEDING_SCHEMES:
            raise ValueError(
                f"unknown seeding scheme {seeding!r}; expected one of {SEEDING_SCHEMES}"
            )
        if isinstance(key, bool) or not isinstance(key, int) or not 0 < key < 2**31:
            raise ValueError(f"key must be an int in [1, 2**31), got {key!r}")
        self.vocab_size = vocab_size
        self.gamma = float(gamma)
        self.delta = float(delta)
        self.seeding = "simple_1" if seeding == "lefthash" else seeding
        self.seeding = "selfhash" if self.seeding == "algorithm-3" else self.seeding
        self.key = key
        self.greenlist_size = int(self.gamma * vocab_size)
        if self.greenlist_size < 1:
            raise ValueError(
                f"gamma * vocab_size = {self.gamma * vocab_size:.3f} leaves an empty green list"
            )
        self._hash_table: Tensor | None = None
        self._cache: OrderedDict[int, Tensor] = OrderedDict()

    # -- description -----------------------------------------------------------------------

    @property
    def context_width(self) -> int:
        """Tokens in the PRF window: 1 for simple_1, 4 for selfhash (the token itself included)."""
        return 1 if self.seeding == "simple_1" else 4

    @property
    def self_salt(self) -> bool:
        """Whether the scored token is part of its own PRF window (selfhash)."""
        return self.seeding == "selfhash"

    @property
    def min_prefix(self) -> int:
        """Tokens before the first scored one: ``context_width - self_salt``."""
        return self.context_width - int(self.self_salt)

    def config(self) -> dict[str, object]:
        """JSON-serialisable description (without the key)."""
        return {
            "kind": "kirchenbauer",
            "vocab_size": self.vocab_size,
            "gamma": self.gamma,
            "delta": self.delta,
            "seeding": self.seeding,
        }

    def __repr__(self) -> str:
        return (
            f"WatermarkScheme(vocab_size={self.vocab_size}, gamma={self.gamma}, "
            f"delta={self.delta}, seeding={self.seeding!r}, key=<hidden>)"
        )

    # -- PRF -------------------------------------------------------------------------------

    def _hash(self, values: Tensor) -> Tensor:
        """The reference's ``hashint``: a fixed random permutation table, plus one."""
        if self._hash_table is None:
            generator = torch.Generator(device="cpu")
            generator.manual_seed(_HASH_TABLE_SEED)
            self._hash_table = torch.randperm(_HASH_TABLE_SIZE, generator=generator)
        return self._hash_table[values % _HASH_TABLE_SIZE] + 1

    def prf(self, windows: Tensor) -> Tensor:
        """PRF values of many windows at once, vectorized.

        Args:
            windows: ``(N, context_width)`` int64 token ids; for selfhash the last column is the
                token being scored.

        Returns:
            ``(N,)`` int64 raw PRF values; the generator seed is ``value mod (2**64 - 1)``.
        """
        if windows.ndim != 2 or windows.shape[1] != self.context_width:
            raise ValueError(
                f"windows must be (N, {self.context_width}), got {tuple(windows.shape)}"
            )
        windows = windows.to(torch.long)
        if self.seeding == "simple_1":
            return self.key * windows[:, 0]
        hashed = self._hash(windows)  # (N, 4)
        # int64 arithmetic wraps around exactly as torch does in the reference.
        products = (self.key * hashed) * hashed[:, -1:]
        return products.min(dim=1).values

    # -- green lists -----------------------------------------------------------------------

    def _green_for_value(self, value: int) -> Tensor:
        """Green ids ``(G,)`` for one raw PRF value: the first ``G`` of a seeded randperm."""
        generator = torch.Generator(device="cpu")
        generator.manual_seed(value % _SEED_MODULUS)
        return torch.randperm(self.vocab_size, generator=generator)[: self.greenlist_size]

    def _mask_for_value(self, value: int) -> Tensor:
        """Green mask ``(V,)`` bool for one raw PRF value (cached, least recently used out)."""
        cached = self._cache.get(value)
        if cached is not None:
            self._cache.move_to_end(value)
            return cached
        mask = torch.zeros(self.vocab_size, dtype=torch.bool)
        mask[self._green_for_value(value)] = True
        self._remember(value, mask)
        return mask

    def _remember(self, value: int, mask: Tensor) -> None:
        self._cache[value] = mask
        self._cache.move_to_end(value)
        if len(self._cache) > _CACHE_ENTRIES:
            self._cache.popitem(last=False)

    def green_list(self, context_ids: Tensor | Sequence[int]) -> Tensor:
        """Green token ids for a context, as in the reference implementation.

        Args:
            context_ids: ``(L,)`` ids with ``L >= context_width``; only the last
                ``context_width`` are used (for selfhash they end with the candidate token, and
                that token is green iff it is in the returned list).

        Returns:
            ``(int(gamma * V),)`` int64 green token ids, in permutation order.
        """
        ids = as_token_ids(context_ids, name="context_ids")
        if ids.shape[0] < self.context_width:
            raise ValueError(
                f"the {self.seeding} seeding needs at least {self.context_width} context "
                f"token(s), got {ids.shape[0]}"
            )
        self._check_ids(ids)
        value = int(self.prf(ids[-self.context_width :][None])[0])
        return self._green_for_value(value)

    def green_masks(self, values: Tensor) -> Tensor:
        """Boolean green masks ``(U, V)`` for ``U`` raw PRF values ``(U,)`` (one randperm each).

        Lists are drawn one after the other, on the calling thread: each ``randperm`` is a
        sequential shuffle of a fraction of a millisecond, and worker threads (which each open
        their own intra-op thread team) made detection many times slower on a busy machine.
        """
        if values.shape[0] == 0:
            return torch.zeros(0, self.vocab_size, dtype=torch.bool)
        return torch.stack([self._mask_for_value(int(value)) for value in values.tolist()])

    def is_green(self, windows: Tensor, targets: Tensor) -> Tensor:
        """Whether each target is green given its PRF window, computing each distinct list once.

        Args:
            windows: ``(N, context_width)`` PRF windows.
            targets: ``(N,)`` token ids to test.

        Returns:
            ``(N,)`` bool.
        """
        if windows.shape[0] == 0:
            return torch.zeros(0, dtype=torch.bool)
        values, inverse = torch.unique(self.prf(windows), return_inverse=True)
        return self.green_masks(values)[inverse, targets]

    def _check_ids(self, ids: Tensor) -> None:
        if ids.numel() and (int(ids.min()) < 0 or int(ids.max()) >= self.vocab_size):
            raise ValueError(
                f"token ids must be in [0, {self.vocab_size}) for this scheme's vocabulary, got "
                f"ids in [{int(ids.min())}, {int(ids.max())}]; is the tokenizer the scheme's?"
            )
