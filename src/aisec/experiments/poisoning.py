"""Poisoning by names: a plan (dataset, zoo recipe, attack, rate, target) in, a typed result out.

:func:`run` loads the plan's data and model recipe, builds the named attack and runs the loop
of :func:`aisec.evaluate.poisoning.run_poisoning` (poison, train a clean and a poisoned model,
measure, detect, remove the flagged samples, retrain, measure). A plan may add two cases that
reuse the run's clean model: the physical-style sticker on the stop sign, and a sweep of poison
rates. ``aisec poison``, the tour's "poisoning" chapter (its full and quick plans) and scripts
all run poisoning this way.

A plan is checked when it is made (names, classes, sizes, the recipe's dataset), so a bad plan
fails before any data is generated or any model trained.

References: Gu et al., "BadNets" (2017); Turner et al., "Label-Consistent Backdoor Attacks"
(2019); Tran et al., "Spectral Signatures in Backdoor Attacks" (NeurIPS 2018); Chen et al.,
"Detecting Backdoor Attacks on Deep Neural Networks by Activation Clustering" (2018).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor, nn

from aisec.attacks.poisoning import PoisoningAttack
from aisec.attacks.poisoning.base import check_rate
from aisec.evaluate.poisoning import (
    CLEAN_WITH,
    DETECTORS,
    PoisoningReport,
    run_poisoning,
    train_model,
)
from aisec.experiments import names
from aisec.experiments.base import check_int
from aisec.models import TrainConfig
from aisec.stats import Rate

if TYPE_CHECKING:
    from aisec.zoo import ModelSpec

__all__ = [
    "DATASETS",
    "PoisoningData",
    "PoisoningPlan",
    "PoisoningResult",
    "detection_rows",
    "load_data",
    "model_rows",
    "run",
    "sweep_rows",
]

DATASETS: dict[str, str] = {"signs": "signs-cnn", "digits": "digits-cnn"}
"""The datasets poisoning runs on, each with the zoo entry whose recipe it uses by default."""

STICKER_SOURCE = "stop"
"""The sign the sticker case paints its trigger on."""


@dataclass(frozen=True)
class PoisoningPlan:
    """Every setting of a poisoning run (see :func:`run`).

    Attributes:
        dataset: one of :data:`DATASETS` (``"signs"`` or ``"digits"``).
        model: the zoo entry whose architecture and training recipe are used (default: the
            dataset's, ``"signs-cnn"`` or ``"digits-cnn"``); it must be trained on ``dataset``
            with cross-entropy (not a robust variant: the loop trains every model with
            cross-entropy).
        train_n: training examples, a stratified subset of the recipe's training data
            (default all of it: 20,000 signs, the 1,347 digits of the train split).
        test_n: test examples (default the whole test split).
        epochs: training epochs (default the recipe's).
        seed: seeds the data, the subset, the models, the poisoned samples and the test-time
            trigger.
        attack: one of :data:`aisec.experiments.names.POISONING_ATTACKS`.
        rate: fraction of the training set to poison, in ``(0, 1)``.
        target: the backdoor's target class (name or label).
        source: a source class (source-specific BadNets; the sticker's sign, default "stop").
        detectors: the detectors to run, from :data:`aisec.evaluate.poisoning.DETECTORS`.
        clean_with: the detectors whose flags are removed before a retraining (one each; each
            one of ``detectors``); empty for no cleaning.
        expected_fraction: the detectors' bound ``ε`` on a class's poisoned share (default the
            poisoned share of the most-poisoned class, as the paper assumes).
        feature_layer: the module whose output the detectors read (default the model's
            ``penultimate``).
        sticker: also run the sticker on the stop sign (signs only) at ``rate`` against the same
            clean model (attack and detection, no cleaning).
        sweep_rates: also run ``attack`` at these rates against the same clean model (attack
            and detection, no cleaning); the main run stands for ``rate`` if it is among them.
    """

    dataset: str = "signs"
    model: str | None = None
    train_n: int | None = None
    test_n: int | None = None
    epochs: int | None = None
    seed: int = 0
    attack: str = "badnets"
    rate: float = 0.05
    target: str | int = "speed limit 30"
    source: str | int | None = None
    detectors: tuple[str, ...] = DETECTORS
    clean_with: tuple[str, ...] = CLEAN_WITH
    expected_fraction: float | None = None
    feature_layer: str | None = None
    sticker: bool = False
    sweep_rates: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        if self.dataset not in DATASETS:
            raise ValueError(
                f"unknown dataset {self.dataset!r} for poisoning; known: {list(DATASETS)}"
            )
        if self.attack not in names.POISONING_ATTACKS:
            raise ValueError(
                f"unknown attack {self.attack!r}; known attacks: {list(names.POISONING_ATTACKS)}"
            )
        check_rate(self.rate)
        check_int("seed", self.seed, 0)
        for field_name in ("train_n", "test_n", "epochs"):
            value = getattr(self, field_name)
            if value is not None:
                check_int(field_name, value, 1)
        classes = _class_names(self.dataset)
        names.resolve_class(self.target, classes)
        if self.source is not None:
            names.resolve_class(self.source, classes)
        if self.dataset != "signs" and (self.attack == "sticker" or self.sticker):
            raise ValueError("the sticker attack paints on traffic signs: use the signs dataset")
        if self.attack == "clean-label" and self.source is not None:
            raise ValueError("the clean-label attack poisons only the target class; drop source")
        for field_name in ("detectors", "clean_with", "sweep_rates"):
            value = getattr(self, field_name)
            if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
                raise TypeError(f"{field_name} must be a tuple, got {type(value).__name__}")
            object.__setattr__(self, field_name, tuple(value))
        unknown = [d for d in self.detectors if d not in DETECTORS]
        if unknown:
            raise ValueError(f"unknown detector(s) {unknown}; known detectors: {list(DETECTORS)}")
        for name in self.clean_with:
            if name not in self.detectors:
                raise ValueError(
                    f"clean_with={name!r} must be one of the detectors {list(self.detectors)}"
                )
        if self.expected_fraction is not None and not (
            isinstance(self.expected_fraction, (int, float))
            and not isinstance(self.expected_fraction, bool)
            and 0.0 < float(self.expected_fraction) <= 1.0
        ):
            raise ValueError(f"expected_fraction must be in (0, 1], got {self.expected_fraction!r}")
        for rate in self.sweep_rates:
            check_rate(rate)
        spec = _recipe(self.dataset, self.model)
        if self.feature_layer is not None:
            with torch.random.fork_rng(devices=[]):
                layers = dict(spec.build().named_modules())
            if self.feature_layer not in layers:
                raise ValueError(
                    f"model {spec.name!r} has no sub-module {self.feature_layer!r}; "
                    f"known: {sorted(name for name in layers if name)}"
                )

    @property
    def model_name(self) -> str:
        """The zoo entry whose recipe is used (``model`` or the dataset's default)."""
        return self.model or DATASETS[self.dataset]

    def setup(self) -> dict[str, Any]:
        """The data and recipe settings, as recorded in the result's ``training["setup"]``."""
        return {
            "dataset": self.dataset,
            "model": self.model,
            "train_n": self.train_n,
            "test_n": self.test_n,
            "epochs": self.epochs,
            "seed": self.seed,
        }


@dataclass(frozen=True)
class PoisoningData:
    """The data and model recipe of a plan (see :func:`load_data`).

    Attributes:
        x_train, y_train: ``(N, C, H, W)`` training images in ``[0, 1]`` and ``(N,)`` labels.
        x_test, y_test: ``(M, C, H, W)`` test images and ``(M,)`` labels.
        class_names: the dataset's class names.
        build: returns a fresh model of the recipe's architecture.
        config: the training recipe, with the plan's epochs and seed.
        model_name: the zoo entry the recipe comes from.
        recipe_train_examples: the size of the recipe's training set (before ``train_n``).
    """

    x_train: Tensor
    y_train: Tensor
    x_test: Tensor
    y_test: Tensor
    class_names: tuple[str, ...]
    build: Callable[[], nn.Module]
    config: TrainConfig
    model_name: str
    recipe_train_examples: int


@dataclass(frozen=True)
class PoisoningResult:
    """What :func:`run` measured.

    Attributes:
        plan: the plan that was run.
        model_name: the zoo entry whose recipe was trained.
        class_names: the dataset's class names.
        recipe_train_examples: the size of the recipe's training set (the plan may use fewer).
        report: the main run (attack, detection, cleaning), with its models and tensors.
        sticker: the sticker case, if the plan asked for it.
        sweep: one report per rate of ``plan.sweep_rates``, in order (the main report where
            the rate is ``plan.rate``).
    """

    plan: PoisoningPlan
    model_name: str
    class_names: tuple[str, ...]
    recipe_train_examples: int
    report: PoisoningReport
    sticker: PoisoningReport | None = None
    sweep: tuple[PoisoningReport, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """The main report's JSON (:meth:`PoisoningReport.to_dict`), what ``--out`` writes.

        Its ``training`` also records the zoo ``model`` and the plan's ``setup``
        (:meth:`PoisoningPlan.setup`); ``sticker`` and ``sweep`` hold those cases' reports
        when the plan ran them.
        """
        out = self.report.to_dict()
        out["training"] = dict(out["training"]) | {
            "model": self.model_name,
            "setup": self.plan.setup(),
        }
        if self.sticker is not None:
            out["sticker"] = self.sticker.to_dict()
        if self.sweep:
            out["sweep"] = [report.to_dict() for report in self.sweep]
        return out

    def rows(self) -> list[dict[str, Any]]:
        """The main table: each model of the main run (see :func:`model_rows`)."""
        return model_rows(self.report)

    def detection_rows(self) -> list[dict[str, Any]]:
        """Detection of the main run and the sticker case (see :func:`detection_rows`)."""
        reports = [self.report] + ([self.sticker] if self.sticker is not None else [])
        return detection_rows(*reports)

    def sweep_rows(self) -> list[dict[str, Any]]:
        """One row per rate of the sweep (see :func:`sweep_rows`)."""
        return sweep_rows(self.sweep)


def run(
    plan: PoisoningPlan,
    *,
    checkpoint_dir: str | Path | None = None,
    progress: bool = False,
) -> PoisoningResult:
    """Run the poisoning loop of ``plan``, then its sticker case and rate sweep.

    1. load the data and the recipe (:func:`load_data`);
    2. for the clean-label attack, train the clean model first (the attack perturbs against it);
    3. the main run: :func:`~aisec.evaluate.poisoning.run_poisoning` with the plan's attack,
       detectors and cleaning;
    4. with ``plan.sticker``: the sticker on the stop sign against the main run's clean model;
    5. each rate of ``plan.sweep_rates`` other than ``plan.rate``: the attack at that rate
       against the same clean model.

    Args:
        plan: the settings (checked when the plan was made).
        checkpoint_dir: when given, each training stage checkpoints there (keyed by its data),
            so an interrupted run resumes and a finished stage is loaded, not retrained.
        progress: show progress bars while training.

    Returns:
        A :class:`PoisoningResult`.
    """
    if not isinstance(plan, PoisoningPlan):
        raise TypeError(f"plan must be a PoisoningPlan, got {type(plan).__name__}")
    data = load_data(plan)
    train, test = (data.x_train, data.y_train), (data.x_test, data.y_test)
    common: dict[str, Any] = {
        "build_model": data.build,
        "train_config": data.config,
        "detectors": plan.detectors,
        "class_names": data.class_names,
        "dataset": plan.dataset,
        "feature_layer": plan.feature_layer,
        "checkpoint_dir": checkpoint_dir,
        "test_seed": plan.seed,
        "progress": progress,
    }
    clean_model = None
    if plan.attack == "clean-label":
        clean_model = train_model(
            data.build,
            data.x_train,
            data.y_train,
            data.config,
            stage="clean",
            checkpoint_dir=checkpoint_dir,
            progress=progress,
        )
    main = run_poisoning(
        _attack(plan, data, plan.attack, plan.rate, plan.source, clean_model),
        train,
        test,
        clean_model=clean_model,
        clean_with=plan.clean_with,
        expected_fraction=plan.expected_fraction,
        **common,
    )
    if main.artifacts is None:
        raise RuntimeError("run_poisoning returned a report without its models")
    clean_model = main.artifacts.models["clean"]
    sticker = None
    if plan.sticker:
        sticker = run_poisoning(
            _attack(plan, data, "sticker", plan.rate, STICKER_SOURCE, None),
            train,
            test,
            clean_model=clean_model,
            clean_with=None,
            **common,
        )
    sweep = tuple(
        main
        if rate == plan.rate
        else run_poisoning(
            _attack(plan, data, plan.attack, rate, plan.source, clean_model),
            train,
            test,
            clean_model=clean_model,
            clean_with=None,
            **common,
        )
        for rate in plan.sweep_rates
    )
    return PoisoningResult(
        plan=plan,
        model_name=data.model_name,
        class_names=data.class_names,
        recipe_train_examples=data.recipe_train_examples,
        report=main,
        sticker=sticker,
        sweep=sweep,
    )


def load_data(plan: PoisoningPlan) -> PoisoningData:
    """Load the data of ``plan`` and its model recipe.

    The training set is the zoo entry's training split (the same cached data the zoo model is
    trained on), then a stratified subset of ``plan.train_n`` (seeded); the test set is the
    test split, or a subset of ``plan.test_n``.

    Returns:
        A :class:`PoisoningData`.
    """
    from aisec.data import load

    spec = _recipe(plan.dataset, plan.model)
    config = spec.train_config
    if config is None:  # checked by the plan; kept for the type checker
        raise ValueError(f"model {spec.name!r} has no training recipe")
    if plan.epochs is not None:
        config = dataclasses.replace(config, epochs=plan.epochs)
    config = dataclasses.replace(config, seed=plan.seed)
    train = load(plan.dataset, "train", n=spec.train_n, seed=plan.seed)
    recipe_train_examples = len(train)
    if plan.train_n is not None and plan.train_n != len(train):
        train = train.subset(plan.train_n, seed=plan.seed)
    test = load(plan.dataset, "test", seed=plan.seed)
    if plan.test_n is not None and plan.test_n != len(test):
        test = test.subset(plan.test_n, seed=plan.seed)
    return PoisoningData(
        x_train=train.images,
        y_train=train.labels,
        x_test=test.images,
        y_test=test.labels,
        class_names=tuple(train.class_names),
        build=spec.build,
        config=config,
        model_name=plan.model_name,
        recipe_train_examples=recipe_train_examples,
    )


# -- rows -------------------------------------------------------------------------------------


def model_rows(report: PoisoningReport) -> list[dict[str, Any]]:
    """One row per model of a report: trained on clean data, on poisoned data, after cleaning.

    Keys: ``model trained on``, ``clean accuracy`` (of the clean test set), ``attack success``
    (of the triggered test images) and ``accuracy without trigger`` (the same images without
    it), each a :class:`~aisec.stats.Rate`.
    """
    models = [("clean data", report.clean_model), ("poisoned data", report.poisoned_model)]
    models += [(f"cleaned with {name}", metrics) for name, metrics in report.cleaning.items()]
    return [
        {
            "model trained on": name,
            "clean accuracy": Rate.from_fraction(metrics["clean_accuracy"], report.test_examples),
            "attack success": Rate.from_fraction(
                metrics["attack_success"], report.triggered_examples
            ),
            "accuracy without trigger": Rate.from_fraction(
                metrics["untriggered_accuracy"], report.triggered_examples
            ),
        }
        for name, metrics in models
    ]


def detection_rows(*reports: PoisoningReport) -> list[dict[str, Any]]:
    """One row per report and detector: ``precision`` and ``recall`` as rates, with counts,
    and the ``score AUC`` (how well the detector's scores rank the poisons in their class)."""
    return [
        {
            "attack": report.attack["attack"],
            "detector": name,
            "precision": Rate(int(metrics["true_positives"]), int(metrics["flagged"])),
            "recall": Rate(int(metrics["true_positives"]), int(metrics["poisoned"])),
            "flagged": int(metrics["flagged"]),
            "poisoned": int(metrics["poisoned"]),
            "score AUC": metrics.get("score_auc"),
        }
        for report in reports
        for name, metrics in report.detection.items()
    ]


def sweep_rows(reports: Sequence[PoisoningReport]) -> list[dict[str, Any]]:
    """One row per poison rate: accuracy of the clean and poisoned models, attack success and
    each detector's recall (``None`` for a detector that did not run)."""
    recalls = {
        "spectral recall": "spectral_signatures",
        "spectral recall (signed)": "spectral_signatures_signed",
        "spectral recall (gap)": "spectral_signatures_gap",
        "activation clustering recall": "activation_clustering",
    }
    rows = []
    for report in reports:
        row: dict[str, Any] = {
            "poison rate": report.poison_rate,
            "poisoned": report.poisoned_examples,
            "clean accuracy (clean model)": Rate.from_fraction(
                report.clean_model["clean_accuracy"], report.test_examples
            ),
            "clean accuracy (poisoned)": Rate.from_fraction(
                report.poisoned_model["clean_accuracy"], report.test_examples
            ),
            "attack success": Rate.from_fraction(
                report.poisoned_model["attack_success"], report.triggered_examples
            ),
        }
        for column, detector in recalls.items():
            metrics = report.detection.get(detector)
            row[column] = (
                None
                if metrics is None
                else Rate(int(metrics["true_positives"]), int(metrics["poisoned"]))
            )
        rows.append(row)
    return rows


# -- helpers ----------------------------------------------------------------------------------


def _attack(
    plan: PoisoningPlan,
    data: PoisoningData,
    name: str,
    rate: float,
    source: str | int | None,
    surrogate: nn.Module | None,
) -> PoisoningAttack:
    """The named attack on the plan's data (trigger size from the image size)."""
    return names.poisoning_attack(
        name,
        rate=rate,
        target=plan.target,
        source=source,
        class_names=data.class_names,
        image_size=data.x_train.shape[-1],
        channels=data.x_train.shape[1],
        surrogate=surrogate,
        seed=plan.seed,
    )


def _recipe(dataset: str, model: str | None) -> ModelSpec:
    """The zoo spec of ``model`` (default the dataset's), checked to be a recipe for it."""
    from aisec.zoo import model_spec

    name = model or DATASETS[dataset]
    spec = model_spec(name)
    if spec.train_config is None or spec.dataset != dataset:
        raise ValueError(
            f"model {name!r} is not a trainable recipe for {dataset!r}; use {DATASETS[dataset]!r}"
        )
    if spec.objective is not None:
        raise ValueError(
            f"model {name!r} is trained with its own objective (a robust variant); the poisoning "
            f"loop trains with cross-entropy: use {spec.variant_of or DATASETS[dataset]!r}"
        )
    return spec


def _class_names(dataset: str) -> tuple[str, ...]:
    """The class names of a poisoning dataset, known without loading it."""
    if dataset == "signs":
        from aisec.data.signs import SIGN_CLASSES

        return tuple(SIGN_CLASSES)
    return tuple(str(digit) for digit in range(10))
