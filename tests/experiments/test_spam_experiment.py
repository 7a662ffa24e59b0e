"""The spam experiment on a tiny plan: real corpus, real filters, guarantees not golden numbers."""

from __future__ import annotations

import inspect
import json
import math
from pathlib import Path

import pytest

from aisec.attacks.text.core import AttackText
from aisec.experiments import spam as experiment
from aisec.experiments.spam import SpamPlan, SpamResult, run_spam
from aisec.models.linear_text import fit_logistic_regression, fit_naive_bayes
from aisec.report.chapters import spam as section
from aisec.report.tour import ChapterContext, ChapterResult
from aisec.stats import Rate
from aisec.zoo.spam_training import SPAM_RECIPES

TINY = SpamPlan(
    victims=("spam-nb",),
    attacks=(("spam-nb", "good-words-passive"), ("spam-nb", "good-words")),
    n=4,
    max_words=5,
    pool_size=10,
    trigger_victim=None,
    poison_filters=("naive-bayes", "spambayes"),
    dictionary_size=5_000,
    focused_targets=2,
    focused_filters=("spambayes",),
    roni_filters=("spambayes",),
    roni_trusted=200,
    sanitizer_n=1,
    sanitizer_query_budget=300,
)


@pytest.fixture(scope="module")
def result() -> SpamResult:
    return run_spam(TINY)


def test_victims_are_measured_on_the_whole_test_split(result: SpamResult) -> None:
    victim = result.victims["spam-nb"]
    assert victim.accuracy.total == result.data["n_test"]
    assert victim.ham_false_positive.total + victim.spam_missed.total == result.data["n_test"]
    assert victim.spam_missed.total == result.data["n_test_spam"]


def test_good_word_attacks_stay_in_budget_and_under_the_exact_ceiling(result: SpamResult) -> None:
    for outcome in result.attacks:
        summary = outcome.run.summary
        assert summary is not None and summary.examples == TINY.n
        for item in outcome.run.results:
            assert item.label == 1
            assert item.words_added <= TINY.max_words
            assert item.words_changed == 0  # insertions replace no word
            if item.status == "succeeded":
                assert item.adversarial_prediction == 0
                # the inserted words are in the text that got through
                text = AttackText.from_text(item.original)
                for gap, piece in item.insertions:
                    text = text.insert(gap, piece)
                assert text.text == item.adversarial
        # Naive Bayes is linear in counts: no insertion beats the best word repeated.
        assert outcome.ceiling is not None
        succeeded = summary.succeeded
        assert succeeded <= outcome.ceiling.count
        row = outcome.row()
        assert isinstance(row["gets through (of detected)"], Rate)


def test_dictionary_poisoning_and_roni(result: SpamResult) -> None:
    poisoning = result.poisoning
    assert poisoning is not None
    n_train = result.data["n_train"]
    assert poisoning.n_poison == round(0.01 * n_train / 0.99)
    spambayes = poisoning.dictionary["spambayes"]
    # The dictionary makes ham look like spam to a document-frequency filter ...
    assert spambayes.poisoned.ham_misclassified.count > 5 * spambayes.clean.ham_misclassified.count
    # ... and lets spam through a multinomial naive Bayes instead.
    nb = poisoning.dictionary["naive-bayes"]
    assert nb.poisoned.spam_missed.count > nb.clean.spam_missed.count
    assert nb.poisoned.ham_misclassified.count <= nb.clean.ham_misclassified.count
    screening = poisoning.roni["spambayes"]
    assert screening.attack_rejected.total == poisoning.n_poison
    assert screening.attack_rejected.value >= 0.9
    assert screening.fits > 0 and screening.seconds > 0
    screened = poisoning.roni_filter["spambayes"]
    assert screened.ham_misclassified.count < spambayes.poisoned.ham_misclassified.count
    focused = poisoning.focused["spambayes"]
    assert focused.blocked.total <= TINY.focused_targets
    assert focused.n_poison == poisoning.n_poison
    # RONI attacked adaptively: the focused e-mails go through RONI before training.
    screened, rejected = poisoning.focused_roni["spambayes"]
    assert rejected.total == TINY.focused_targets * poisoning.n_poison
    assert screened.blocked.total == focused.blocked.total
    assert screened.blocked.count <= focused.blocked.count or rejected.count == 0


def test_defenses_are_attacked_adaptively(result: SpamResult) -> None:
    sanitizer, training = result.defenses
    assert sanitizer.defense == "sanitizer" and sanitizer.recipe == "bad_characters"
    assert sanitizer.defended.config["goal"]["query_budget"] == TINY.sanitizer_query_budget
    for run in (sanitizer.undefended, sanitizer.defended):
        assert all(r.queries <= TINY.sanitizer_query_budget for r in run.results)
    assert training.defense == "adversarial-training" and training.cost is not None
    assert training.cost.accuracy.total == result.data["n_test"]


def test_numbers_json_and_the_chapter_section(result: SpamResult, tmp_path: Path) -> None:
    numbers = result.numbers()
    assert numbers["spam-nb.good-words.attacked"] <= TINY.n
    assert "poisoning.spambayes.poisoned.ham_misclassified" in numbers
    assert "roni.spambayes.attack_rejected" in numbers
    json.dumps(result.to_dict())  # serialisable as is
    chapter = ChapterResult()
    section.add_spam_section(chapter, result)
    assert chapter.numbers["spam.n_test"] == result.data["n_test"]
    assert all(key.startswith("spam.") for key in chapter.numbers)
    assert not any(isinstance(v, float) and math.isnan(v) for v in chapter.numbers.values())
    captions = [table.caption for table in chapter.tables]
    assert any(caption.startswith("Dictionary poisoning") for caption in captions)
    missed = chapter.numbers["spam.targets_missed"]
    assert ("Targets NOT reached" in chapter.summary) == bool(missed)
    assert chapter.targets_not_reached == missed
    assert chapter.targets_checked == section.targets_measured(numbers) > 0
    for key, value in numbers.items():  # every rate of the poisoning states has its sizes
        if key.startswith("poisoning.") and key.endswith(".ham_misclassified"):
            n_ham = numbers[key.replace("ham_misclassified", "n_ham")]
            assert n_ham > 0 and float(round(value * n_ham)) == pytest.approx(value * n_ham)


def test_targets_missed_names_each_unreached_target() -> None:
    numbers = {"spam-nb.test_accuracy": 0.9, "spam-nb.ham_false_positive_rate": 0.01}
    (line,) = section.targets_missed(numbers)
    assert section.targets_measured(numbers) == 2
    assert "spam-nb test accuracy" in line and "90.0%" in line
    assert section.targets_missed({"spam-nb.test_accuracy": 0.97}) == []


def test_the_zoo_filters_are_the_poisoning_recipes() -> None:
    """The zoo's spam-nb and spam-tfidf serve as the clean filters of the poisoning step."""
    nb = inspect.signature(fit_naive_bayes).parameters
    assert SPAM_RECIPES["spam-nb"] == {k: nb[k].default for k in ("alpha", "min_df")}
    lr = inspect.signature(fit_logistic_regression).parameters
    assert SPAM_RECIPES["spam-tfidf"] == {k: lr[k].default for k in ("C", "min_df", "seed")}


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"victims": ("spam-nope",)}, "unknown spam filter"),
        ({"attacks": (("spam-nb", "nope"),)}, "unknown recipe"),
        ({"attacks": (("spam-nb",),)}, "pair"),
        ({"n": 0}, "n must be >= 1"),
        ({"position": "middle"}, "position"),
        ({"trigger_victim": "spam-nb"}, "white-box"),
        ({"poison_filters": ("svm",)}, "unknown filter 'svm'"),
        ({"roni_filters": ("logistic-regression",)}, "fast path"),
        ({"focused_filters": ("naive-bayes",), "poison_filters": ("spambayes",)}, "among"),
        ({"poison_fraction": 0.0}, "poison_fraction"),
        ({"poison_fraction": 0.6}, "poison_fraction"),
        ({"focused_known_fraction": 0}, "focused_known_fraction"),
        ({"roni_threshold": -0.1}, "roni_threshold"),
        ({"sanitizer_recipe": "pwws"}, "sanitizer_recipe"),
        ({"sanitizer_query_budget": 0}, "sanitizer_query_budget"),
    ],
)
def test_a_bad_plan_fails_before_anything_loads(
    monkeypatch: pytest.MonkeyPatch, changes: dict[str, object], message: str
) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("something was loaded for a bad plan")

    monkeypatch.setattr(experiment, "load_spam_splits", refuse)
    with pytest.raises((ValueError, TypeError), match=message):
        run_spam(SpamPlan(**changes))  # type: ignore[arg-type]


def test_the_tour_runs_the_quick_or_full_spam_plan_with_its_seed(tmp_path: Path) -> None:
    quick = section.plan_for(ChapterContext(out_dir=tmp_path, quick=True, seed=3))
    assert quick.seed == 3 and quick.trigger_victim is None
    full = section.plan_for(ChapterContext(out_dir=tmp_path, quick=False))
    assert full == section.FULL and full.trigger_victim == "spam-minilm"
