"""Defense evaluation (adaptive sanitizer), embedding noise, with stub victims."""

from __future__ import annotations

import torch
from text_stubs import NEGATIVE_TEXTS, POSITIVE_TEXTS, LexiconModel

from aisec.defenses.text.evaluation import SanitizedClassifier, defense_table
from aisec.models.text import BowClassifier

TEXTS = POSITIVE_TEXTS + NEGATIVE_TEXTS
LABELS = [1] * len(POSITIVE_TEXTS) + [0] * len(NEGATIVE_TEXTS)


def test_sanitizer_defeats_bad_characters_even_when_attacked_adaptively(
    lexicon_model: LexiconModel,
) -> None:
    rows = defense_table(
        {"none": lexicon_model, "sanitizer": SanitizedClassifier(lexicon_model)},
        ["bad_characters", "deepwordbug"],
        TEXTS,
        LABELS,
    )
    none, sanitized = rows
    assert none["bad_characters"] < none["clean accuracy"]
    assert sanitized["bad_characters"] == sanitized["clean accuracy"] == none["clean accuracy"]
    # Character edits are not Unicode tricks: the sanitizer alone does not stop them.
    assert sanitized["deepwordbug"] < sanitized["clean accuracy"]


def test_embedding_noise_applies_in_training_mode_only() -> None:
    torch.manual_seed(0)
    model = BowClassifier(["good", "bad"], ("neg", "pos"), dim=4)
    model.embedding_noise_std = 1.0
    ids, mask = model.encode(["good bad good"])
    model.eval()
    assert torch.equal(model(ids, mask), model(ids, mask))
    model.train()
    assert not torch.equal(model(ids, mask), model(ids, mask))
