"""Poisoning by names: plans are checked before anything loads, the sweep and the clean-label
attack share one clean model, the result's JSON keeps the documented ``--out`` keys, and the
command line turns a bad plan into exit code 2."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

import aisec.data
from aisec.cli import app
from aisec.evaluate.poisoning import PoisoningReport
from aisec.experiments.names import poisoning_attack, resolve_class
from aisec.experiments.poisoning import PoisoningPlan, run
from aisec.stats import Rate

DIGITS = PoisoningPlan(
    dataset="digits", target="7", test_n=100, detectors=("spectral_signatures",), clean_with=()
)


def test_a_sweep_shares_one_clean_model_and_keeps_the_documented_keys() -> None:
    plan = dataclasses.replace(DIGITS, train_n=400, epochs=1, rate=0.02, sweep_rates=(0.02, 0.1))
    result = run(plan)
    reports = result.sweep
    assert [r.poison_rate for r in reports] == [0.02, 0.1]
    assert [r.poisoned_examples for r in reports] == [8, 40]
    assert reports[0] is result.report
    assert reports[0].clean_model == reports[1].clean_model
    assert "clean_training" not in reports[1].seconds  # the sweep reused the clean model
    assert all(r.cleaning == {} and r.target == "7" for r in reports)

    data = json.loads(json.dumps(result.to_dict()))
    fields = {f.name for f in dataclasses.fields(PoisoningReport)} - {"artifacts"}
    assert set(data) == fields | {"sweep"}
    assert data["training"]["model"] == "digits-cnn"
    assert data["training"]["setup"] == {
        "dataset": "digits",
        "model": None,
        "train_n": 400,
        "test_n": 100,
        "epochs": 1,
        "seed": 0,
    }
    assert data["training"]["epochs"] == 1
    assert "training" in result.report.to_dict()  # the report itself is left as measured
    assert "setup" not in result.report.training

    rows = result.sweep_rows()
    assert [row["poisoned"] for row in rows] == [8, 40]
    assert rows[0]["activation clustering recall"] is None  # that detector did not run
    for row in rows + result.rows() + result.detection_rows():
        for value in row.values():
            if isinstance(value, Rate):
                assert 0.0 <= value.value <= 1.0 and value.total > 0


def test_the_clean_label_attack_perturbs_against_the_clean_model() -> None:
    plan = dataclasses.replace(DIGITS, attack="clean-label", train_n=200, epochs=1)
    result = run(plan)
    report = result.report
    assert report.attack["attack"] == "clean-label"
    assert report.artifacts is not None
    poisoned = report.artifacts.poisoned
    assert bool((poisoned.y[poisoned.indices] == 7).all())  # labels are never changed
    assert "clean_training" not in report.seconds  # trained first, as the surrogate


# -- bad plans --------------------------------------------------------------------------------


@pytest.fixture
def no_loading(monkeypatch: pytest.MonkeyPatch) -> None:
    def load(*args: object, **kwargs: object) -> None:
        raise AssertionError("data was loaded for a bad plan")

    monkeypatch.setattr(aisec.data, "load", load)


@pytest.mark.usefixtures("no_loading")
def test_unknown_names_and_classes_are_rejected_when_the_plan_is_made() -> None:
    with pytest.raises(ValueError, match="unknown class 'speed limit 31'; known classes"):
        PoisoningPlan(dataset="digits", target="speed limit 31")
    with pytest.raises(ValueError, match="unknown dataset 'cifar10'"):
        PoisoningPlan(dataset="cifar10")
    with pytest.raises(ValueError, match="unknown attack 'trojan'"):
        PoisoningPlan(attack="trojan")
    with pytest.raises(ValueError, match="not a trainable recipe for 'digits'"):
        dataclasses.replace(DIGITS, model="signs-cnn")
    with pytest.raises(ValueError, match="robust variant"):
        dataclasses.replace(DIGITS, model="digits-cnn-noise")
    with pytest.raises(ValueError, match="unknown model"):
        dataclasses.replace(DIGITS, model="resnet-9000")
    with pytest.raises(ValueError, match="use the signs dataset"):
        dataclasses.replace(DIGITS, attack="sticker")
    with pytest.raises(ValueError, match="drop source"):
        dataclasses.replace(DIGITS, attack="clean-label", source="3")
    with pytest.raises(ValueError, match="unknown detector"):
        dataclasses.replace(DIGITS, detectors=("strip",))
    with pytest.raises(ValueError, match="clean_with='activation_clustering' must be one of"):
        dataclasses.replace(DIGITS, clean_with=("activation_clustering",))
    with pytest.raises(ValueError, match="expected_fraction must be in"):
        dataclasses.replace(DIGITS, expected_fraction=1.5)
    with pytest.raises(TypeError, match="epochs must be an int"):
        dataclasses.replace(DIGITS, epochs=2.5)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="PoisoningPlan"):
        run("digits")  # type: ignore[arg-type]


@pytest.mark.usefixtures("no_loading")
@pytest.mark.parametrize("rate", [0.0, 1.0, 2.0])
def test_rates_outside_the_unit_interval_are_rejected(rate: float) -> None:
    with pytest.raises(ValueError, match="rate must be strictly between 0 and 1"):
        dataclasses.replace(DIGITS, rate=rate)
    with pytest.raises(ValueError, match="rate must be strictly between 0 and 1"):
        dataclasses.replace(DIGITS, sweep_rates=(0.01, rate))


def test_attack_names_resolve_in_one_place() -> None:
    classes = [str(i) for i in range(10)]
    with pytest.raises(ValueError, match="unknown attack 'trojan'"):
        poisoning_attack("trojan", rate=0.1, target=0, class_names=classes, image_size=8)
    with pytest.raises(ValueError, match="needs a surrogate"):
        poisoning_attack("clean-label", rate=0.1, target=0, class_names=classes, image_size=8)
    with pytest.raises(ValueError, match="use the signs dataset"):
        poisoning_attack("sticker", rate=0.1, target=0, class_names=classes, image_size=8)
    with pytest.raises(ValueError, match="class 12 does not exist"):
        resolve_class(12, classes)


@pytest.mark.usefixtures("no_loading")
@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--dataset", "digits"], "unknown class 'speed limit 30'"),
        (["--dataset", "digits", "--target", "0", "--rate", "2"], "rate must be strictly"),
        (["--dataset", "digits", "--target", "0", "--clean-with", "strip"], "clean_with='strip'"),
        (["--dataset", "cifar10"], "unknown dataset 'cifar10'"),
    ],
)
def test_the_command_line_rejects_a_bad_plan_with_exit_code_2(
    tmp_path: Path, options: list[str], message: str
) -> None:
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["poison", "--out", str(out), *options])
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.output.split())
    assert result.output.startswith("error:")
    assert not out.exists()
