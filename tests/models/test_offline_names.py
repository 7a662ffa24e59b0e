"""Model names never reach the network: unknown names fail at once, ``hf:`` names load offline."""

from __future__ import annotations

import socket
import time
from pathlib import Path
from typing import Any

import pytest
import torch

from aisec.experiments import names
from aisec.models.language import load_language_model
from aisec.models.text import HFTextClassifier
from aisec.zoo import load_text_model


@pytest.fixture()
def hub_calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, dict[str, Any]]]:
    """Every ``from_pretrained`` call (each fails as a missing local copy); no network at all."""
    import transformers

    def refuse(*args: object, **kwargs: object) -> None:
        pytest.fail("a network connection was attempted")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    calls: list[tuple[str, dict[str, Any]]] = []

    def recorder(cls_name: str) -> Any:
        def from_pretrained(name: str, *args: object, **kwargs: Any) -> None:
            calls.append((str(name), kwargs))
            raise OSError(f"{name} is not in the local Hugging Face cache (simulated)")

        return from_pretrained

    for cls_name in (
        "AutoTokenizer",
        "AutoModelForSequenceClassification",
        "AutoModelForCausalLM",
    ):
        monkeypatch.setattr(getattr(transformers, cls_name), "from_pretrained", recorder(cls_name))
    return calls


@pytest.mark.parametrize(
    "load",
    [
        lambda: load_text_model("tweet-bow"),
        lambda: load_text_model("textattack/bert-base-uncased-SST-2"),
        lambda: names.text_model("distilbert-base-uncased"),
    ],
)
def test_an_unknown_text_model_lists_the_offline_ones_without_the_hub(
    hub_calls: list[tuple[str, dict[str, Any]]], load: Any
) -> None:
    began = time.perf_counter()
    with pytest.raises(ValueError, match=r"unknown text model .*'tweets-bow'.*'hf:FOLDER_OR_NAME'"):
        load()
    assert not hub_calls and time.perf_counter() - began < 5


@pytest.mark.parametrize("name", ["gpt2", "smollm", str(Path("/nonexistent/aisec-model"))])
def test_an_unknown_language_model_lists_the_offline_ones_without_the_hub(
    hub_calls: list[tuple[str, dict[str, Any]]], name: str
) -> None:
    with pytest.raises(ValueError, match=r"unknown language model .*'smollm2-135m-instruct'.*hf:"):
        names.language_model(name)
    assert not hub_calls


def test_hf_names_are_loaded_from_local_files_only(
    hub_calls: list[tuple[str, dict[str, Any]]],
) -> None:
    with pytest.raises(ValueError, match=r"cannot load the Hugging Face classifier .*offline"):
        load_text_model("hf:textattack/bert-base-uncased-SST-2")
    with pytest.raises(ValueError, match=r"offline, use 'smollm2-135m-instruct'"):
        load_language_model("hf:gpt2")
    with pytest.raises(ValueError, match="does not apply"):
        load_text_model("hf:some/model", embedding_noise_std=0.1)
    assert [name for name, _ in hub_calls] == ["textattack/bert-base-uncased-SST-2", "gpt2"]
    assert all(kwargs.get("local_files_only") is True for _, kwargs in hub_calls)


def test_an_hf_folder_loads_offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from transformers import (
        BertConfig,
        BertForSequenceClassification,
        BertTokenizerFast,
        LlamaConfig,
        LlamaForCausalLM,
    )

    def refuse(*args: object, **kwargs: object) -> None:
        pytest.fail("a network connection was attempted")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "good", "bad", "day"]
    (tmp_path / "vocab.txt").write_text("\n".join(words) + "\n")
    tokenizer = BertTokenizerFast(str(tmp_path / "vocab.txt"))
    torch.manual_seed(0)
    bert = BertForSequenceClassification(
        BertConfig(
            vocab_size=len(words),
            hidden_size=16,
            num_hidden_layers=1,
            num_attention_heads=2,
            intermediate_size=32,
            num_labels=2,
        )
    )
    classifier_dir, lm_dir = tmp_path / "classifier", tmp_path / "lm"
    bert.save_pretrained(classifier_dir)
    tokenizer.save_pretrained(classifier_dir)
    llama = LlamaForCausalLM(
        LlamaConfig(
            vocab_size=len(words),
            hidden_size=16,
            intermediate_size=32,
            num_hidden_layers=1,
            num_attention_heads=2,
            num_key_value_heads=2,
        )
    )
    llama.save_pretrained(lm_dir)
    tokenizer.save_pretrained(lm_dir)
    victim = names.text_model(f"hf:{classifier_dir}")
    assert isinstance(victim, HFTextClassifier)
    assert victim.predict_proba(["good day", "bad"]).shape == (2, 2)
    lm = names.language_model(f"hf:{lm_dir}")
    assert lm.name == f"hf:{lm_dir}" and lm.token_logits(torch.tensor([[5, 6]])).shape == (1, 2, 8)
