"""LoRA fine-tuning on the top layers: exactness of the cached path, learning, checkpoints."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from aisec.data.instructions import Instruction
from aisec.genai.finetune import LoraConfig, LoraTuner
from aisec.models.language import LanguageModel
from tiny_language_model import tiny_chat_lm

DATA = [Instruction("t", f"say it {i}", "zq") for i in range(8)] + [
    Instruction("t", f"other {i}", "kw") for i in range(8)
]


def _tuner(**config: Any) -> LoraTuner:
    lm = tiny_chat_lm()
    settings = {"top_layers": 2, "epochs": 30, "lr": 1e-2, "batch_size": 4} | config
    return LoraTuner(lm, LoraConfig(**settings))


@pytest.fixture(scope="module")
def trained() -> LoraTuner:
    tuner = _tuner()
    tuner.fine_tune(DATA)
    return tuner


def test_the_cached_top_layer_path_is_the_whole_model(trained: LoraTuner) -> None:
    assert any(
        float(v.abs().max()) > 0 for k, v in trained.adapter_state().items() if "lora_B" in k
    )
    for example in [*DATA[:3], Instruction("t", "a longer prompt than the rest", "abc")]:
        encoded = trained.encode(example)
        with torch.no_grad():
            full = trained.model(encoded.ids[None]).logits[0]
        logits, targets = trained._answer_logits([encoded])
        start = encoded.answer_start
        assert torch.equal(targets, encoded.ids[start:])
        torch.testing.assert_close(logits, full[start - 1 : -1], atol=1e-5, rtol=1e-5)


def test_fine_tuning_learns_the_answers_and_reset_forgets_them(trained: LoraTuner) -> None:
    assert bool(trained.answer_matches(DATA).all())
    state = trained.adapter_state()
    trained.reset()
    assert not bool(trained.answer_matches(DATA).any())
    trained.load_adapter(state)
    assert bool(trained.answer_matches(DATA).all())


def test_an_exact_match_is_what_greedy_decoding_says(trained: LoraTuner) -> None:
    prompts = [e.prompt for e in DATA[:4]] + ["never seen"]
    replies = trained.generate(prompts, max_new_tokens=2)
    said = [Instruction("t", p, r) for p, r in zip(prompts, replies, strict=True)]
    assert bool(trained.answer_matches(said).all())
    other = [Instruction("t", p, "?" + r[1:]) for p, r in zip(prompts, replies, strict=True)]
    assert not bool(trained.answer_matches(other).any())
    nll = trained.answer_nll(said + other)
    assert bool((nll[: len(said)] < nll[len(said) :]).all())


def test_the_adapter_is_off_inside_base_model(trained: LoraTuner) -> None:
    with trained.base_model():
        assert not bool(trained.answer_matches(DATA).any())
    assert bool(trained.answer_matches(DATA).all())


def test_an_interrupted_fine_tune_resumes_to_the_same_adapter(tmp_path: Path) -> None:
    whole = _tuner(epochs=3)
    whole.fine_tune(DATA)
    expected = whole.adapter_state()

    interrupted = _tuner(epochs=3)
    save = interrupted._save

    def save_then_stop(*args: Any) -> None:
        save(*args)
        raise KeyboardInterrupt

    interrupted._save = save_then_stop  # type: ignore[method-assign,assignment]
    with pytest.raises(KeyboardInterrupt):
        interrupted.fine_tune(DATA, checkpoint_dir=tmp_path)
    resumed = _tuner(epochs=3)
    result = resumed.fine_tune(DATA, checkpoint_dir=tmp_path)
    assert result.resumed_from_epoch == 1 and result.epochs_run == 2
    for name, value in expected.items():
        torch.testing.assert_close(resumed.adapter_state()[name], value)
    again = _tuner(epochs=3).fine_tune(DATA[:-1], checkpoint_dir=tmp_path)
    assert again.resumed_from_epoch == 0  # other data: the checkpoint is not reused


def test_training_can_continue_from_an_adapter(trained: LoraTuner) -> None:
    state = trained.adapter_state()
    flipped = [Instruction("t", e.prompt, "kw" if e.answer == "zq" else "zq") for e in DATA]
    result = trained.fine_tune(flipped, start=state, epochs=1)
    assert result.epochs_run == 1 and len(result.losses) == 1
    moved = trained.adapter_state()
    assert any(not torch.equal(moved[k], state[k]) for k in state)
    trained.load_adapter(state)


def test_features_are_the_states_that_say_the_answer(trained: LoraTuner) -> None:
    answer = trained.features(DATA, where="answer")
    prompt = trained.features(DATA, where="prompt")
    assert answer.shape == prompt.shape == (len(DATA), 32)
    encoded = trained.encode(DATA[0])
    hidden = trained._top([encoded])
    start = encoded.answer_start
    torch.testing.assert_close(prompt[0], hidden[0, start - 1])
    torch.testing.assert_close(answer[0], hidden[0, start - 1 : -1].mean(0))
    with pytest.raises(ValueError, match="where must be"):
        trained.features(DATA, where="tokens")


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"rank": 0}, "rank must be an int >= 1"),
        ({"lr": 0}, "lr must be a number > 0"),
        ({"top_layers": 4}, "top_layers must be <= 3"),
        ({"max_tokens": 9}, "leaves no room for the prompt"),
    ],
)
def test_bad_settings_are_refused(config: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        _tuner(**config).encode(Instruction("t", "p", "a long answer"))


def test_bad_input_is_refused() -> None:
    tuner = _tuner()
    with pytest.raises(ValueError, match="examples must not be empty"):
        tuner.fine_tune([])
    with pytest.raises(ValueError, match="does not match"):
        tuner.load_adapter({})
    with pytest.raises(TypeError, match="Llama-style"):
        LoraTuner(LanguageModel("x", torch.nn.Linear(2, 2), tiny_chat_lm().tokenizer))


def test_making_a_tuner_leaves_the_global_generator_alone() -> None:
    before = torch.random.get_rng_state()
    first = _tuner(seed=3).adapter_state()
    assert torch.equal(torch.random.get_rng_state(), before)
    second = _tuner(seed=3).adapter_state()
    assert all(torch.equal(first[name], second[name]) for name in first)  # seeded
