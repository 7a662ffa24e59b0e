"""`aisec sanitize`, `aisec text-attack` argument errors, and the --out report files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from text_stubs import LexiconModel, StubEncoder
from typer.testing import CliRunner

from aisec.attacks.text import deepwordbug
from aisec.cli import app
from aisec.experiments import text as experiment
from aisec.experiments.text_defenses import TextDefensesPlan
from aisec.report.text import write_attack_report

runner = CliRunner()


def test_sanitize_prints_clean_text_and_findings() -> None:
    result = runner.invoke(app, ["sanitize", "p\u0430yp\u0430l is gre\u200bat"])
    assert result.exit_code == 0, result.output
    assert "paypal is great" in result.output
    assert "confusables" in result.output and "invisible" in result.output
    plain = runner.invoke(app, ["sanitize", "hello"])
    assert plain.exit_code == 0 and "no findings" in plain.output


def test_text_attack_rejects_bad_arguments() -> None:
    result = runner.invoke(app, ["text-attack", "--recipe", "nope", "--model", "tweets-bow"])
    assert result.exit_code == 2 and "known recipes" in result.output
    result = runner.invoke(app, ["text-attack", "--recipe", "pwws", "--n", "0"])
    assert result.exit_code == 2 and "--n" in result.output
    result = runner.invoke(
        app, ["text-attack", "--recipe", "pwws", "--model", "tweets-bow", "--search", "nope"]
    )
    assert result.exit_code == 2 and "unknown search" in result.output
    result = runner.invoke(app, ["text-attack", "--recipe", "pwws", "--model", "tweets-nope"])
    assert result.exit_code == 2 and "unknown text model" in result.output


def test_report_files_have_the_documented_keys(tmp_path: Path) -> None:
    model = LexiconModel()
    run = deepwordbug().run(model, ["a good movie today", "a bad day"], [1, 0])
    paths = write_attack_report(
        run, tmp_path, model="stub", seed=0, class_names=model.class_names, extra={"x": 1}
    )
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert {"recipe", "model", "n", "seed", "summary", "config", "x"} <= set(metrics)
    assert {
        "success_rate",
        "accuracy_under_attack",
        "mean_queries",
        "mean_words_changed_pct",
        "mean_similarity",
        "clean_accuracy",
        "mean_gradients",
    } <= set(metrics["summary"])
    markdown = (tmp_path / "examples.md").read_text()
    assert "~~good~~" in markdown
    assert "<del>good</del>" in (tmp_path / "examples.html").read_text()
    assert all(p.exists() for p in paths)


def test_text_attack_prints_rows_and_writes_the_documented_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    victims: list[str] = []

    def victim(name: str, **_: object) -> LexiconModel:
        victims.append(name)
        return LexiconModel()

    monkeypatch.setattr(experiment.names, "text_model", victim)
    monkeypatch.setattr(experiment, "_encoder_or_none", StubEncoder)
    out = tmp_path / "run"
    args = ["text-attack", "--model", "tweets-bow", "--recipe", "bad_characters", "--n", "6"]
    result = runner.invoke(app, [*args, "--seed", "1", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert victims == ["tweets-bow"]
    assert "success rate" in result.output and "metrics.json" in result.output
    metrics = json.loads((out / "metrics.json").read_text())
    assert {"recipe", "model", "n", "seed", "summary", "config", "search"} <= set(metrics)
    assert {"sanitized_accuracy", "sanitizer_flagged"} <= set(metrics)
    assert (metrics["model"], metrics["recipe"], metrics["n"], metrics["seed"]) == (
        "tweets-bow",
        "bad_characters",
        6,
        1,
    )
    assert metrics["summary"]["examples"] == 6
    for name in ("examples.md", "examples.html", "results.json"):
        assert (out / name).stat().st_size > 0


def test_text_attack_on_the_users_own_texts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``--data csv:FILE``: the user's texts and labels (class names) are what is attacked."""
    from aisec.experiments import names

    table = tmp_path / "reviews.csv"
    table.write_text(
        "review,stars\n"
        "a good movie today,positive\n"
        "what a bad day,negative\n"
        "good food and good friends,positive\n"
    )
    queried: set[str] = set()
    model = LexiconModel()
    original = model.predict_proba

    def recording(texts: list[str], batch_size: int = 256) -> object:
        queried.update(texts)
        return original(texts, batch_size)

    monkeypatch.setattr(model, "predict_proba", recording)
    monkeypatch.setattr(names, "text_model", lambda name, **_: model)
    monkeypatch.setattr(experiment, "MiniLMEncoder", StubEncoder)
    args = ["text-attack", "--model", "tweets-bow", "--recipe", "deepwordbug", "--n", "3"]
    args += ["--data", f"csv:{table}", "--text-column", "review", "--label-column", "stars"]
    result = runner.invoke(app, [*args, "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert metrics["n"] == 3
    assert {"a good movie today", "what a bad day", "good food and good friends"} <= queried
    assert metrics["summary"]["clean_accuracy"] == 1.0  # labels mapped by class name


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ("imagefolder:photos", "texts come from csv:FILE or jsonl:FILE"),
        ("csv:{tmp}/missing.csv", "does not exist"),
    ],
)
def test_text_attack_refuses_data_that_is_not_a_text_table(
    tmp_path: Path, data: str, message: str
) -> None:
    args = ["text-attack", "--model", "tweets-bow", "--data", data.format(tmp=tmp_path)]
    result = runner.invoke(app, [*args, "--out", str(tmp_path / "out")])
    assert result.exit_code == 2 and message in result.output
    assert not (tmp_path / "out").exists()


def test_text_attack_on_spam_writes_words_added(tmp_path: Path) -> None:
    """`aisec text-attack --dataset spam --recipe good-words`: test spam, goal ham."""
    out = tmp_path / "run"
    result = runner.invoke(
        app,
        [
            "text-attack",
            "--dataset",
            "spam",
            "--model",
            "spam-nb",
            "--recipe",
            "good-words-passive",
            "--n",
            "3",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["dataset"] == "spam" and metrics["model"] == "spam-nb" and metrics["n"] == 3
    assert {"success_rate", "mean_words_added"} <= set(metrics["summary"])
    assert 0 <= metrics["ham_false_positive_rate"] <= 1
    assert metrics["config"]["constraints"][-1] == {"constraint": "MaxWordsAdded", "max_words": 10}
    assert "**+" in (out / "examples.md").read_text() or metrics["summary"]["succeeded"] == 0


def test_the_spam_default_victim_and_mismatches() -> None:
    result = runner.invoke(app, ["text-attack", "--dataset", "spam", "--model", "tweets-bow"])
    assert result.exit_code == 2 and "classifies tweets, not spam" in result.output
    result = runner.invoke(app, ["text-attack", "--model", "spam-nb"])
    assert result.exit_code == 2 and "classifies spam, not tweets" in result.output
    with pytest.raises(ValueError, match="a spam filter"):
        TextDefensesPlan(victims=("spam-nb",), encoder=False, recipes=("pwws",))
    with pytest.raises(ValueError, match="attacks tweets"):
        TextDefensesPlan(encoder=False, recipes=("good-words",))
