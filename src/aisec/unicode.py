"""What aisec knows about Unicode tricks: invisible characters, confusables and normalisation.

Text that *reads* the same can be made of different code points. The Bad Characters attacks
(:mod:`aisec.attacks.text`) use four families of such changes, and the defenses that undo them
(the :class:`~aisec.defenses.text.Sanitizer`, the watermark detector's
:func:`~aisec.genai.watermark.normalize_text`) use the same tables, so that whatever one side
inserts the other side knows:

- **invisible characters** (:func:`is_invisible`): every code point with Unicode's
  ``Default_Ignorable_Code_Point`` property (zero-width spaces and joiners, the word joiner, the
  soft hyphen, the byte-order mark, bidi marks, the combining grapheme joiner ``U+034F``, the
  Hangul fillers ``U+115F``, ``U+1160``, ``U+3164`` and ``U+FFA0``, the variation selectors
  ``U+FE00``-``U+FE0F`` and ``U+E0100``-``U+E01EF``, the Mongolian free variation selectors,
  the tag characters and the reserved ignorable ranges), read from the Unicode Character
  Database compiled into the maintained PyPI package ``regex`` (Python's own
  :mod:`unicodedata` does not expose the property); every other format (``Cf``)
  character; control (``Cc``) characters other than tab, newline and carriage return; and the
  code points that are not ignorable but render blank (:data:`BLANK_CHARACTERS`: the braille
  blank ``U+2800`` and the musical null notehead ``U+1D159``). Removing them also removes the
  variation selector of an emoji (``U+FE0F``) and the joiners of emoji sequences: the glyphs
  stay, their presentation may change. Old Hangul written with conjoining jamo loses its
  fillers; modern Hangul (precomposed syllables) is unaffected;
- **homoglyphs (confusables)**: a letter replaced by a look-alike from another script
  (Cyrillic ``а`` for Latin ``a``), from the Unicode confusables table shipped by the maintained
  package ``confusable-homoglyphs``;
- **reorderings**: a word written backwards inside a right-to-left override (``U+202E`` ...
  ``U+202C``), which a bidi-aware renderer displays in the original order;
- **deletions**: a character followed by a backspace (``U+0008``) or delete (``U+007F``)
  control, which terminals and some renderers erase.

One round of normalisation (:func:`visible_text`, what a reader sees) applies, in order:

1. lone surrogates (invalid Unicode) -> ``U+FFFD``;
2. deletion controls: each erases the character before it;
3. bidi overrides, embeddings and isolates resolved to display order, controls and directional
   marks removed;
4. invisible characters removed;
5. NFKC compatibility normalisation (fullwidth and mathematical letters, ligatures);
6. confusable folding: characters confusable with an ASCII letter or digit are replaced by it.

:func:`normalize` repeats the round until the text no longer changes, so that it is idempotent.

References:
    N. Boucher, I. Shumailov, R. Anderson, N. Papernot, "Bad Characters: Imperceptible NLP
    Attacks", IEEE S&P 2022 (arXiv:2106.09898). Unicode Technical Standard #39, "Unicode
    Security Mechanisms" (confusables). Unicode Standard Annex #9, "Unicode Bidirectional
    Algorithm" (explicit overrides, embeddings and isolates).
"""

from __future__ import annotations

import importlib.util
import json
import re
import unicodedata
from functools import cache, lru_cache
from pathlib import Path

import regex

__all__ = [
    "BACKSPACE",
    "BIDI_CONTROLS",
    "BLANK_CHARACTERS",
    "DELETION_CONTROLS",
    "HANGUL_FILLERS",
    "INVISIBLE_CHARACTERS",
    "KEPT_CONTROLS",
    "LRO",
    "MAX_ROUNDS",
    "PDF",
    "RLO",
    "apply_deletions",
    "confusable_fold_table",
    "default_ignorable_characters",
    "find_invisible",
    "fold_confusables",
    "homoglyphs_of",
    "insertable_invisible_characters",
    "is_default_ignorable",
    "is_invisible",
    "normalize",
    "normalize_round",
    "remove_invisible",
    "replace_surrogates",
    "resolve_bidi",
    "visible_text",
]

INVISIBLE_CHARACTERS: tuple[str, ...] = ("\u200b", "\u200c", "\u200d", "\u2060")
"""The zero-width space, non-joiner, joiner and the word joiner: what attacks insert by default.

Every one of them is :func:`is_invisible`; attacks may draw from a larger set, such as
:func:`insertable_invisible_characters`.
"""

HANGUL_FILLERS: tuple[str, ...] = ("\u115f", "\u1160", "\u3164", "\uffa0")
"""The Hangul choseong and jungseong fillers, the Hangul filler and its halfwidth form: letters
(``Lo``) that render as blank space; default-ignorable, listed for reference."""

BLANK_CHARACTERS: frozenset[str] = frozenset("\u2800\U0001d159")
"""Code points that render blank but are *not* default-ignorable (no Unicode property lists
them): the braille pattern blank ``U+2800`` and the musical symbol null notehead ``U+1D159``."""

RLO, LRO, PDF = "\u202e", "\u202d", "\u202c"
"""Right-to-left override, left-to-right override and pop directional formatting."""

BIDI_CONTROLS = frozenset(
    "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c"
)
"""Embeddings, overrides, isolates, their terminators and the directional marks."""

BACKSPACE = "\b"
DELETION_CONTROLS = frozenset("\b\x7f")
"""Controls that erase the character before them when rendered by a terminal."""

KEPT_CONTROLS = frozenset("\t\n\r")
"""Control characters that are layout, not tricks (kept unless asked otherwise)."""

MAX_ROUNDS = 4
"""Most rounds :func:`normalize` runs before it returns (the text is stable long before)."""

_DEFAULT_IGNORABLE = regex.compile(r"\p{Default_Ignorable_Code_Point}")
_INVISIBLE_SET = r"\p{Default_Ignorable_Code_Point}\p{Variation_Selector}\p{Cf}\p{Cc}" + "".join(
    sorted(BLANK_CHARACTERS)
)
# With keep_whitespace, the kept controls are taken out of the set (set difference, V1 syntax).
_INVISIBLE = {
    True: regex.compile(f"[[{_INVISIBLE_SET}]--[{''.join(sorted(KEPT_CONTROLS))}]]", regex.V1),
    False: regex.compile(f"[{_INVISIBLE_SET}]", regex.V1),
}
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
_DELETION = re.compile("([\b\x7f])")
_NON_ASCII = re.compile("[^\x00-\x7f]")
BIDI_PATTERN = re.compile("[" + "".join(sorted(BIDI_CONTROLS)) + "]")
"""Matches any of :data:`BIDI_CONTROLS`."""
DELETION_PATTERN = _DELETION
"""Matches any of :data:`DELETION_CONTROLS`."""


@lru_cache(maxsize=1)
def _confusables() -> dict[str, list[str]]:
    """The confusables table of ``confusable-homoglyphs``: character -> its homoglyphs."""
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
    """Non-ASCII character -> the ASCII letter or digit it is confusable with.

    Returns:
        The table (about 1,300 characters): for each character, the first single ASCII letter
        or digit among its homoglyphs in the Unicode confusables table.

    Raises:
        ValueError: the package ``confusable-homoglyphs`` is not installed.
    """
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

    Only letters are returned whose fold (:func:`confusable_fold_table`) is ``char``, so that
    :func:`visible_text` maps each of them back to ``char``.

    Args:
        char: one ASCII character.

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


def _check_char(char: str) -> None:
    if not isinstance(char, str) or len(char) != 1:
        raise ValueError(f"expected one character, got {char!r}")


def is_default_ignorable(char: str) -> bool:
    """Whether ``char`` has Unicode's ``Default_Ignorable_Code_Point`` property.

    Raises:
        ValueError: ``char`` is not a single character.
    """
    _check_char(char)
    return _DEFAULT_IGNORABLE.fullmatch(char) is not None


@lru_cache(maxsize=1)
def default_ignorable_characters() -> tuple[str, ...]:
    """Every default-ignorable code point (about 4,170, most of them reserved), in order."""
    everything = "".join(chr(c) for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF)
    return tuple(_DEFAULT_IGNORABLE.findall(everything))


@lru_cache(maxsize=1)
def insertable_invisible_characters() -> tuple[str, ...]:
    """Invisible characters an attack can insert into a word without a visible change.

    The assigned default-ignorable code points other than the bidi controls (which reorder
    text), plus :data:`BLANK_CHARACTERS`; every one is :func:`is_invisible`, so the sanitizer
    removes it.
    """
    chosen = [
        c
        for c in default_ignorable_characters()
        if c not in BIDI_CONTROLS and unicodedata.category(c) != "Cn"
    ]
    return tuple(sorted({*chosen, *BLANK_CHARACTERS}))


def is_invisible(char: str, *, keep_whitespace: bool = True) -> bool:
    """Whether ``char`` renders as nothing (see the module docstring).

    Args:
        char: one character.
        keep_whitespace: treat tab, newline and carriage return as visible.

    Raises:
        ValueError: ``char`` is not a single character.
    """
    _check_char(char)
    return _INVISIBLE[keep_whitespace].fullmatch(char) is not None


def find_invisible(text: str, *, keep_whitespace: bool = True) -> list[str]:
    """The invisible characters of ``text`` (:func:`is_invisible`), in order, repeats kept."""
    return list(_INVISIBLE[keep_whitespace].findall(text))


def replace_surrogates(text: str) -> str:
    """Replace lone surrogates (which no encoder accepts) by ``U+FFFD``."""
    return _SURROGATE.sub("\ufffd", text)


def apply_deletions(text: str) -> str:
    """Apply backspace/delete controls: each erases the character before it."""
    if not _DELETION.search(text):
        return text
    kept: list[str] = []  # stretches of text kept so far (never empty)
    for index, stretch in enumerate(_DELETION.split(text)):
        if index % 2 == 0:  # text between deletion controls
            if stretch:
                kept.append(stretch)
        elif kept:  # a deletion control: erase the last character kept
            kept[-1] = kept[-1][:-1]
            if not kept[-1]:
                kept.pop()
    return "".join(kept)


def resolve_bidi(text: str) -> str:
    """Put text inside right-to-left overrides/embeddings/isolates in display order.

    Simplified bidi model: the content of each right-to-left override, embedding or isolate is
    reversed (nested ones resolved first); the controls themselves are dropped, as are unpaired
    ones and directional marks. An unterminated override runs to the end of the text.
    """
    if not BIDI_PATTERN.search(text):
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
    while len(stack) > 1:
        direction, chars = stack.pop()
        stack[-1][1].extend(reversed(chars) if direction == "rtl" else chars)
    return "".join(stack[0][1])


def remove_invisible(text: str, *, keep_whitespace: bool = True) -> str:
    """``text`` without its invisible characters (:func:`is_invisible`)."""
    return str(_INVISIBLE[keep_whitespace].sub("", text))


def find_confusables(text: str) -> list[str]:
    """The characters of ``text`` that :func:`fold_confusables` replaces, in order."""
    if text.isascii():
        return []
    table = confusable_fold_table()
    return [c for c in _NON_ASCII.findall(text) if c in table]


@lru_cache(maxsize=1)
def _fold_translation() -> dict[int, str]:
    """:func:`confusable_fold_table` as a ``str.translate`` table."""
    return {ord(char): ascii_char for char, ascii_char in confusable_fold_table().items()}


def fold_confusables(text: str) -> str:
    """Replace every character confusable with an ASCII letter or digit by that character.

    Raises:
        ValueError: the package ``confusable-homoglyphs`` is not installed.
    """
    if text.isascii():  # the table maps non-ASCII characters only
        return text
    return text.translate(_fold_translation())


def normalize_round(text: str, *, fold: bool = True, keep_whitespace: bool = True) -> str:
    """One round of the six normalisation steps of the module docstring.

    Args:
        text: any string.
        fold: fold confusables to ASCII (step 6); off for multilingual text, where whole
            words of Cyrillic or Greek would be partly rewritten in Latin letters.
        keep_whitespace: keep tab, newline and carriage return (step 4).

    Returns:
        The normalised text.
    """
    text = resolve_bidi(apply_deletions(replace_surrogates(text)))
    text = unicodedata.normalize("NFKC", remove_invisible(text, keep_whitespace=keep_whitespace))
    return fold_confusables(text) if fold else text


def normalize(text: str, *, fold: bool = True, keep_whitespace: bool = True) -> str:
    """Undo Unicode tricks: :func:`normalize_round` until the text no longer changes.

    The result is idempotent (``normalize(normalize(t)) == normalize(t)``) and equals the text
    of :meth:`Sanitizer.clean <aisec.defenses.text.Sanitizer.clean>` without spelling
    correction.

    Args:
        text: any string.
        fold: fold confusables to ASCII.
        keep_whitespace: keep tab, newline and carriage return.

    Returns:
        The normalised text.

    Raises:
        TypeError: ``text`` is not a string.
    """
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    for _ in range(MAX_ROUNDS):
        cleaned = normalize_round(text, fold=fold, keep_whitespace=keep_whitespace)
        if cleaned == text:
            break
        text = cleaned
    return text


def visible_text(text: str) -> str:
    """What a reader sees: one round of normalisation (:func:`normalize_round`).

    Deletions applied, bidi resolved, invisible characters dropped, NFKC, confusables folded:
    two texts with the same visible text render alike, which is what an imperceptible attack
    must preserve.

    Args:
        text: any string (lone surrogates are shown as U+FFFD).

    Returns:
        The ASCII skeleton of the rendered text (characters without an ASCII confusable kept).
    """
    return normalize_round(text)
