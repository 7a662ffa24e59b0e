"""Unicode "bad characters" (Boucher et al. 2022) and a model of what a reader sees.

Four families of imperceptible perturbations:

- **invisible characters**: zero-width space/joiners and the word joiner, which render as
  nothing;
- **homoglyphs**: a letter replaced by a confusable character from another script (Cyrillic
  ``а`` for Latin ``a``), taken from the Unicode confusables table shipped by the maintained
  package ``confusable-homoglyphs``; only homoglyphs that NFKC does *not* map back are used;
- **reorderings**: a word written backwards inside a right-to-left override (``U+202E`` ...
  ``U+202C``), which a bidi-aware renderer displays in the original order;
- **deletions**: a letter followed by a backspace control (``U+0008``), which terminals and
  some renderers erase.

:func:`visible_text` renders a string the way a reader would see it — deletions applied,
overrides resolved, invisible characters dropped, confusables folded to their ASCII skeleton —
so that an attack can check that it changed nothing visible.

Reference: Boucher, Shumailov, Anderson, Papernot, "Bad Characters: Imperceptible NLP Attacks",
IEEE S&P 2022.
"""

from __future__ import annotations

import importlib.util
import json
import re
import unicodedata
from functools import cache, lru_cache
from pathlib import Path

__all__ = [
    "BACKSPACE",
    "BIDI_CONTROLS",
    "INVISIBLE_CHARACTERS",
    "PDF",
    "RLO",
    "apply_deletions",
    "confusable_fold_table",
    "homoglyphs_of",
    "resolve_bidi",
    "visible_text",
]

INVISIBLE_CHARACTERS: tuple[str, ...] = ("\u200b", "\u200c", "\u200d", "\u2060")
RLO, LRO, PDF = "\u202e", "\u202d", "\u202c"
BIDI_CONTROLS = frozenset(
    "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c"
)
BACKSPACE = "\b"
_DELETERS = frozenset("\b\x7f")
_OPENERS = {
    "\u202e": "rtl",
    "\u202b": "rtl",
    "\u2067": "rtl",
    "\u202d": "ltr",
    "\u202a": "ltr",
    "\u2066": "ltr",
    "\u2068": "ltr",
}
_CLOSERS = frozenset("\u202c\u2069")
_SURROGATE = re.compile("[\ud800-\udfff]")


@lru_cache(maxsize=1)
def _confusables() -> dict[str, list[str]]:
    """The confusables table of ``confusable-homoglyphs``: char -> its homoglyphs."""
    spec = importlib.util.find_spec("confusable_homoglyphs")
    if spec is None or not spec.submodule_search_locations:
        raise ValueError(
            "Unicode homoglyph tables come from the PyPI package confusable-homoglyphs; "
            "install it with `pip install confusable-homoglyphs` (or `pip install aisec[nlp]`)"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "confusables.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    return {k: [h["c"] for h in v] for k, v in data.items() if len(k) == 1}


@lru_cache(maxsize=1)
def confusable_fold_table() -> dict[str, str]:
    """Non-ASCII character -> the ASCII letter or digit it is confusable with."""
    table: dict[str, str] = {}
    for char, glyphs in _confusables().items():
        if char.isascii():
            continue
        for glyph in glyphs:
            if len(glyph) == 1 and glyph.isascii() and glyph.isalnum():
                table[char] = glyph
                break
    return table


@cache
def homoglyphs_of(char: str) -> tuple[str, ...]:
    """Single-code-point homoglyphs of ASCII ``char`` that NFKC leaves unchanged (BMP only).

    Returns:
        The homoglyphs, Cyrillic and Greek letters first; empty if there are none.
    """
    table = confusable_fold_table()
    found = [
        c
        for c, ascii_char in table.items()
        if ascii_char == char
        and ord(c) < 0x10000
        and unicodedata.normalize("NFKC", c) == c
        and unicodedata.category(c).startswith("L")
    ]
    return tuple(
        sorted(
            found, key=lambda c: (not unicodedata.name(c, "").startswith(("CYRILLIC", "GREEK")), c)
        )
    )


def apply_deletions(text: str) -> str:
    """Apply backspace/delete controls: each erases the character before it."""
    if not any(c in _DELETERS for c in text):
        return text
    out: list[str] = []
    for char in text:
        if char in _DELETERS:
            if out:
                out.pop()
        else:
            out.append(char)
    return "".join(out)


def resolve_bidi(text: str) -> str:
    """Put text inside right-to-left overrides/embeddings/isolates in display order.

    Simplified bidi model: the content of each right-to-left override, embedding or isolate is
    reversed (nested ones resolved first); the controls themselves are dropped, as are unpaired
    ones and directional marks.
    """
    if not any(c in BIDI_CONTROLS for c in text):
        return text
    stack: list[tuple[str, list[str]]] = [("ltr", [])]
    for char in text:
        if char in _OPENERS:
            stack.append((_OPENERS[char], []))
        elif char in _CLOSERS:
            if len(stack) > 1:
                direction, chars = stack.pop()
                stack[-1][1].extend(reversed(chars) if direction == "rtl" else chars)
        elif char not in BIDI_CONTROLS:
            stack[-1][1].append(char)
    while len(stack) > 1:  # unterminated: the override runs to the end of the text
        direction, chars = stack.pop()
        stack[-1][1].extend(reversed(chars) if direction == "rtl" else chars)
    return "".join(stack[0][1])


def _is_invisible(char: str) -> bool:
    category = unicodedata.category(char)
    return category == "Cf" or (category == "Cc" and char not in "\t\n\r")


def visible_text(text: str) -> str:
    """What a reader sees: deletions applied, bidi resolved, invisibles dropped, homoglyphs folded.

    Args:
        text: any string (lone surrogates are shown as U+FFFD).

    Returns:
        The ASCII skeleton of the rendered text (characters without an ASCII confusable kept).
    """
    text = _SURROGATE.sub("\ufffd", text)
    text = resolve_bidi(apply_deletions(text))
    text = "".join(c for c in text if not _is_invisible(c))
    table = confusable_fold_table()
    return "".join(table.get(c, c) for c in unicodedata.normalize("NFKC", text))
