"""The Sanitizer never raises, is idempotent, and undoes Unicode attacks (and flags them)."""

from __future__ import annotations

import ast
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st
from text_stubs import NEGATIVE_TEXTS, POSITIVE_TEXTS, LexiconModel

from aisec.attacks.text import bad_characters
from aisec.defenses.text import Sanitizer

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
