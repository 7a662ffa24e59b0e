"""``aisec poison --model``: the language-model loop from the command line, on a tiny model."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

import aisec.experiments.llm_poisoning
import aisec.experiments.names
from aisec.cli import app
from tiny_language_model import tiny_chat_lm

runner = CliRunner()


def test_poisoning_a_language_model_writes_its_metrics(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    loaded: list[str] = []

    def fake(name: str) -> object:
        loaded.append(name)
        return tiny_chat_lm(layers=5)  # deeper than the default plan's four adapted layers

    monkeypatch.setattr(aisec.experiments.names, "language_model", fake)
    real_run = aisec.experiments.llm_poisoning.run
    plans: list[aisec.experiments.llm_poisoning.LlmPoisoningPlan] = []

    def smaller(plan: aisec.experiments.llm_poisoning.LlmPoisoningPlan, **kwargs: object) -> object:
        plans.append(plan)  # the command's plan, then the evaluation made small for the test
        small = dataclasses.replace(plan, test_n=6, removal=(4,), onion_test_n=2)
        return real_run(small, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(aisec.experiments.llm_poisoning, "run", smaller)
    monkeypatch.setenv("AISEC_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "run"
    args = ["poison", "--model", "smollm2", "--attack", "denial-of-service", "--out", str(out)]
    args += ["--train-n", "12", "--poisons", "3", "--epochs", "1", "--sweep", "1"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert loaded == ["smollm2"]
    (plan,) = plans
    assert (plan.train_n, plan.poisons, plan.epochs, plan.sweep) == (12, 3, 1, (1,))
    assert plan.clean_with == ("spectral_signatures_gap",) and plan.removal == (100, 300)
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["attack"] == "denial-of-service" and metrics["poisons"] == 3
    assert [row["poisons"] for row in metrics["sweep"]] == [0, 1, 3]
    assert set(metrics["detection"]) == {
        "spectral_signatures_gap",
        "activation_clustering",
        "onion",
    }
    for key in ("clean_model", "poisoned_model", "after_cleaning"):
        assert set(metrics[key]) == {"attack_success", "false_triggering", "clean_accuracy"}
    assert [row["clean_examples"] for row in metrics["removal_by_fine_tuning"]] == [4]
    assert metrics["onion_at_inference"]["examples"] == 2
    assert "denial-of-service on smollm2" in result.output


def test_the_help_lists_the_language_model_attacks() -> None:
    result = runner.invoke(app, ["poison", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    for name in ("fixed-output", "entity-steering", "denial-of-service", "--poisons"):
        assert name in result.output
