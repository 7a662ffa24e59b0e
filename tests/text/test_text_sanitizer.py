"""The Sanitizer never raises, is idempotent, and undoes Unicode attacks (and flags them)."""

from __future__ import annotations

import ast
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st
from text_stubs import NEGATIVE_TEXTS, POSITIVE_TEXTS, LexiconModel

from aisec.attacks.text import bad_characters
from aisec.defenses.text import Sanitizer
from aisec.unicode import BLANK_CHARACTERS, default_ignorable_characters, is_default_ignorable

TEXTS = POSITIVE_TEXTS + NEGATIVE_TEXTS
LABELS = [1] * len(POSITIVE_TEXTS) + [0] * len(NEGATIVE_TEXTS)
TRICKY = st.text(
    alphabet=st.one_of(
        st.characters(),
        st.sampled_from(
            list("\u200b\u200d\u2060\u202e\u202c\u2067\u2069\b\x7f\ufeffаеоｆ\U000e0041")
        ),
    ),
    max_size=40,
)


@settings(max_examples=300, deadline=None)
@given(TRICKY)
def test_clean_never_raises_and_is_idempotent(text: str) -> None:
    sanitizer = Sanitizer()
    cleaned, _ = sanitizer.clean(text)
    again, findings = sanitizer.clean(cleaned)
    assert again == cleaned
    assert findings == []


@settings(max_examples=50, deadline=None)
@given(st.text(alphabet=st.characters(max_codepoint=0x7E, min_codepoint=0x20), max_size=60))
def test_plain_ascii_is_left_alone(text: str) -> None:
    assert Sanitizer().clean(text) == (text, [])


def test_sanitizer_reverses_every_unicode_attack_and_flags_it(lexicon_model: LexiconModel) -> None:
    run = bad_characters().run(lexicon_model, TEXTS, LABELS)
    sanitizer = Sanitizer()
    attacked = [r for r in run.results if r.status == "succeeded"]
    assert attacked
    for result in attacked:
        cleaned, findings = sanitizer.clean(result.adversarial)
        assert findings, result.adversarial
        prediction = int(lexicon_model.predict_proba([cleaned]).argmax())
        assert prediction == result.original_prediction
        assert cleaned == sanitizer.clean(result.original)[0]


def test_findings_name_each_trick() -> None:
    sanitizer = Sanitizer()
    cases = {
        "gre\u200bat": ("great", "invisible"),
        "gr\u034feat": ("great", "invisible"),
        "gre\u0430t": ("great", "confusables"),
        "\u202etaerg\u202c": ("great", "bidi_controls"),
        "grex\bat": ("great", "deletion_controls"),
        "ｇreat": ("great", "nfkc"),
        "gre\ud800at": ("gre\ufffdat", "invalid_unicode"),
    }
    for text, (expected, kind) in cases.items():
        cleaned, findings = sanitizer.clean(text)
        assert cleaned == expected
        assert kind in {f.kind for f in findings}


def test_optional_spelling_correction() -> None:
    cleaned, findings = Sanitizer(spelling=True).clean("a terible flihgt")
    assert cleaned == "a terrible flight"
    assert [f.kind for f in findings] == ["spelling"]


def test_sanitizer_takes_its_unicode_knowledge_from_the_shared_module() -> None:
    import aisec.defenses.text.sanitizer as module

    tree = ast.parse(Path(module.__file__).read_text(encoding="utf-8"))
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    imported |= {
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    }
    assert "aisec.unicode" in imported
    assert not any(name and name.startswith("aisec.attacks") for name in imported)


# Invisible characters outside Cf/Cc that once passed the sanitizer unflagged: the combining
# grapheme joiner, the Hangul fillers, variation selectors (standard, supplementary and
# Mongolian) and the blank braille pattern.
BLIND_SPOTS = (
    "\u034f",
    "\u115f",
    "\u1160",
    "\u3164",
    "\uffa0",
    "\ufe00",
    "\ufe0f",
    "\U000e0100",
    "\U000e01ef",
    "\u180b",
    "\u180f",
    "\u2800",
)


def test_blind_spots_are_removed_flagged_and_cannot_flip_the_victim(
    lexicon_model: LexiconModel,
) -> None:
    sanitizer = Sanitizer()
    for word in ("love", "best"):
        sentence = f"I {word} it"
        for char in BLIND_SPOTS:
            attacked = f"I {word[:2]}{char}{word[2:]} it"
            cleaned, findings = sanitizer.clean(attacked)
            assert cleaned == sentence, hex(ord(char))
            assert [f.kind for f in findings] == ["invisible"], hex(ord(char))
            assert f"U+{ord(char):04X}" in findings[0].detail
    love = "I lo\u3164ve it"
    assert int(lexicon_model.predict_proba([love]).argmax()) == 0  # the bare victim is fooled
    assert int(lexicon_model.predict_proba([sanitizer.clean(love)[0]]).argmax()) == 1


DEFAULT_IGNORABLE = default_ignorable_characters()
HIDING = st.text(
    alphabet=st.one_of(
        st.characters(),
        st.sampled_from(DEFAULT_IGNORABLE),
        st.sampled_from(sorted(BLANK_CHARACTERS)),
        st.sampled_from(list("love best аеоｆ\u202e\u202c\b")),
    ),
    max_size=40,
)


@settings(max_examples=300, deadline=None)
@given(HIDING)
def test_no_default_ignorable_code_point_survives_and_clean_is_idempotent(text: str) -> None:
    for sanitizer in (
        Sanitizer(),
        Sanitizer(keep_newlines=False),
        Sanitizer(fold_confusables=False),
    ):
        cleaned, findings = sanitizer.clean(text)
        assert not any(is_default_ignorable(c) for c in cleaned)
        assert not any(c in BLANK_CHARACTERS for c in cleaned)
        hidden = [c for c in text if is_default_ignorable(c) or c in BLANK_CHARACTERS]
        if hidden:
            assert findings
        assert sanitizer.clean(cleaned) == (cleaned, [])


def test_the_property_source_knows_the_default_ignorable_code_points() -> None:
    # Spot checks against DerivedCoreProperties.txt (Unicode 15): ranges and their ends.
    for code in (
        0x00AD,
        0x034F,
        0x061C,
        0x115F,
        0x17B4,
        0x180B,
        0x180F,
        0x200B,
        0x206F,
        0x3164,
        0xFE00,
        0xFEFF,
        0xFFA0,
        0xFFF0,
        0x1BCA3,
        0x1D173,
        0xE0000,
        0xE0FFF,
    ):
        assert is_default_ignorable(chr(code)), hex(code)
    for char in "aZ0 \t\n.é×\u2800\u0600":
        assert not is_default_ignorable(char), hex(ord(char))
    assert len(DEFAULT_IGNORABLE) > 4000
