"""The text experiment's plans (checked before anything loads) and one run on a stub victim."""

from __future__ import annotations

import math

import pytest
from text_stubs import LexiconModel, StubEncoder

from aisec.experiments import ExperimentResult
from aisec.experiments import text as experiment
from aisec.experiments.text import TextAttackPlan
from aisec.experiments.text_defenses import TextDefensesPlan
from aisec.stats import Rate


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"recipe": "nope"}, "known recipes"),
        ({"search": "nope"}, "unknown search"),
        ({"model": "tweets-nope"}, "unknown text model"),
        ({"model": ""}, "non-empty model name"),
        ({"n": 0}, "n must be >= 1"),
        ({"seed": -1}, "seed must be >= 0"),
        ({"query_budget": 0}, "query_budget must be >= 1"),
        ({"max_fraction": 0.0}, "max_fraction"),
    ],
)
def test_a_bad_attack_plan_is_refused(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        TextAttackPlan(**kwargs)  # type: ignore[arg-type]


def test_n_must_be_an_int() -> None:
    with pytest.raises(TypeError, match="n must be an int"):
        TextAttackPlan(n=2.5)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"recipes": ()}, "at least one"),
        ({"recipes": ("pwws", "pwws")}, "must not repeat"),
        ({"victims": ("tweets-nope",)}, "unknown text model"),
        ({"defenses": ("jpeg",)}, "unknown text defense"),
        ({"adversarial_recipes": ("nope",)}, "known recipes"),
        ({"encoder": False}, "needs the MiniLM encoder"),
        ({"defended": "hf:org/some-hf-model", "defenses": ("noise",)}, "offline victim"),
        ({"noise_std": 0.0}, "noise_std"),
        ({"n_minilm": 0}, "n_minilm must be >= 1"),
    ],
)
def test_a_bad_defenses_plan_is_refused(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        TextDefensesPlan(**kwargs)  # type: ignore[arg-type]


def test_a_run_on_a_stub_victim(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(experiment.names, "text_model", lambda name, **_: LexiconModel())
    plan = TextAttackPlan(model="tweets-bow", recipe="deepwordbug", n=6, query_budget=500)
    outcome = experiment.run(plan, encoder=StubEncoder())  # type: ignore[arg-type]
    assert isinstance(outcome, ExperimentResult)
    (row,) = outcome.rows()
    for key in ("clean accuracy", "success rate", "accuracy under attack"):
        assert isinstance(row[key], Rate) and 0.0 <= row[key].value <= 1.0
    assert row["clean accuracy"].total == row["accuracy under attack"].total == 6
    summary = outcome.summary
    assert row["success rate"].total == summary.succeeded + summary.failed
    record = outcome.to_dict()
    assert record["n"] == 6 and record["config"]["goal"]["query_budget"] == 500
    assert {"sanitized_accuracy", "sanitizer_flagged"} <= set(record)
    assert all(r.queries <= 500 for r in outcome.run.results)
    assert not math.isnan(outcome.numbers()["accuracy_under_attack"])
