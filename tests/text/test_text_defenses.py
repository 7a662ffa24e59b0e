"""Defense evaluation (adaptive sanitizer), the sanitizer's effect, embedding noise, with stubs."""

from __future__ import annotations

import math

import torch
from text_stubs import NEGATIVE_TEXTS, POSITIVE_TEXTS, LexiconModel

from aisec.attacks.text import AttackSummary, build_recipe
from aisec.attacks.text.attack import AttackRun
from aisec.defenses.text import SanitizedClassifier
from aisec.evaluate.text import attack_rates, sanitizer_effect
from aisec.experiments.text_defenses import DEFENSES, DefenseOutcome
from aisec.models.text import BowClassifier
from aisec.stats import Rate

TEXTS = POSITIVE_TEXTS + NEGATIVE_TEXTS
LABELS = [1] * len(POSITIVE_TEXTS) + [0] * len(NEGATIVE_TEXTS)


def _runs(victim: object) -> dict[str, AttackRun]:
    return {
        recipe: build_recipe(recipe).run(victim, TEXTS, LABELS)  # type: ignore[arg-type]
        for recipe in ("bad_characters", "deepwordbug")
    }


def _summary(run: AttackRun) -> AttackSummary:
    assert run.summary is not None
    return run.summary


def test_sanitizer_defeats_bad_characters_even_when_attacked_adaptively(
    lexicon_model: LexiconModel,
) -> None:
    none = {r: _summary(run) for r, run in _runs(lexicon_model).items()}
    sanitized = {r: _summary(run) for r, run in _runs(SanitizedClassifier(lexicon_model)).items()}
    clean = none["bad_characters"].clean_accuracy
    assert none["bad_characters"].accuracy_under_attack < clean
    assert sanitized["bad_characters"].accuracy_under_attack == clean
    assert sanitized["bad_characters"].clean_accuracy == clean
    # Character edits are not Unicode tricks: the sanitizer alone does not stop them.
    assert sanitized["deepwordbug"].accuracy_under_attack < clean


def test_defense_rows_carry_rates_equal_to_the_summaries(lexicon_model: LexiconModel) -> None:
    runs = _runs(SanitizedClassifier(lexicon_model))
    outcome = DefenseOutcome("sanitizer", DEFENSES["sanitizer"], runs)
    row = outcome.row()
    assert list(row) == ["defense", "clean accuracy", "bad_characters", "deepwordbug"]
    assert row["defense"] == "sanitizer (adaptive)"
    for recipe, summary in outcome.summaries().items():
        assert isinstance(row[recipe], Rate) and row[recipe].total == len(TEXTS)
        assert row[recipe].value == summary.accuracy_under_attack
        rates = attack_rates(summary)
        assert rates.clean_accuracy.value == summary.clean_accuracy
        assert rates.success_rate.total == summary.succeeded + summary.failed
        assert math.isclose(rates.success_rate.value, summary.success_rate) or (
            math.isnan(summary.success_rate) and rates.success_rate.total == 0
        )


def test_sanitizer_effect_undoes_and_flags_every_unicode_attack(
    lexicon_model: LexiconModel,
) -> None:
    run = build_recipe("bad_characters").run(lexicon_model, TEXTS, LABELS)
    summary = _summary(run)
    effect = sanitizer_effect(lexicon_model, run)
    assert effect.accuracy.total == len(TEXTS)
    assert effect.accuracy.value == summary.clean_accuracy  # every attack undone
    assert effect.flagged == Rate(summary.succeeded, summary.succeeded) and summary.succeeded
    numbers = effect.to_dict()
    assert set(numbers) == {"sanitized_accuracy", "sanitizer_flagged"}
    correct = torch.tensor(
        [True] * effect.accuracy.count + [False] * (len(TEXTS) - effect.accuracy.count)
    )
    assert numbers["sanitized_accuracy"] == float(correct.float().mean())  # float32, as before
    empty = sanitizer_effect(lexicon_model, AttackRun(recipe="none"))
    assert all(math.isnan(v) for v in empty.to_dict().values())


def test_embedding_noise_applies_in_training_mode_only() -> None:
    torch.manual_seed(0)
    model = BowClassifier(["good", "bad"], ("neg", "pos"), dim=4)
    model.embedding_noise_std = 1.0
    ids, mask = model.encode(["good bad good"])
    model.eval()
    assert torch.equal(model(ids, mask), model(ids, mask))
    model.train()
    assert not torch.equal(model(ids, mask), model(ids, mask))
