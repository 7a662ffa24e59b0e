"""Transformations: the candidate replacements of one word slot (insertions: see
:mod:`aisec.attacks.text.insertion`).

- :class:`WordSwapSynonym` — synonyms from a :class:`~aisec.attacks.text.synonyms.SynonymSource`
  (TextFooler, Jin et al. 2020; PWWS, Ren et al. 2019);
- :class:`CharacterEdits` — one character swapped, substituted by a keyboard neighbour,
  deleted or inserted (DeepWordBug, Gao et al. 2018);
- :class:`BadCharacters` — invisible characters, homoglyphs, bidi reorderings and deletion
  controls (Boucher et al. 2022), all of which leave the rendered text unchanged;
- :class:`DeleteWord` — the slot emptied.

Randomized choices are seeded by ``(seed, word, slot)``, so an attack is reproducible.
"""

from __future__ import annotations

import random
import string
import zlib
from collections.abc import Sequence
from typing import Any

from aisec.attacks.text.core import AttackText
from aisec.attacks.text.synonyms import SynonymSource, match_case
from aisec.attacks.text.unicode import (
    BACKSPACE,
    BIDI_CONTROLS,
    DELETION_CONTROLS,
    INVISIBLE_CHARACTERS,
    PDF,
    RLO,
    homoglyphs_of,
    is_invisible,
)

__all__ = ["BadCharacters", "CharacterEdits", "DeleteWord", "Transformation", "WordSwapSynonym"]

_KEYBOARD_ROWS = ("qwertyuiop", "asdfghjkl", "zxcvbnm")


def _keyboard_neighbours() -> dict[str, str]:
    grid = {c: (r, i) for r, row in enumerate(_KEYBOARD_ROWS) for i, c in enumerate(row)}
    out: dict[str, str] = {}
    for char, (row, col) in grid.items():
        out[char] = "".join(
            other
            for other, (r, c) in grid.items()
            if other != char and abs(r - row) <= 1 and abs(c - col) <= 1
        )
    return out


class Transformation:
    """Maps a text and a slot index to candidate strings for that slot."""

    def __call__(self, text: AttackText, index: int) -> list[str]:
        """Candidate replacements for ``text.words[index]`` (never the word itself)."""
        raise NotImplementedError

    def neighbours(self, text: AttackText, index: int) -> list[AttackText]:
        """The candidate texts at ``index``: here ``text`` with slot ``index`` replaced by each
        candidate of :meth:`__call__` (insertions override this; their ``index`` is a gap)."""
        return [text.replace_word(index, candidate) for candidate in self(text, index)]

    def describe(self) -> dict[str, Any]:
        """JSON-ready description."""
        return {"transformation": type(self).__name__}

    @staticmethod
    def _rng(seed: int, word: str, index: int) -> random.Random:
        return random.Random(zlib.crc32(f"{seed}:{index}:{word}".encode("utf-8", "replace")))


class WordSwapSynonym(Transformation):
    """Replace a word with its synonyms (case preserved).

    Args:
        source: where synonyms come from (WordNet or embedding neighbours).
        max_candidates: synonyms tried per word.
    """

    def __init__(self, source: SynonymSource, *, max_candidates: int = 30) -> None:
        self.source = source
        self.max_candidates = max_candidates

    def __call__(self, text: AttackText, index: int) -> list[str]:
        word = text.words[index]
        if not word.isalpha():
            return []
        out = [match_case(s, word) for s in self.source.synonyms(word.lower())]
        return [c for c in dict.fromkeys(out) if c != word][: self.max_candidates]

    def describe(self) -> dict[str, Any]:
        return super().describe() | {"source": self.source.name}


class DeleteWord(Transformation):
    """Delete a word: the slot is emptied (the separators around it stay).

    Reference: Morris et al., "TextAttack", EMNLP 2020 (word deletion as a transformation).
    """

    def __call__(self, text: AttackText, index: int) -> list[str]:
        return [""] if text.words[index] else []


class CharacterEdits(Transformation):
    """DeepWordBug's character edits of one position of a word.

    Args:
        kinds: any of ``"swap"`` (two adjacent letters), ``"substitute"`` (a QWERTY
            neighbour), ``"delete"`` and ``"insert"`` (a random letter).
        max_candidates: edits returned per word (a seeded sample of all edits).
        seed: seed of the sampling and of inserted letters.

    Reference: Gao, Lanchantin, Soffa, Qi, "Black-box Generation of Adversarial Text Sequences
    to Evade Deep Learning Classifiers", IEEE S&P Workshops 2018.
    """

    KINDS = ("swap", "substitute", "delete", "insert")

    def __init__(
        self,
        kinds: tuple[str, ...] = KINDS,
        *,
        max_candidates: int = 12,
        seed: int = 0,
    ) -> None:
        unknown = set(kinds) - set(self.KINDS)
        if unknown or not kinds:
            raise ValueError(f"kinds must be a non-empty subset of {self.KINDS}, got {kinds}")
        self.kinds = tuple(kinds)
        self.max_candidates = max_candidates
        self.seed = seed
        self.keyboard = _keyboard_neighbours()

    def __call__(self, text: AttackText, index: int) -> list[str]:
        word = text.words[index]
        if len(word) < 2 or not word.isalpha():
            return []
        rng = self._rng(self.seed, word, index)
        edits: list[str] = []
        n = len(word)
        for kind in self.kinds:
            for i in range(n):
                if kind == "swap" and i < n - 1 and word[i] != word[i + 1]:
                    edits.append(word[:i] + word[i + 1] + word[i] + word[i + 2 :])
                elif kind == "substitute":
                    options = self.keyboard.get(word[i].lower(), "")
                    if options:
                        new = rng.choice(options)
                        new = new.upper() if word[i].isupper() else new
                        edits.append(word[:i] + new + word[i + 1 :])
                elif kind == "delete" and n > 2:
                    edits.append(word[:i] + word[i + 1 :])
                elif kind == "insert":
                    edits.append(word[:i] + rng.choice(string.ascii_lowercase) + word[i:])
        unique = [e for e in dict.fromkeys(edits) if e != word]
        rng.shuffle(unique)
        return unique[: self.max_candidates]

    def describe(self) -> dict[str, Any]:
        return super().describe() | {"kinds": list(self.kinds)}


class BadCharacters(Transformation):
    """Imperceptible Unicode perturbations of one word (Boucher et al. 2022).

    Args:
        kinds: any of ``"invisible"``, ``"homoglyph"``, ``"reorder"``, ``"deletion"``.
        max_candidates: perturbations returned per word (a seeded sample).
        seed: seed of the sampling.
        invisible: the characters the ``"invisible"`` kind inserts (default: the zero-width
            space, non-joiner, joiner and word joiner). Each must be invisible by the shared
            definition (:func:`aisec.unicode.is_invisible`), which the sanitizer removes; bidi
            and deletion controls are not allowed (they reorder or erase text). For example
            ``aisec.unicode.insertable_invisible_characters()`` draws from every assigned
            default-ignorable code point and the blank ones.

    Every candidate renders exactly as the original word (see
    :func:`aisec.attacks.text.unicode.visible_text`).

    Raises:
        ValueError: unknown ``kinds``, or an ``invisible`` set that is empty or holds a
            character that is not invisible.
    """

    KINDS = ("invisible", "homoglyph", "reorder", "deletion")

    def __init__(
        self,
        kinds: tuple[str, ...] = KINDS,
        *,
        max_candidates: int = 12,
        seed: int = 0,
        invisible: Sequence[str] = INVISIBLE_CHARACTERS,
    ) -> None:
        unknown = set(kinds) - set(self.KINDS)
        if unknown or not kinds:
            raise ValueError(f"kinds must be a non-empty subset of {self.KINDS}, got {kinds}")
        self.kinds = tuple(kinds)
        self.max_candidates = max_candidates
        self.seed = seed
        self.invisible = _check_invisible(invisible)

    def __call__(self, text: AttackText, index: int) -> list[str]:
        word = text.words[index]
        if not word:
            return []
        rng = self._rng(self.seed, word, index)
        per_kind: list[list[str]] = []
        n = len(word)
        for kind in self.kinds:
            found: list[str] = []
            if kind == "invisible":
                for i in range(1, max(2, n)):
                    found.append(word[:i] + rng.choice(self.invisible) + word[i:])
            elif kind == "homoglyph":
                for i, char in enumerate(word):
                    for glyph in homoglyphs_of(char)[:2]:
                        found.append(word[:i] + glyph + word[i + 1 :])
            elif kind == "reorder" and n > 1:
                found.append(RLO + word[::-1] + PDF)
            elif kind == "deletion":
                for i in range(n + 1):
                    found.append(word[:i] + rng.choice(string.ascii_letters) + BACKSPACE + word[i:])
            rng.shuffle(found)
            per_kind.append(found)
        # Interleave the kinds so that every kind is represented in a short list.
        out: list[str] = []
        depth = 0
        while len(out) < self.max_candidates and any(depth < len(k) for k in per_kind):
            out += [k[depth] for k in per_kind if depth < len(k)]
            depth += 1
        return [c for c in dict.fromkeys(out) if c != word][: self.max_candidates]

    def describe(self) -> dict[str, Any]:
        described = super().describe() | {"kinds": list(self.kinds)}
        if self.invisible != INVISIBLE_CHARACTERS:
            described["invisible"] = [f"U+{ord(c):04X}" for c in self.invisible]
        return described


def _check_invisible(characters: Sequence[str]) -> tuple[str, ...]:
    """``characters`` as a tuple, checked to be insertable invisible characters."""
    if isinstance(characters, str):
        characters = tuple(characters)
    chosen = tuple(characters)
    if not chosen:
        raise ValueError("invisible must hold at least one character")
    for char in chosen:
        if not isinstance(char, str) or len(char) != 1:
            raise ValueError(f"invisible must hold single characters, got {char!r}")
        if not is_invisible(char) or char in BIDI_CONTROLS or char in DELETION_CONTROLS:
            raise ValueError(
                f"invisible must hold characters that render as nothing and neither reorder "
                f"nor erase text (aisec.unicode.is_invisible), got U+{ord(char):04X}"
            )
    return chosen
