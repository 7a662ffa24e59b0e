"""Names become objects here, and only here.

The command line, the tour's plans and the experiments name things with short strings: an
evasion attack (``"pgd"``, ``"apgd-t"``, ``"art:FastGradientMethod"``), a poisoning attack
(``"badnets"``) or a language-model backdoor (``"fixed-output"``), a preprocessing defense
(``"jpeg:75"``), a zoo model (``"signs-cnn"``) and its test data, a text victim
(``"tweets-bow"``), a language model (``"smollm2-135m-instruct"``) and a watermark seeding
(``"selfhash"``). Each resolver checks the name before anything is loaded and raises a
``ValueError`` that lists what is accepted. The loaders of models (:func:`zoo_model`,
:func:`text_model`, :func:`language_model`) are the seams tests replace with tiny models.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import Tensor, nn

from aisec.attacks.base import EvasionAttack
from aisec.attacks.evasion import APGD, FGSM, PGD, CarliniWagnerL2, SquareAttack
from aisec.attacks.poisoning import (
    BadNets,
    CleanLabel,
    DenialOfService,
    EntitySteering,
    FixedOutput,
    InstructionBackdoor,
    PoisoningAttack,
    StickerBackdoor,
    Trigger,
)
from aisec.attacks.poisoning.base import check_rate
from aisec.defenses.preprocess.base import Preprocessor
from aisec.defenses.preprocess.parse import DEFENSE_NAMES, DEFENSE_USAGE, parse_defense
from aisec.genai.watermark import SEEDING_SCHEMES, UnigramScheme, WatermarkScheme
from aisec.models.language import LanguageModel
from aisec.models.text import MiniLMEncoder, TextClassifier
from aisec.threat import ThreatModel

__all__ = [
    "ATTACK_NAMES",
    "DEFENSE_NAMES",
    "DEFENSE_USAGE",
    "LANGUAGE_MODEL_BACKDOORS",
    "POISONING_ATTACKS",
    "QUICK_SIGNS_MODEL",
    "SEEDINGS",
    "Task",
    "check_evasion_attack",
    "evasion_attack",
    "language_model",
    "language_model_backdoor",
    "load_task",
    "poisoning_attack",
    "preprocessing_defense",
    "preprocessing_stack",
    "quick_signs_model",
    "resolve_class",
    "task_data",
    "text_model",
    "watermark_scheme",
    "zoo_model",
]

ATTACK_NAMES = ("fgsm", "pgd", "apgd-ce", "apgd-dlr", "apgd-t", "square", "cw")
"""Evasion attacks by name (``"apgd"`` is an alias of ``"apgd-ce"``); ``art:CLASS`` and
``foolbox:CLASS`` name a library's attack."""

POISONING_ATTACKS = ("badnets", "sticker", "clean-label")
"""Poisoning attacks by name."""

LANGUAGE_MODEL_BACKDOORS: dict[str, Callable[[], InstructionBackdoor]] = {
    "fixed-output": FixedOutput,
    "entity-steering": EntitySteering,
    "denial-of-service": DenialOfService,
}
"""Backdoors of a language model's fine-tuning data by name (each with its paper's trigger)."""


def language_model_backdoor(name: str) -> InstructionBackdoor:
    """The named language-model backdoor with its paper's trigger and target behaviour."""
    if name not in LANGUAGE_MODEL_BACKDOORS:
        raise ValueError(
            f"unknown language-model attack {name!r}; known: {list(LANGUAGE_MODEL_BACKDOORS)}"
        )
    return LANGUAGE_MODEL_BACKDOORS[name]()


QUICK_SIGNS_MODEL = "quick:signs-cnn"
"""A signs model name the physical experiment accepts besides the zoo's: a small classifier
trained on the fly (3,000 scenes, 5 epochs) with the plan's seed, not cached
(:func:`quick_signs_model`). Numbers measured on it say how the pipeline behaves, not how robust
the zoo's ``signs-cnn`` is."""

SEEDINGS = (*SEEDING_SCHEMES, "unigram")
"""Watermark seeding names :func:`watermark_scheme` accepts."""


def check_evasion_attack(name: str) -> str:
    """The canonical lower-case name of an evasion attack; ``ValueError`` for an unknown one.

    Library names (``art:CLASS``, ``foolbox:CLASS``) are returned as given: they are checked
    when the library is imported, by :func:`evasion_attack`.
    """
    if not isinstance(name, str):
        raise TypeError(f"an attack name must be a string, got {type(name).__name__}")
    if ":" in name:
        return name
    key = name.lower()
    key = "apgd-ce" if key == "apgd" else key
    if key not in ATTACK_NAMES:
        raise ValueError(f"unknown attack {name!r}; choose one of {', '.join(ATTACK_NAMES)}")
    return key


def evasion_attack(
    name: str, threat: ThreatModel, *, steps: int | None = None, seed: int = 0
) -> EvasionAttack:
    """An evasion attack by name with its published defaults.

    Args:
        name: one of :data:`ATTACK_NAMES` (case-insensitive; ``"apgd"`` means APGD-CE), or
            ``art:CLASS`` / ``foolbox:CLASS`` for an ART or Foolbox attack run through
            :mod:`aisec.integrations` (needs ``aisec[art]`` / ``aisec[foolbox]``).
        threat: the threat model.
        steps: overrides the iteration budget: PGD/APGD steps, Square queries, C&W iterations
            per binary-search step (FGSM has none).
        seed: seed of the randomized attacks.

    Returns:
        The configured attack.

    Raises:
        ValueError: for an unknown name or a norm the attack does not support.
    """
    key = check_evasion_attack(name)
    if ":" in key:
        from aisec.integrations.registry import make_library_attack

        return make_library_attack(key, threat, steps=steps, seed=seed)

    def budget(parameter: str) -> dict[str, Any]:
        return {} if steps is None else {parameter: steps}

    if key == "fgsm":
        return FGSM(threat)
    if key == "pgd":
        return PGD(threat, seed=seed, **budget("steps"))
    if key in ("apgd-ce", "apgd-dlr", "apgd-t"):
        loss: Literal["ce", "dlr"] = "ce" if key == "apgd-ce" else "dlr"
        targets = 9 if key == "apgd-t" else 0
        return APGD(threat, loss=loss, n_target_classes=targets, seed=seed, **budget("steps"))
    if key == "square":
        return SquareAttack(threat, seed=seed, **budget("n_queries"))
    return CarliniWagnerL2(threat, **budget("max_iterations"))


def preprocessing_defense(spec: str, *, seed: int = 0, bpda: bool = False) -> Preprocessor:
    """A preprocessing defense from a spec such as ``"jpeg:75"`` (see :data:`DEFENSE_USAGE`)."""
    return parse_defense(spec, seed=seed, bpda=bpda)


def preprocessing_stack(
    spec: str, *, seed: int = 0, bpda: bool = False
) -> tuple[Preprocessor, ...]:
    """Preprocessing defenses stacked with ``+`` (``"jpeg:75+bits:4"``), applied in order."""
    if not isinstance(spec, str):
        raise TypeError(f"a defense must be a spec string such as 'jpeg:75', got {spec!r}")
    return tuple(parse_defense(part, seed=seed, bpda=bpda) for part in spec.split("+"))


def resolve_class(value: str | int, class_names: Sequence[str]) -> int:
    """The label of a class given by name or label; ``ValueError`` listing the names otherwise."""
    if isinstance(value, str):
        if value in class_names:
            return list(class_names).index(value)
        if value.isdigit() and int(value) < len(class_names):
            return int(value)
        known = ", ".join(repr(c) for c in class_names)
        raise ValueError(f"unknown class {value!r}; known classes: {known}")
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"a class must be a name or a label, got {type(value).__name__}")
    if not 0 <= value < len(class_names):
        raise ValueError(f"class {value} does not exist: labels are in [0, {len(class_names) - 1}]")
    return value


def poisoning_attack(
    name: str,
    *,
    rate: float,
    target: str | int,
    class_names: Sequence[str],
    image_size: int,
    channels: int = 3,
    source: str | int | None = None,
    surrogate: Callable[[Tensor], Tensor] | None = None,
    trigger_size: int | None = None,
    seed: int = 0,
) -> PoisoningAttack:
    """A poisoning attack by name, with the defaults the CLI and the tour use.

    Args:
        name: one of :data:`POISONING_ATTACKS`.
        rate: fraction of the training set to poison, in ``(0, 1)``.
        target: the target class (name or label).
        class_names: the dataset's class names.
        image_size: side of the images (sets the default trigger size, ``max(2, H // 8)``).
        channels: image channels.
        source: source class of a source-specific attack (the sticker attack defaults to
            ``"stop"``).
        surrogate: the clean model a clean-label attack perturbs against (required for it).
        trigger_size: side of the pixel trigger (BadNets, clean-label).
        seed: seeds the choice of poisoned samples.

    Returns:
        The configured :class:`~aisec.attacks.poisoning.PoisoningAttack`.
    """
    if name not in POISONING_ATTACKS:
        raise ValueError(f"unknown attack {name!r}; known attacks: {list(POISONING_ATTACKS)}")
    check_rate(rate)
    target_label = resolve_class(target, class_names)
    source_label = None if source is None else resolve_class(source, class_names)
    size = trigger_size if trigger_size is not None else max(2, image_size // 8)
    trigger = Trigger.checkerboard(size, channels=channels)
    num_classes = len(class_names)
    if name == "badnets":
        return BadNets(
            trigger,
            target=target_label,
            num_classes=num_classes,
            rate=rate,
            source=source_label,
            seed=seed,
        )
    if name == "sticker":
        from aisec.data.signs import SIGN_CLASSES

        if tuple(class_names) != SIGN_CLASSES:
            raise ValueError("the sticker attack paints on traffic signs: use the signs dataset")
        return StickerBackdoor(
            source="stop" if source_label is None else source_label,
            target=target_label,
            rate=rate,
            seed=seed,
        )
    if surrogate is None:
        raise ValueError("the clean-label attack needs a surrogate model to perturb against")
    if source_label is not None:
        raise ValueError("the clean-label attack poisons only the target class; drop source")
    return CleanLabel(
        surrogate, trigger, target=target_label, num_classes=num_classes, rate=rate, seed=seed
    )


def quick_signs_model(seed: int) -> nn.Module:
    """:data:`QUICK_SIGNS_MODEL`: a SmallCNN trained on 3,000 sign scenes (5 epochs), eval mode."""
    from aisec.data import load as load_data
    from aisec.data.signs import SIGN_CLASSES
    from aisec.models import SmallCNN, TrainConfig, train_classifier

    data = load_data("signs", "train", n=3_000, seed=seed)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = SmallCNN(3, len(SIGN_CLASSES), widths=(16, 32, 64), hidden=64)
    config = TrainConfig(epochs=5, batch_size=128, lr=4e-3, seed=seed)
    train_classifier(model, data.images, data.labels, config, progress=False)
    return model.eval()


def zoo_model(name: str) -> nn.Module:
    """The zoo model ``name`` in eval mode (trained and cached on first use).

    This is the one place where experiments and the command line load a model by name, so
    tests replace this function to run them on a tiny model.
    """
    from aisec.zoo import load

    return load(name).eval()


@dataclass(frozen=True)
class Task:
    """A zoo model with test data to attack.

    Attributes:
        model_name: the zoo name.
        model: the model (eval mode).
        x: ``(n, C, H, W)`` test images in ``[0, 1]``.
        y: ``(n,)`` labels.
        class_names: a name per class.
    """

    model_name: str
    model: nn.Module
    x: Tensor
    y: Tensor
    class_names: tuple[str, ...]


def task_data(model: str, *, n: int, seed: int = 0) -> tuple[Tensor, Tensor, tuple[str, ...]]:
    """``n`` test examples of a zoo model's dataset (fewer if the set is smaller), unloaded model.

    ``signs-cnn`` (and its variants) get ``n`` procedural test signs, ``digits-cnn`` a
    class-balanced subset of the digits test split, ``efficientnet-lite0`` the bundled ImageNet
    photos.

    Returns:
        ``(x, y, class_names)``: ``(n, C, H, W)`` images in ``[0, 1]``, ``(n,)`` labels.

    Raises:
        ValueError: for an unknown model or ``n < 1`` (checked before anything loads).
    """
    from aisec.data import load as load_data
    from aisec.zoo import model_spec

    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be an int >= 1, got {n!r}")
    spec = model_spec(model)
    if spec.dataset == "signs":
        data = load_data("signs", "test", n=n, seed=seed)
    else:
        data = load_data(spec.dataset, "test")
        data = data.subset(min(n, len(data)), seed=seed)
    return data.images, data.labels, tuple(data.class_names)


def load_task(model: str, *, n: int, seed: int = 0) -> Task:
    """Load a zoo model and ``n`` test examples of its dataset (see :func:`task_data`).

    Raises:
        ValueError: for an unknown model or ``n < 1`` (checked before anything loads).
    """
    x, y, class_names = task_data(model, n=n, seed=seed)
    return Task(model, zoo_model(model), x, y, class_names)


def text_model(
    name: str, *, encoder: MiniLMEncoder | None = None, progress: bool = False
) -> TextClassifier:
    """The text classifier ``name``: an offline victim (``tweets-*``, ``spam-*``) or ``hf:...``.

    The offline victims are trained on first use and cached; MiniLM victims share ``encoder``
    when one is given. A Hugging Face classifier needs the ``hf:`` prefix and is loaded offline
    only (a local folder, or a hub name already in the local Hugging Face cache); any other
    name raises ``ValueError`` listing the offline names, without a network request.
    """
    from aisec.zoo import load_text_model

    if name.endswith("-minilm") and not name.startswith("hf:") and encoder is not None:
        return load_text_model(name, encoder=encoder, progress=progress)
    return load_text_model(name, progress=progress)


def language_model(name: str) -> LanguageModel:
    """The causal language model ``name``: ``"smollm2-135m-instruct"`` or ``"hf:FOLDER_OR_NAME"``.

    A Hugging Face model is loaded offline only (a local folder, or a hub name already in the
    local Hugging Face cache); any other name raises ``ValueError`` listing the offline names.
    """
    from aisec.models.language import load_language_model

    return load_language_model(name)


def watermark_scheme(
    vocab_size: int, *, gamma: float, delta: float, seeding: str, key: int
) -> WatermarkScheme | UnigramScheme:
    """A watermark scheme by seeding name: one of :data:`SEEDINGS`.

    Args:
        vocab_size: the tokenizer's vocabulary size.
        gamma: the green-list fraction.
        delta: the green logit bias.
        seeding: ``"simple_1"``, ``"selfhash"`` (Kirchenbauer et al.) or ``"unigram"`` (Zhao
            et al., a fixed green list).
        key: the secret key.

    Raises:
        ValueError: an unknown seeding or bad parameters (listing what is accepted).
    """
    if seeding not in SEEDINGS:
        raise ValueError(f"unknown seeding {seeding!r}; expected one of {list(SEEDINGS)}")
    if seeding == "unigram":
        return UnigramScheme(vocab_size, gamma=gamma, delta=delta, key=key)
    return WatermarkScheme(vocab_size, gamma=gamma, delta=delta, seeding=seeding, key=key)
