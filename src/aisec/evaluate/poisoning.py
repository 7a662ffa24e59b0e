"""The data-poisoning loop: poison -> train -> measure -> detect -> remove -> retrain -> measure.

:func:`run_poisoning` runs the whole loop for one attack on given data and a model recipe
(tensors, a model factory, a training recipe: no names, no files apart from optional training
checkpoints). :mod:`aisec.experiments.poisoning` runs it from names (dataset, zoo recipe, attack,
target class) for the command line, the tour and scripts. Every result is a
:class:`PoisoningReport` whose :meth:`~PoisoningReport.to_dict` is JSON-serialisable.

Measurements:

* **clean accuracy**: top-1 accuracy on the clean test set;
* **attack success rate**: the fraction of triggered test images the backdoor acts on (for
  all-to-one, those whose true label is not the target) that the model classifies as the
  backdoor's target — measured for the poisoned model, for a model trained on clean data (the
  baseline: how often the trigger alone flips the prediction) and after cleaning;
* **detection**: precision and recall of each detector's flags against the known poisoned
  indices, on the poisoned model's penultimate activations of the poisoned training set.

Spectral signatures need the defender's bound ``ε`` on the poisoned fraction of a class (they
flag ``1.5·ε`` of *every* class). Unless it is given, ``ε`` is the poisoned share of
the most-poisoned class — the paper's assumption that the defender knows ``ε`` — which makes
spectral signatures remove many clean samples when the share is large (it is 38% of the target
class for a 5% all-to-one poison of 12 balanced classes); their precision shows the cost.
``spectral_signatures_gap`` spends that budget only in a class whose scores split into two
populations, and there removes only the upper one. By default the loop cleans twice, once with
the flags of ``spectral_signatures_gap`` and once with those of activation clustering, and
retrains after each, so the cost of removing clean samples is measured next to the benefit of
removing poisons.

References: Gu et al., "BadNets" (2017); Tran et al., "Spectral Signatures in Backdoor
Attacks" (NeurIPS 2018); Chen et al., "Detecting Backdoor Attacks on Deep Neural Networks by
Activation Clustering" (2018).
"""

from __future__ import annotations

import dataclasses
import hashlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from aisec.attacks.poisoning import PoisoningAttack, PoisonResult, TriggeredSet
from aisec.attacks.poisoning.base import check_dataset
from aisec.defenses.detect import (
    BackdoorDetection,
    activation_clustering,
    detection_metrics,
    penultimate_features,
    roc_auc,
    spectral_signatures,
)
from aisec.models import TrainConfig, accuracy, train_classifier

__all__ = [
    "CLEAN_WITH",
    "DETECTORS",
    "ModelMetrics",
    "PoisoningArtifacts",
    "PoisoningReport",
    "poison_score_auc",
    "run_poisoning",
    "train_model",
]

DETECTORS: tuple[str, ...] = (
    "spectral_signatures",
    "spectral_signatures_signed",
    "spectral_signatures_gap",
    "activation_clustering",
)
"""The detectors the loop runs: Tran et al.'s spectral signatures with the paper's squared
score; the same with a signed score (the projection on the top singular vector, oriented towards
the class's minority side; robust when poisons fill a large share of the class); the signed
score flagging only a class whose scores split into two populations, and there only the top one
(``select="gap"``: the budget is not spent on clean classes); and Chen et al.'s activation
clustering."""
CLEAN_WITH: tuple[str, ...] = ("spectral_signatures_gap", "activation_clustering")
"""The detectors whose flags the loop removes by default, one retraining each."""


@dataclass(frozen=True)
class ModelMetrics:
    """What one trained model does on clean and triggered test images.

    Attributes:
        clean_accuracy: top-1 accuracy on the clean test set.
        attack_success: fraction of triggered test images classified as the backdoor target.
        untriggered_accuracy: accuracy on the same test images without the trigger (for the
            sticker attack: clean scenes of the source sign).
    """

    clean_accuracy: float
    attack_success: float
    untriggered_accuracy: float


@dataclass
class PoisoningArtifacts:
    """The tensors and models behind a report (not serialised)."""

    poisoned: PoisonResult
    triggered: TriggeredSet
    models: dict[str, nn.Module]
    detections: dict[str, BackdoorDetection]


@dataclass
class PoisoningReport:
    """The outcome of one run of the poisoning loop; :meth:`to_dict` gives the JSON keys.

    Attributes:
        dataset: the dataset's name (``"custom"`` when tensors were passed in).
        attack: the attack's settings (``attack``, ``rate``, ``seed``, trigger parameters...).
        target: the backdoor's target class name (``None`` for all-to-all).
        source: the source class name of a source-specific attack, else ``None``.
        poison_rate: the fraction of the training set that was poisoned (requested).
        poisoned_examples: how many training samples were poisoned.
        train_examples: size of the training set.
        test_examples: size of the clean test set.
        triggered_examples: how many triggered test images the attack success is measured on.
        clean_model: :class:`ModelMetrics` of the model trained on clean data (as a dict).
        poisoned_model: the same for the model trained on the poisoned data.
        detection: per detector, ``precision``, ``recall``, ``flagged``, ``poisoned`` and
            ``true_positives`` of its flags against the poisoned indices, and ``score_auc``
            (:func:`poison_score_auc`: how well its scores rank the poisons, whatever the cut;
            absent when no class holds both poisons and clean samples), and ``per_class``: what
            the detector measured in each class (keyed by the label as a string; e.g. the
            valley of the gap selection, the silhouette of activation clustering's split).
        expected_fraction: the ``ε`` given to the detectors.
        cleaning: per detector used for cleaning: ``removed`` samples, ``poisoned_removed``,
            ``poisoned_left``, the cleaned ``train_examples``, and the retrained model's
            ``clean_accuracy``, ``attack_success`` and ``untriggered_accuracy``; empty without
            cleaning.
        training: the training recipe (the fields of :class:`~aisec.models.TrainConfig`).
        seconds: wall time of each stage and the ``total``.
        artifacts: tensors and models for figures and further analysis (not serialised).
    """

    dataset: str
    attack: dict[str, Any]
    target: str | None
    source: str | None
    poison_rate: float
    poisoned_examples: int
    train_examples: int
    test_examples: int
    triggered_examples: int
    clean_model: dict[str, float]
    poisoned_model: dict[str, float]
    detection: dict[str, dict[str, Any]]
    expected_fraction: float | None
    cleaning: dict[str, dict[str, Any]]
    training: dict[str, Any]
    seconds: dict[str, float]
    artifacts: PoisoningArtifacts | None = field(default=None, repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        """Every field except ``artifacts``, as JSON-serialisable values."""
        return {
            f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "artifacts"
        }


def run_poisoning(
    attack: PoisoningAttack,
    train: tuple[Tensor, Tensor],
    test: tuple[Tensor, Tensor],
    *,
    build_model: Callable[[], nn.Module],
    train_config: TrainConfig,
    clean_model: nn.Module | None = None,
    detectors: Sequence[str] = DETECTORS,
    clean_with: str | Sequence[str] | None = CLEAN_WITH,
    expected_fraction: float | None = None,
    class_names: Sequence[str] | None = None,
    dataset: str = "custom",
    feature_layer: str | None = None,
    checkpoint_dir: str | Path | None = None,
    test_seed: int = 0,
    progress: bool = False,
) -> PoisoningReport:
    """Run the full poisoning loop for one attack.

    1. train a model on the clean data (unless ``clean_model`` is given);
    2. poison the training set and train a model on it (same initialisation and order);
    3. measure clean accuracy and attack success of both;
    4. run the ``detectors`` on the poisoned model's penultimate activations;
    5. for each detector in ``clean_with``: remove its flagged samples, retrain, measure.

    Args:
        attack: the poisoning attack (its ``rate`` and ``seed`` decide the poisoned samples).
        train: ``(images (N, C, H, W) in [0, 1], labels (N,))`` clean training data.
        test: ``(images (M, C, H, W), labels (M,))`` clean test data.
        build_model: returns a fresh, untrained model; called under
            ``torch.manual_seed(train_config.seed)`` (the global RNG is restored afterwards),
            so every model of the run starts from the same weights.
        train_config: the training recipe (see :func:`aisec.models.train_classifier`).
        clean_model: a model already trained on the clean data with this recipe (skips
            step 1; e.g. the surrogate of a clean-label attack).
        detectors: names from :data:`DETECTORS`.
        clean_with: the detector(s) whose flags are removed before retraining (one retraining
            each; each one of ``detectors``), or ``None`` to skip cleaning.
        expected_fraction: the detectors' ``ε``; default the poisoned share of the
            most-poisoned class (see the module docstring).
        class_names: names of the classes, for the report.
        dataset: the dataset's name, for the report.
        feature_layer: the module whose output the detectors use (default the model's
            ``penultimate``).
        checkpoint_dir: when given, each training stage checkpoints there (in a sub-directory
            named after a hash of its data), so an interrupted run resumes.
        test_seed: randomness of the test-time trigger (scenes of the sticker attack).
        progress: show progress bars while training.

    Returns:
        A :class:`PoisoningReport` (with :attr:`~PoisoningReport.artifacts`).
    """
    if not isinstance(attack, PoisoningAttack):
        raise TypeError(f"attack must be a PoisoningAttack, got {type(attack).__name__}")
    x_train, y_train = check_dataset(*train, attack.num_classes)
    x_test, y_test = check_dataset(*test, attack.num_classes)
    unknown = [d for d in detectors if d not in DETECTORS]
    if unknown:
        raise ValueError(f"unknown detector(s) {unknown}; known detectors: {list(DETECTORS)}")
    cleaners = _cleaners(clean_with)
    for name in cleaners:
        if name not in detectors:
            raise ValueError(f"clean_with={name!r} must be one of the detectors {list(detectors)}")
    if expected_fraction is not None and not 0.0 < float(expected_fraction) <= 1.0:
        raise ValueError(f"expected_fraction must be in (0, 1], got {expected_fraction!r}")
    seconds: dict[str, float] = {}
    began = time.perf_counter()

    def fit(stage: str, x: Tensor, y: Tensor) -> nn.Module:
        start = time.perf_counter()
        model = train_model(
            build_model,
            x,
            y,
            train_config,
            stage=stage,
            checkpoint_dir=checkpoint_dir,
            progress=progress,
        )
        seconds[f"{stage}_training"] = time.perf_counter() - start
        return model

    if clean_model is None:
        clean_model = fit("clean", x_train, y_train)
    start = time.perf_counter()
    poisoned = attack.poison(x_train, y_train)
    triggered = attack.triggered(x_test, y_test, seed=test_seed)
    seconds["poisoning"] = time.perf_counter() - start
    poisoned_model = fit("poisoned", poisoned.x, poisoned.y)
    models = {"clean": clean_model, "poisoned": poisoned_model}

    start = time.perf_counter()
    if expected_fraction is None:
        expected_fraction = _largest_poisoned_share(poisoned)
    detections: dict[str, BackdoorDetection] = {}
    if detectors:
        features = penultimate_features(poisoned_model, poisoned.x, layer=feature_layer)
        for name in detectors:
            detections[name] = _detect(name, features, poisoned.y, expected_fraction, attack.seed)
    seconds["detection"] = time.perf_counter() - start

    truth = torch.zeros(poisoned.y.shape[0], dtype=torch.bool, device=poisoned.y.device)
    truth[poisoned.indices] = True
    cleaning: dict[str, dict[str, Any]] = {}
    for name in cleaners:
        flagged = detections[name].flagged.to(truth.device)
        keep = ~flagged
        if not bool(keep.any()):
            raise ValueError(f"{name} flagged every training sample; nothing to retrain on")
        cleaned_model = fit(f"cleaned_{name}", poisoned.x[keep], poisoned.y[keep])
        models[f"cleaned:{name}"] = cleaned_model
        cleaning[name] = {
            "removed": int(flagged.sum()),
            "poisoned_removed": int((flagged & truth).sum()),
            "poisoned_left": int((keep & truth).sum()),
            "train_examples": int(keep.sum()),
        } | _measure(cleaned_model, x_test, y_test, triggered)
    seconds["total"] = time.perf_counter() - began

    names = list(class_names) if class_names is not None else None
    target = getattr(attack, "target", None)
    if getattr(attack, "mode", "all-to-one") == "all-to-all":
        target = None
    source = getattr(attack, "source", None)
    return PoisoningReport(
        dataset=dataset,
        attack=attack.describe(),
        target=_class_name(target, names),
        source=_class_name(source, names),
        poison_rate=attack.rate,
        poisoned_examples=int(poisoned.indices.numel()),
        train_examples=int(y_train.shape[0]),
        test_examples=int(y_test.shape[0]),
        triggered_examples=len(triggered),
        clean_model=_measure(clean_model, x_test, y_test, triggered),
        poisoned_model=_measure(poisoned_model, x_test, y_test, triggered),
        detection={
            name: detection_metrics(d.flagged, poisoned.indices).to_dict()
            | _score_auc(d.scores, poisoned)
            | {"per_class": _per_class(d)}
            for name, d in detections.items()
        },
        expected_fraction=float(expected_fraction),
        cleaning=cleaning,
        training=dataclasses.asdict(train_config),
        seconds={k: round(v, 2) for k, v in seconds.items()},
        artifacts=PoisoningArtifacts(poisoned, triggered, models, detections),
    )


def train_model(
    build_model: Callable[[], nn.Module],
    x: Tensor,
    y: Tensor,
    config: TrainConfig,
    *,
    stage: str = "model",
    checkpoint_dir: str | Path | None = None,
    progress: bool = False,
) -> nn.Module:
    """Train a fresh model of the recipe on ``(x, y)``, as every stage of the loop does.

    The model is built under ``torch.manual_seed(config.seed)`` (the global RNG is restored
    afterwards), so models trained with one recipe start from the same weights and see the
    batches in the same order; only their data differ.

    Args:
        build_model: returns a fresh, untrained model.
        x: ``(N, C, H, W)`` training images in ``[0, 1]``.
        y: ``(N,)`` int64 labels.
        config: the training recipe (see :func:`aisec.models.train_classifier`).
        stage: the stage's name (``"clean"``, ``"poisoned"``...), for the progress bar and the
            checkpoint directory.
        checkpoint_dir: when given, training checkpoints under
            ``checkpoint_dir/STAGE-HASH`` (a hash of the data, architecture and recipe), so an
            interrupted run resumes and a finished stage is loaded, not retrained.
        progress: show a progress bar.

    Returns:
        The trained model, in eval mode.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        model = build_model()
    directory = None
    if checkpoint_dir is not None:
        digest = hashlib.sha256()
        digest.update(x.detach().cpu().contiguous().numpy().tobytes())
        digest.update(y.detach().cpu().contiguous().numpy().tobytes())
        digest.update(repr((type(model).__name__, dataclasses.asdict(config))).encode())
        directory = Path(checkpoint_dir) / f"{stage}-{digest.hexdigest()[:16]}"
    train_classifier(
        model,
        x,
        y,
        config,
        checkpoint_dir=directory,
        progress=progress,
        description=f"training the {stage} model",
    )
    return model.eval()


def _cleaners(clean_with: str | Sequence[str] | None) -> list[str]:
    if clean_with is None:
        return []
    names = [clean_with] if isinstance(clean_with, str) else list(clean_with)
    unknown = [name for name in names if name not in DETECTORS]
    if unknown:
        raise ValueError(f"unknown detector(s) {unknown} in clean_with; known: {list(DETECTORS)}")
    return names


def _measure(model: nn.Module, x: Tensor, y: Tensor, triggered: TriggeredSet) -> dict[str, float]:
    return dataclasses.asdict(
        ModelMetrics(
            clean_accuracy=accuracy(model, x, y),
            attack_success=accuracy(model, triggered.x, triggered.targets),
            untriggered_accuracy=accuracy(model, triggered.clean, triggered.y),
        )
    )


def _detect(
    name: str, features: Tensor, labels: Tensor, expected_fraction: float, seed: int
) -> BackdoorDetection:
    if name == "spectral_signatures":
        return spectral_signatures(features, labels, expected_fraction=expected_fraction)
    if name in ("spectral_signatures_signed", "spectral_signatures_gap"):
        return spectral_signatures(
            features,
            labels,
            expected_fraction=expected_fraction,
            score="signed",
            select="gap" if name == "spectral_signatures_gap" else "budget",
        )
    return activation_clustering(features, labels, seed=seed)


def poison_score_auc(scores: Tensor, poisoned: PoisonResult) -> float | None:
    """How well a detector's scores rank the poisons above the clean samples of their class.

    The ROC AUC of the scores of the poisons against those of the clean samples carrying the
    same (poisoned) label, pooled over the poisoned classes (each class's pairs only: scores
    are comparable within a class). 1.0: every poison outscores every clean sample of its
    class; 0.5: the score does not see them. A detector that misses the poisons with an AUC
    near 0.5 cannot be rescued by a larger budget; one with a high AUC only needs a better cut.

    Returns:
        The AUC, or ``None`` when no class holds both poisons and clean samples.
    """
    labels = poisoned.y.cpu()
    truth = torch.zeros(labels.shape[0], dtype=torch.bool)
    truth[poisoned.indices.cpu()] = True
    scores = scores.detach().cpu()
    wins, pairs = 0.0, 0
    for label in labels[truth].unique().tolist():
        members = labels == label
        positive, negative = scores[members & truth], scores[members & ~truth]
        if positive.numel() and negative.numel():
            count = positive.numel() * negative.numel()
            wins += roc_auc(negative, positive) * count
            pairs += count
    return wins / pairs if pairs else None


def _per_class(detection: BackdoorDetection) -> dict[str, dict[str, Any]]:
    """The detector's per-class findings, JSON-ready: numbers, flags and notes only."""
    return {
        str(label): {
            key: value for key, value in info.items() if isinstance(value, (bool, int, float, str))
        }
        for label, info in detection.per_class.items()
    }


def _score_auc(scores: Tensor, poisoned: PoisonResult) -> dict[str, float]:
    """``{"score_auc": AUC}``, or nothing when no class holds both poisons and clean samples."""
    auc = poison_score_auc(scores, poisoned)
    return {} if auc is None else {"score_auc": auc}


def _largest_poisoned_share(poisoned: PoisonResult) -> float:
    """The largest fraction of poisoned samples among the (poisoned) classes."""
    labels = poisoned.y.cpu()
    counts = torch.bincount(labels)
    hits = torch.bincount(labels[poisoned.indices.cpu()], minlength=counts.numel())
    share = hits.double() / counts.clamp_min(1).double()
    return float(share.max())


def _class_name(label: int | None, names: list[str] | None) -> str | None:
    if label is None:
        return None
    return names[label] if names is not None else str(label)
