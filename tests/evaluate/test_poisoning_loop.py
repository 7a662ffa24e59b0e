"""The poisoning loop on objects, on a small, fast configuration (digits, a narrow CNN, 10
epochs): the backdoor works while clean accuracy holds, detection finds the poisons, cleaning
removes the backdoor; reports serialise, runs resume from checkpoints, bad input fails clearly.
The loop by names (plans) is tested in ``tests/experiments/test_poisoning_experiment.py``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from aisec.attacks.poisoning import BadNets, Trigger
from aisec.data import ImageDataset
from aisec.data import load as load_data
from aisec.evaluate.poisoning import PoisoningReport, run_poisoning, train_model
from aisec.models import SmallCNN, TrainConfig

CONFIG = TrainConfig(epochs=10, batch_size=64, lr=3e-3, seed=0)


def _small_cnn() -> SmallCNN:
    return SmallCNN(1, 10, widths=(16, 32), hidden=64)


@pytest.fixture(scope="module")
def digits() -> tuple[ImageDataset, ImageDataset]:
    return load_data("digits", "train"), load_data("digits", "test")


@pytest.fixture(scope="module")
def report(digits: tuple[ImageDataset, ImageDataset]) -> PoisoningReport:
    train, test = digits
    attack = BadNets(Trigger.checkerboard(2, channels=1), target=0, num_classes=10, rate=0.05)
    return run_poisoning(
        attack,
        (train.images, train.labels),
        (test.images, test.labels),
        build_model=_small_cnn,
        train_config=CONFIG,
        class_names=train.class_names,
        dataset="digits",
        feature_layer="head.1",  # the pooled convolutional features of the 8×8 model
        # The signed score with the paper's budget: on this small model the target class's
        # scores show no trough, so the gap selection (the default cleaner) flags nothing here.
        clean_with=("spectral_signatures_signed", "activation_clustering"),
    )


def test_backdoor_works_and_clean_accuracy_holds(report: PoisoningReport) -> None:
    assert report.poisoned_examples == round(0.05 * report.train_examples)
    assert report.clean_model["attack_success"] <= 0.1  # the trigger alone does nothing
    assert report.poisoned_model["attack_success"] >= 0.85
    gap = report.clean_model["clean_accuracy"] - report.poisoned_model["clean_accuracy"]
    assert abs(gap) <= 0.03
    assert report.poisoned_model["clean_accuracy"] >= 0.9


def test_detection_recovers_most_poisons_and_cleaning_removes_the_backdoor(
    report: PoisoningReport,
) -> None:
    assert set(report.detection) == {
        "spectral_signatures",
        "spectral_signatures_signed",
        "spectral_signatures_gap",
        "activation_clustering",
    }
    assert report.detection["spectral_signatures_signed"]["recall"] >= 0.8
    assert report.detection["spectral_signatures"]["recall"] >= 0.5
    # The gap selection flags a subset of the budget's flags (the same scores, a smaller cut).
    assert report.artifacts is not None
    detections = report.artifacts.detections
    gap = detections["spectral_signatures_gap"].flagged
    assert not bool((gap & ~detections["spectral_signatures_signed"].flagged).any())
    for info in detections["spectral_signatures_gap"].per_class.values():
        assert (info["valley"] <= 0.85) == (info["flagged"] > 0)
    assert set(report.cleaning) == {"spectral_signatures_signed", "activation_clustering"}
    for name, cleaned in report.cleaning.items():
        assert cleaned["poisoned_removed"] + cleaned["poisoned_left"] == report.poisoned_examples
        assert cleaned["train_examples"] == report.train_examples - cleaned["removed"]
        assert cleaned["removed"] == report.detection[name]["flagged"]
    spectral = report.cleaning["spectral_signatures_signed"]
    assert spectral["attack_success"] <= 0.5 * report.poisoned_model["attack_success"]
    # Scores that see the poisons rank them above the clean samples of their class.
    assert report.detection["spectral_signatures_signed"]["score_auc"] >= 0.9


def test_report_serialises_with_the_documented_keys(report: PoisoningReport) -> None:
    data = json.loads(json.dumps(report.to_dict()))
    for key in ("poison_rate", "clean_model", "poisoned_model", "detection", "cleaning"):
        assert key in data
    assert "artifacts" not in data
    assert data["target"] == "0"
    for name in ("clean_accuracy", "attack_success"):
        assert 0.0 <= data["poisoned_model"][name] <= 1.0
    for metrics in data["detection"].values():
        assert set(metrics) == {
            "precision",
            "recall",
            "flagged",
            "poisoned",
            "true_positives",
            "score_auc",
            "per_class",
        }
        assert 0.0 <= metrics["score_auc"] <= 1.0
        assert set(metrics["per_class"]) == {str(c) for c in range(10)}
    assert report.artifacts is not None
    for name, detection in report.artifacts.detections.items():  # what each detector measured
        assert data["detection"][name]["per_class"] == {
            str(label): info for label, info in detection.per_class.items()
        }
    assert set(report.artifacts.models) == {
        "clean",
        "poisoned",
        "cleaned:spectral_signatures_signed",
        "cleaned:activation_clustering",
    }
    assert set(data["cleaning"]["activation_clustering"]) >= {"clean_accuracy", "attack_success"}
    assert torch.equal(
        report.artifacts.poisoned.indices.sort().values, report.artifacts.poisoned.indices
    )


def test_training_stages_resume_from_checkpoints(
    digits: tuple[ImageDataset, ImageDataset], tmp_path: Path
) -> None:
    train, test = digits
    attack = BadNets(Trigger.checkerboard(2, channels=1), target=3, num_classes=10, rate=0.05)
    config = TrainConfig(epochs=2, batch_size=64, lr=3e-3, seed=0)

    def run() -> PoisoningReport:
        return run_poisoning(
            attack,
            (train.images, train.labels),
            (test.images, test.labels),
            build_model=_small_cnn,
            train_config=config,
            detectors=(),
            clean_with=None,
            checkpoint_dir=tmp_path,
        )

    first = run()
    stages = sorted(path.name.split("-")[0] for path in tmp_path.iterdir())
    assert stages == ["clean", "poisoned"]  # one directory per stage, keyed by its data
    saved = {path: path.stat().st_mtime_ns for path in tmp_path.rglob("*.safetensors")}
    second = run()
    # The finished stages were loaded, not trained again: no checkpoint was rewritten.
    assert {path: path.stat().st_mtime_ns for path in tmp_path.rglob("*.safetensors")} == saved
    assert first.poisoned_model == second.poisoned_model
    assert first.clean_model == second.clean_model


def test_train_model_starts_every_stage_from_the_same_weights(
    digits: tuple[ImageDataset, ImageDataset],
) -> None:
    train, _ = digits
    config = TrainConfig(epochs=1, batch_size=64, lr=3e-3, seed=3)
    state = torch.random.get_rng_state()
    first = train_model(_small_cnn, train.images[:128], train.labels[:128], config)
    assert torch.equal(torch.random.get_rng_state(), state)  # the global RNG is restored
    second = train_model(_small_cnn, train.images[:128], train.labels[:128], config)
    assert not first.training
    for a, b in zip(first.state_dict().values(), second.state_dict().values(), strict=True):
        assert torch.equal(a, b)


# -- bad input --------------------------------------------------------------------------------


def test_bad_loop_arguments_are_rejected(digits: tuple[ImageDataset, ImageDataset]) -> None:
    train, test = digits
    attack = BadNets(target=0, num_classes=10, rate=0.05)
    common = {"build_model": _small_cnn, "train_config": CONFIG}
    with pytest.raises(ValueError, match="unknown detector"):
        run_poisoning(
            attack,
            (train.images, train.labels),
            (test.images, test.labels),
            detectors=("strip",),
            **common,
        )  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="clean_with='activation_clustering' must be one of"):
        run_poisoning(
            attack,
            (train.images, train.labels),
            (test.images, test.labels),
            detectors=("spectral_signatures",),
            clean_with="activation_clustering",
            **common,
        )  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="mismatched lengths"):
        run_poisoning(
            attack, (train.images, train.labels[:-1]), (test.images, test.labels), **common
        )  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="PoisoningAttack"):
        run_poisoning(
            "badnets",
            (train.images, train.labels),
            (test.images, test.labels),  # type: ignore[arg-type]
            **common,
        )  # type: ignore[arg-type]
