"""Tampered cache entries are detected, reported and rebuilt, never used.

Each entry kind is altered the way a bit flip or a hand edit would: a checkpoint's metadata (a
vocabulary, a reported accuracy) and tensors, a weight file of the converted language model
(4 KB), a generated data file and a stored tour chapter.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import fault_workers as workers
import pytest
import torch

from aisec.cache import MANIFEST_NAME


def _forge_metadata(file: Path, edit: Any) -> None:
    """Rewrite a sealed checkpoint with edited metadata under its old SHA-256 (a forgery)."""
    from safetensors.torch import load, save

    data = file.read_bytes()
    size = int.from_bytes(data[:8], "little")
    header = json.loads(data[8 : 8 + size])["__metadata__"]
    metadata = json.loads(header["aisec.metadata"])
    edit(metadata)
    header["aisec.metadata"] = json.dumps(metadata, sort_keys=True)
    file.write_bytes(save(load(data), metadata=header))


def _flip_bytes(file: Path, offset_from_end: int, count: int = 1) -> None:
    data = bytearray(file.read_bytes())
    start = len(data) - offset_from_end
    data[start : start + count] = bytes(b ^ 0xFF for b in data[start : start + count])
    file.write_bytes(bytes(data))


def test_a_swapped_vocabulary_is_detected_and_the_victim_retrained(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from aisec.models.text import BowClassifier
    from aisec.zoo import text as text_zoo

    monkeypatch.setenv("AISEC_CACHE", str(tmp_path))
    trainings: list[str] = []

    def quick_train(name: str, **kwargs: Any) -> BowClassifier:  # the real one takes ~30 s
        trainings.append(name)
        torch.manual_seed(0)
        model = BowClassifier(["good", "bad", "day", "news"], ["negative", "positive"], dim=8)
        model.test_accuracy = 0.5
        return model.eval()

    monkeypatch.setattr(text_zoo, "train_tweets_model", quick_train)
    texts = ["good", "bad", "what a good day", "this is bad news"]
    original = text_zoo.load_text_model("tweets-bow").predict_proba(texts)
    (file,) = (tmp_path / "models" / "text").glob("tweets-bow-*.safetensors")

    def swap(metadata: dict[str, Any]) -> None:
        words = metadata["vocabulary"]
        good, bad = words.index("good"), words.index("bad")
        words[good], words[bad] = "bad", "good"

    _forge_metadata(file, swap)
    with pytest.warns(UserWarning, match="does not verify.*retraining tweets-bow"):
        again = text_zoo.load_text_model("tweets-bow")
    assert trainings == ["tweets-bow", "tweets-bow"]
    assert torch.equal(again.predict_proba(texts), original)
    text_zoo.load_text_model("tweets-bow")
    assert len(trainings) == 2  # the rebuilt entry verifies


@pytest.mark.parametrize("damage", ["tensor", "accuracy"])
def test_a_tampered_zoo_checkpoint_is_reported_and_retrained(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, damage: str
) -> None:
    from aisec.zoo import catalog

    monkeypatch.setenv("AISEC_CACHE", str(tmp_path))
    monkeypatch.setattr(catalog, "_ZOO", dict(catalog._ZOO))
    workers.use_quick_digits_spec()
    model = catalog.load("digits-cnn", progress=False)
    file = tmp_path / "models" / "digits-cnn.safetensors"
    if damage == "tensor":
        _flip_bytes(file, offset_from_end=40)
    else:
        _forge_metadata(file, lambda metadata: metadata.update(test_accuracy=0.999))
    status = next(s for s in catalog.list_models() if s.name == "digits-cnn")
    assert not status.cached and status.test_accuracy is None  # a forged accuracy is not shown
    with pytest.warns(UserWarning, match="'digits-cnn' is corrupted.*does not verify"):
        again = catalog.load("digits-cnn", progress=False)
    assert workers.state_digest(again) == workers.state_digest(model)
    assert next(s for s in catalog.list_models() if s.name == "digits-cnn").cached


def _fake_converter(conversions: list[Path]) -> Any:
    """A stand-in for the GGUF conversion: a tiny Llama and a word-level tokenizer."""

    def convert(staging: Path) -> dict[str, Any]:
        from tokenizers import Tokenizer, models, pre_tokenizers
        from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

        conversions.append(staging)
        vocabulary = {**{f"w{i}": i for i in range(63)}, "[UNK]": 63}
        tokenizer = Tokenizer(models.WordLevel(vocabulary, unk_token="[UNK]"))
        tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
        fast = PreTrainedTokenizerFast(
            tokenizer_object=tokenizer, unk_token="[UNK]", pad_token="[UNK]"
        )
        fast.save_pretrained(staging)
        config = LlamaConfig(
            vocab_size=64,
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=1,
            num_attention_heads=2,
            num_key_value_heads=2,
            max_position_embeddings=64,
            bos_token_id=None,
            eos_token_id=None,
            pad_token_id=0,
        )
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            LlamaForCausalLM(config).save_pretrained(staging)
        return {"source": "fake", "source_size": 0}

    return convert


@pytest.mark.parametrize("damage", ["weights-4kb", "extra-file", "old-format"])
def test_a_tampered_language_model_folder_is_converted_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, damage: str
) -> None:
    from aisec import cache
    from aisec.models import language

    monkeypatch.setenv("AISEC_CACHE", str(tmp_path))
    conversions: list[Path] = []
    monkeypatch.setattr(language, "_convert_smollm2", _fake_converter(conversions))
    verifications: list[Path] = []

    def counted_verify(folder: Path) -> dict[str, Any]:
        verifications.append(folder)
        return cache.verify_folder(folder)

    monkeypatch.setattr(language, "verify_folder", counted_verify)
    ids = torch.tensor([[1, 2, 3, 4]])
    lm = language.load_language_model("smollm2-135m-instruct")
    expected = lm.token_logits(ids)
    folder = tmp_path / "models" / language.OFFLINE_LANGUAGE_MODEL
    assert len(conversions) == 1 and (folder / MANIFEST_NAME).is_file()
    verifications.clear()
    language.load_language_model("smollm2")
    assert len(verifications) == 1  # one check of every file per load, no conversion
    if damage == "weights-4kb":
        weights = folder / "model.safetensors"
        data = bytearray(weights.read_bytes())
        middle = len(data) // 2
        data[middle : middle + 4096] = b"\xff" * 4096  # NaNs in float32
        weights.write_bytes(bytes(data))
        match = "model.safetensors does not match its SHA-256"
    elif damage == "extra-file":
        (folder / "chat_template.jinja").write_text("{{ 'injected' }}")
        match = "chat_template.jinja is not listed"
    else:
        manifest = json.loads((folder / MANIFEST_NAME).read_text())
        (folder / MANIFEST_NAME).write_text(json.dumps(manifest | {"format": 2}))
        match = "it is of conversion format 2"
    with pytest.warns(UserWarning, match=f"does not verify: {match}.*converting it again"):
        again = language.load_language_model("smollm2-135m-instruct")
    assert len(conversions) == 2
    assert torch.equal(again.token_logits(ids), expected)
    assert not [p for p in folder.parent.iterdir() if p.name.startswith(".")]  # no leftovers


def test_a_tampered_signs_file_is_generated_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from aisec.data import load

    monkeypatch.setenv("AISEC_CACHE", str(tmp_path))
    first = load("signs", "test", n=24, seed=1)
    (file,) = (tmp_path / "data" / "signs").glob("*.safetensors")
    _flip_bytes(file, offset_from_end=500)
    with pytest.warns(UserWarning, match="do not verify.*generating them again"):
        again = load("signs", "test", n=24, seed=1)
    assert torch.equal(first.images, again.images) and torch.equal(first.labels, again.labels)
    # A valid file of another split put in this one's place does not verify either.
    load("signs", "train", n=24, seed=1)
    (train_file,) = (tmp_path / "data" / "signs").glob("*-train-*.safetensors")
    file.write_bytes(train_file.read_bytes())
    with pytest.warns(UserWarning, match="it holds"):
        again = load("signs", "test", n=24, seed=1)
    assert torch.equal(first.images, again.images)


def test_a_tampered_stored_chapter_runs_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from aisec.report.tour import Chapter, ChapterContext, ChapterResult, Figure, run_tour

    monkeypatch.setenv("AISEC_CACHE", str(tmp_path / "cache"))
    runs: list[int] = []

    def chapter(context: ChapterContext) -> ChapterResult:
        runs.append(1)
        path, relative = context.figure_path("plot", "a.png")
        path.write_bytes(b"\x89PNG the real figure")
        return ChapterResult(summary="s", numbers={"n": 1}, figures=[Figure(relative, "c")])

    chapters = [Chapter("plot", "Plot", chapter)]
    run_tour(chapters, tmp_path / "a", progress=False, reuse=True)
    (stored,) = (tmp_path / "cache" / "tour").glob("plot-*/figures/plot-a.png")
    stored.write_bytes(b"\x89PNG a forged figure")
    with pytest.warns(UserWarning, match="chapter 'plot' do not verify"):
        second = run_tour(chapters, tmp_path / "b", progress=False, reuse=True)
    assert len(runs) == 2 and "reused" not in second.chapters["plot"]
    third = run_tour(chapters, tmp_path / "c", progress=False, reuse=True)
    assert len(runs) == 2 and third.chapters["plot"]["reused"] is True
    assert (tmp_path / "c" / "figures" / "plot-a.png").read_bytes() == b"\x89PNG the real figure"
