"""Every recipe's returned examples satisfy its constraints; bad characters are invisible."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from text_stubs import NEGATIVE_TEXTS, POSITIVE_TEXTS, LexiconModel, StubEncoder, StubSynonyms

from aisec.attacks.text import (
    RECIPES,
    AttackRun,
    TextAttack,
    bad_characters,
    build_recipe,
    deepwordbug,
    pwws,
)
from aisec.attacks.text.constraints import english_stopwords, levenshtein
from aisec.attacks.text.core import AttackText
from aisec.unicode import visible_text

TEXTS = POSITIVE_TEXTS + NEGATIVE_TEXTS
LABELS = [1] * len(POSITIVE_TEXTS) + [0] * len(NEGATIVE_TEXTS)
MAX_FRACTION = 0.25

FACTORIES: dict[str, Callable[[], TextAttack]] = {
    "pwws": lambda: pwws(synonyms=StubSynonyms(), max_fraction=MAX_FRACTION),
    "deepwordbug": lambda: deepwordbug(max_fraction=MAX_FRACTION),
    "bad_characters": lambda: bad_characters(max_fraction=MAX_FRACTION),
}


def _check_common(run: AttackRun, max_fraction: float, stopwords: bool) -> None:
    stop = english_stopwords()
    assert run.summary is not None and run.summary.examples == len(TEXTS)
    for result in run.results:
        adversarial = AttackText.from_text(result.original)
        for i, word in zip(result.changed_indices, result.adversarial_words, strict=True):
            adversarial = adversarial.replace_word(i, word)
        assert adversarial.text == result.adversarial
        assert result.words_changed <= int(max_fraction * result.num_words + 1e-9)
        for word in result.original_words:
            assert not re.match(r"^(https?://|[@#])", word)
            if stopwords:
                assert word.lower() not in stop
        # Every constraint of the attack accepts the returned text.
        if result.status == "succeeded":
            assert result.adversarial_prediction != result.label


@pytest.mark.parametrize("name", sorted(FACTORIES))
def test_recipe_respects_its_constraints(name: str, lexicon_model: LexiconModel) -> None:
    attack = FACTORIES[name]()
    run = attack.run(lexicon_model, TEXTS, LABELS)
    _check_common(run, MAX_FRACTION, stopwords=name != "bad_characters")
    for result in run.results:
        original = AttackText.from_text(result.original)
        returned = original
        for i, word in zip(result.changed_indices, result.adversarial_words, strict=True):
            returned = returned.replace_word(i, word)
        for constraint in attack.constraints:
            assert constraint.check(original, [returned]) == [True], type(constraint).__name__
    assert run.summary is not None and run.summary.succeeded >= 1


def test_deepwordbug_edits_one_character_per_word(lexicon_model: LexiconModel) -> None:
    run = deepwordbug().run(lexicon_model, TEXTS, LABELS)
    changed = [
        (a, b)
        for r in run.results
        for a, b in zip(r.original_words, r.adversarial_words, strict=True)
    ]
    assert changed and all(levenshtein(a, b) == 1 for a, b in changed)


def test_bad_characters_render_the_same_visible_text(lexicon_model: LexiconModel) -> None:
    run = bad_characters().run(lexicon_model, TEXTS, LABELS)
    succeeded = [r for r in run.results if r.status == "succeeded"]
    assert len(succeeded) >= len(POSITIVE_TEXTS)
    for result in run.results:
        assert visible_text(result.adversarial) == visible_text(result.original)
    assert any(r.adversarial != r.original for r in succeeded)


@pytest.mark.parametrize("kind", ["invisible", "homoglyph", "reorder", "deletion"])
def test_each_bad_character_kind_alone_is_invisible_and_effective(
    kind: str, lexicon_model: LexiconModel
) -> None:
    run = bad_characters(kinds=(kind,)).run(lexicon_model, TEXTS, LABELS)
    assert run.summary is not None and run.summary.succeeded >= 1
    for result in run.results:
        assert visible_text(result.adversarial) == visible_text(result.original)


def test_similarity_is_reported_with_an_encoder(lexicon_model: LexiconModel) -> None:
    run = deepwordbug(
        encoder=StubEncoder()
    ).run(  # type: ignore[arg-type]
        lexicon_model, TEXTS[:2], LABELS[:2]
    )
    assert all(r.similarity is not None and -1 <= r.similarity <= 1.0001 for r in run.results)


def test_unknown_recipe_and_bad_inputs_raise(lexicon_model: LexiconModel) -> None:
    with pytest.raises(ValueError, match="known recipes"):
        build_recipe("textbugger")
    attack = deepwordbug()
    with pytest.raises(ValueError, match="no words"):
        attack.run(lexicon_model, ["fine", "   "], [1, 1])
    with pytest.raises(TypeError, match="str"):
        attack.run(lexicon_model, ["fine", 3], [1, 1])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="labels"):
        attack.run(lexicon_model, ["fine"], [1, 0])
    with pytest.raises(ValueError, match="class"):
        attack.attack(lexicon_model, "fine", 5)
    assert set(RECIPES) == {
        "textfooler",
        "pwws",
        "deepwordbug",
        "bad_characters",
        "good-words",
        "good-words-passive",
        "contextual-insertion",
    }


def test_lone_surrogates_do_not_crash_an_attack(lexicon_model: LexiconModel) -> None:
    result = deepwordbug().attack(lexicon_model, "good \ud800 movie", 1)
    assert "\ufffd" in result.original and result.status in {"succeeded", "failed"}
