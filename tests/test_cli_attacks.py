"""The ``aisec attack`` and ``aisec evaluate`` commands on the small digits model."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from aisec.cli import app

runner = CliRunner()

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
EPS = 0.1
N = 16


def _text(output: str) -> str:
    """The output with rich's line wrapping undone (whitespace runs become one space)."""
    return " ".join(output.split())


def test_attack_prints_the_table_and_writes_json_and_png(tmp_path: Path) -> None:
    out = tmp_path / "pgd"
    args = ["attack", "--model", "digits-cnn", "--attack", "pgd", "--eps", str(EPS)]
    result = runner.invoke(app, [*args, "--n", str(N), "--steps", "5", "--out", str(out)])
    assert result.exit_code == 0, result.output
    text = _text(result.output)
    for label in (
        "clean accuracy",
        "robust accuracy",
        "success rate",
        "mean linf norm",
        "max linf norm",
        "time (s)",
        "model forward passes",
        "model backward passes",
    ):
        assert label in text
    assert re.search(rf"\d+\.\d% \(\d+/{N}\)", text), text  # rates with their sample size

    record = json.loads((out / "attack.json").read_text())
    assert record["model"] == "digits-cnn"
    assert record["attack"] == "PGD" and record["attack_config"].startswith("PGD(")
    assert record["threat"] == {"norm": "linf", "eps": EPS, "bounds": [0.0, 1.0]}
    assert record["n"] == N and record["targeted"] is False
    for key in ("y", "clean_pred", "adv_pred", "success", "norms"):
        assert len(record[key]) == N, key
    # The summary agrees with the per-example lists it was computed from.
    adv_correct = [p == t for p, t in zip(record["adv_pred"], record["y"], strict=True)]
    clean_correct = [p == t for p, t in zip(record["clean_pred"], record["y"], strict=True)]
    assert record["robust_accuracy"] == pytest.approx(sum(adv_correct) / N)
    assert record["clean_accuracy"] == pytest.approx(sum(clean_correct) / N)
    assert record["robust_accuracy"] <= record["clean_accuracy"]
    assert max(record["norms"]) <= EPS + 1e-6
    assert record["max_norm"] == pytest.approx(max(record["norms"]))
    # PGD with 5 steps: one clean pass, 5 gradient steps (forward + backward each), at most
    # one final check.
    assert record["backwards"] == 5
    assert 6 <= record["forwards"] <= 7
    assert (out / "attack.png").read_bytes()[:8] == PNG_MAGIC


def test_attack_with_l2_cw_keeps_the_norm_bound(tmp_path: Path) -> None:
    args = ["attack", "--model", "digits-cnn", "--attack", "cw", "--norm", "l2", "--eps", "0.5"]
    result = runner.invoke(app, [*args, "--n", "8", "--steps", "10", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    record = json.loads((tmp_path / "attack.json").read_text())
    assert record["threat"]["norm"] == "l2"
    assert max(record["norms"]) <= 0.5 + 1e-6
    assert "cw_norms" in record and len(record["cw_norms"]) == 8


def test_evaluate_prints_the_stages_and_writes_json_and_png(tmp_path: Path) -> None:
    out = tmp_path / "eval"
    # A large budget, so that the later attacks (Square: 5,000 queries) have little left to do.
    args = ["evaluate", "--model", "digits-cnn", "--eps", "0.3", "--n", str(N)]
    result = runner.invoke(app, [*args, "--out", str(out)])
    assert result.exit_code == 0, result.output
    text = _text(result.output)
    assert re.search(rf"worst-case robust accuracy \d+\.\d% \(\d+/{N}\)", text), text
    for name in ("clean", "APGD-CE", "APGD-T", "Square"):
        assert name in text

    record = json.loads((out / "evaluation.json").read_text())
    assert record["model"] == "digits-cnn"
    assert record["threat"] == {"norm": "linf", "eps": 0.3, "bounds": [0.0, 1.0]}
    assert record["n"] == N
    assert [stage["attack"] for stage in record["stages"]] == ["APGD-CE", "APGD-T", "Square"]
    for key in ("robust", "y", "clean_pred", "adv_pred"):
        assert len(record[key]) == N, key
    assert isinstance(record["warnings"], list) and record["time_s"] > 0
    # Worst case per example: robust means correct on the clean input and on x_adv.
    correct = sum(p == t for p, t in zip(record["clean_pred"], record["y"], strict=True))
    assert record["clean_accuracy"] == pytest.approx(correct / N)
    assert record["robust_accuracy"] == pytest.approx(sum(record["robust"]) / N)
    # Each attack runs only on the points every earlier attack failed on.
    still = correct
    for stage in record["stages"]:
        assert stage["attacked"] == still
        still -= stage["broken"]
        assert stage["robust_accuracy"] == pytest.approx(still / N)
    assert still == sum(record["robust"])
    assert (out / "evaluation.png").read_bytes()[:8] == PNG_MAGIC


@pytest.mark.parametrize("command", ["attack", "evaluate"])
@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--eps", "abc", "eps must be a number or a fraction"),
        ("--eps=", "-1/255", "eps must be finite and >= 0"),
        ("--model", "resnet-9000", "known models"),
        ("--norm", "l7", "norm must be one of"),
    ],
)
def test_bad_input_is_a_clear_error(
    tmp_path: Path, command: str, option: str, value: str, message: str
) -> None:
    out = tmp_path / "out"
    option_args = [option + value] if option.endswith("=") else [option, value]
    args = [command, "--model", "digits-cnn", "--n", "4", *option_args, "--out", str(out)]
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert "error" in result.output and message in _text(result.output)
    assert not out.exists()


def test_negative_eps_as_a_separate_argument_is_rejected() -> None:
    result = runner.invoke(app, ["attack", "--model", "digits-cnn", "--eps", "-0.1", "--n", "4"])
    assert result.exit_code == 2, result.output
    assert "eps must be finite and >= 0" in _text(result.output)


def test_unknown_attack_is_a_clear_error(tmp_path: Path) -> None:
    args = ["attack", "--model", "digits-cnn", "--attack", "deepfool", "--n", "4"]
    result = runner.invoke(app, [*args, "--out", str(tmp_path / "out")])
    assert result.exit_code == 2, result.output
    text = _text(result.output)
    assert "unknown attack 'deepfool'" in text and "pgd" in text and "square" in text
    assert not (tmp_path / "out").exists()


def test_attack_rejects_a_norm_the_attack_does_not_support() -> None:
    args = ["attack", "--model", "digits-cnn", "--attack", "square", "--norm", "l2", "--n", "4"]
    result = runner.invoke(app, [*args, "--eps", "0.5"])
    assert result.exit_code == 2, result.output
    assert "Square supports the norms" in _text(result.output)


def test_attack_stores_its_shards_and_a_rerun_resumes(tmp_path: Path) -> None:
    out = tmp_path / "square"
    args = ["attack", "--model", "digits-cnn", "--attack", "square", "--eps", str(EPS)]
    args += ["--n", str(N), "--steps", "50", "--batch-size", "8", "--out", str(out)]
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    assert "shard 2/2: 16 of 16 examples" in _text(first.output)
    record = json.loads((out / "attack.json").read_text())
    assert record["execution"]["executor"] == "serial"
    assert (record["execution"]["computed"], record["execution"]["resumed"]) == (2, 0)
    assert len(list((out / "shards").rglob("*.safetensors"))) == 2
    second = runner.invoke(app, args)
    assert second.exit_code == 0, second.output
    again = json.loads((out / "attack.json").read_text())
    assert (again["execution"]["computed"], again["execution"]["resumed"]) == (0, 2)
    for key in ("success", "adv_pred", "norms", "robust_accuracy"):
        assert again[key] == record[key], key
