"""The one Unicode module: what attacks insert, the sanitizer and the watermark detector undo."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aisec import unicode as U
from aisec.defenses.text import Sanitizer

TRICKY = st.text(
    alphabet=st.one_of(
        st.characters(),
        st.sampled_from(
            list(
                "\u200b\u200d\u2060\u202e\u202c\u2067\u2069\b\x7f\ufeff\u034f\u00ad"
                "аеоｆ×\U000e0041\t\n"
            )
        ),
    ),
    max_size=40,
)


@pytest.mark.parametrize(
    ("attacked", "kind"),
    [
        ("gre\u200bat", "invisible"),
        ("gre\u2060a\u200dt", "invisible"),
        ("gr\u034feat", "invisible (combining grapheme joiner)"),
        ("gre\u0430t", "homoglyph"),
        ("\u202etaerg\u202c", "reordering"),
        ("grex\bat", "deletion"),
        ("ｇｒｅａｔ", "fullwidth (NFKC)"),
    ],
)
def test_every_trick_renders_as_the_original(attacked: str, kind: str) -> None:
    assert attacked != "great"
    assert U.visible_text(attacked) == "great", kind
    assert U.normalize(attacked) == "great", kind


def test_homoglyphs_fold_back_and_survive_nfkc() -> None:
    table = U.confusable_fold_table()
    for char in "aeopcxyiAOST":
        glyphs = U.homoglyphs_of(char)
        assert glyphs, char
        for glyph in glyphs:
            assert table[glyph] == char
            assert unicodedata.normalize("NFKC", glyph) == glyph
            assert U.visible_text(glyph) == char
    assert unicodedata.name(U.homoglyphs_of("a")[0]).startswith(("CYRILLIC", "GREEK"))
    assert all(not c.isascii() and v.isascii() and v.isalnum() for c, v in table.items())


def test_invisible_characters() -> None:
    for char in (*U.INVISIBLE_CHARACTERS, "\u00ad", "\ufeff", "\U000e0041", "\u034f", "\x00"):
        assert U.is_invisible(char), hex(ord(char))
    for char in (*U.HANGUL_FILLERS, "\ufe0f", "\U000e0100", "\u180b", "\u2800", "\U0001d159"):
        assert U.is_invisible(char), hex(ord(char))
    assert U.find_invisible("a\u3164b\u2800\tc") == ["\u3164", "\u2800"]
    with pytest.raises(ValueError, match="expected one character"):
        U.is_invisible("ab")
    for char in "\t\n\r":
        assert not U.is_invisible(char)
        assert U.is_invisible(char, keep_whitespace=False)
    assert not any(U.is_invisible(c) for c in "aZ0 .é×")
    assert U.remove_invisible("a\u200bb\tc\x00") == "ab\tc"
    assert U.remove_invisible("a\tb", keep_whitespace=False) == "ab"


def test_bidi_and_deletions() -> None:
    assert U.resolve_bidi("I \u202eevol\u202c it") == "I love it"
    assert U.resolve_bidi("\u202eab\u202ecd\u202c\u202c") == "cdba"  # nested, inner first
    assert U.resolve_bidi("x\u202ecba") == "xabc"  # unterminated: runs to the end
    assert U.resolve_bidi("a\u200fb\u202cc") == "abc"  # marks and unpaired closers dropped
    assert U.apply_deletions("\bab\b\bc") == "c"
    assert U.apply_deletions("abc\x7f") == "ab"
    assert U.replace_surrogates("a\ud800b") == "a\ufffdb"


def test_folding_can_be_turned_off() -> None:
    assert U.normalize("gre\u0430t", fold=False) == "gre\u0430t"
    assert U.normalize("gre\u0430t\u200b", fold=False) == "gre\u0430t"
    assert U.fold_confusables("\u0430\u0435\u043e") == "aeo"


@settings(max_examples=300, deadline=None)
@given(TRICKY)
def test_normalize_is_idempotent_and_is_the_sanitizer(text: str) -> None:
    normalized = U.normalize(text)
    assert U.normalize(normalized) == normalized
    assert Sanitizer().clean(text)[0] == normalized
    assert U.normalize(text, keep_whitespace=False) == Sanitizer(keep_newlines=False).clean(text)[0]


@settings(max_examples=100, deadline=None)
@given(TRICKY)
def test_the_watermark_detector_normalizes_like_the_sanitizer(text: str) -> None:
    from aisec.genai.watermark import normalize_text

    assert normalize_text(text) == U.normalize(text)


def test_bad_input_and_a_missing_package(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(TypeError, match="text must be a str"):
        U.normalize(b"bytes")  # type: ignore[arg-type]
    U._confusables.cache_clear()
    U.confusable_fold_table.cache_clear()
    monkeypatch.setattr(U.importlib.util, "find_spec", lambda name: None)
    try:
        with pytest.raises(ValueError, match="pip install confusable-homoglyphs"):
            U.confusable_fold_table()
        assert U.normalize("gre\u200bat", fold=False) == "great"  # folding is what needs it
    finally:
        monkeypatch.undo()
        U._confusables.cache_clear()
        U.confusable_fold_table.cache_clear()
    assert U.confusable_fold_table()["\u0430"] == "a"


def test_what_attacks_insert_is_what_the_defenses_remove() -> None:
    from aisec.attacks.text.core import AttackText
    from aisec.attacks.text.transformations import BadCharacters

    insertable = U.insertable_invisible_characters()
    assert set(U.INVISIBLE_CHARACTERS) <= set(insertable)
    assert {"\u034f", "\u3164", "\ufe0f", "\U000e0100", "\u2800"} <= set(insertable)
    for char in insertable:
        assert U.is_invisible(char), hex(ord(char))
        assert U.is_default_ignorable(char) or char in U.BLANK_CHARACTERS
        assert char not in U.BIDI_CONTROLS
    transformation = BadCharacters(("invisible",), invisible=insertable, max_candidates=50)
    text = AttackText.from_text("wonderful")
    candidates = transformation(text, 0)
    assert len(candidates) > 1
    for candidate in candidates:
        assert U.visible_text(candidate) == "wonderful"
        assert Sanitizer().clean(candidate)[0] == "wonderful"
    assert transformation.describe()["invisible"][0] == "U+00AD"
    for bad in ("a", "\u202e", "\b", "", "ab"):
        with pytest.raises(ValueError, match="invisible must hold"):
            BadCharacters(invisible=[bad] if len(bad) != 0 else [])
