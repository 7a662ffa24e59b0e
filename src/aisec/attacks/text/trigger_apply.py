"""A trigger phrase in use: where it goes in a text, how often it flips a classifier, and the
whole-word tokens a trigger search may choose from (:mod:`aisec.attacks.text.trigger` finds one).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np

from aisec.models.text import (
    BowClassifier,
    MiniLMClassifier,
    TextClassifier,
    TokenClassifier,
    check_texts,
)

__all__ = [
    "POSITIONS",
    "TriggerOutcome",
    "TriggerPosition",
    "apply_trigger",
    "trigger_success",
    "trigger_vocabulary",
]

TriggerPosition = Literal["start", "after-first-line"]
POSITIONS: tuple[str, ...] = ("start", "after-first-line")
"""Where a trigger goes: before the text, or as its own line after the first line."""

_WHOLE_WORD = re.compile(r"[a-z]+")
_MAX_TOKENS = 10
_EVAL_ROWS = 256  # rows per forward pass when candidates are evaluated


def _check_position(position: object) -> str:
    if position not in POSITIONS:
        raise ValueError(f"position must be one of {POSITIONS}, got {position!r}")
    return str(position)


def _check_phrase(phrase: object) -> str:
    if not isinstance(phrase, str):
        raise TypeError(f"phrase must be a str, got {type(phrase).__name__}")
    if not phrase.strip():
        raise ValueError("phrase must contain at least one non-space character")
    return phrase


def _insert(text: str, phrase: str, position: str) -> str:
    if position == "start":
        return f"{phrase} {text}"
    head, newline, tail = text.partition("\n")
    return f"{head}\n{phrase}\n{tail}" if newline else f"{text}\n{phrase}"


def _prefix(text: str, position: str) -> str:
    """The part of the triggered text that comes before the trigger."""
    if position == "start":
        return ""
    head, newline, _ = text.partition("\n")
    return f"{head}\n" if newline else f"{text}\n"


def apply_trigger(texts: Sequence[str], phrase: str, position: str = "start") -> list[str]:
    """Add a trigger phrase to every text.

    Args:
        texts: strings (see :func:`~aisec.models.text.check_texts`).
        phrase: the trigger, e.g. ``"sincerely regards thanks"``.
        position: ``"start"`` puts ``phrase + " "`` before the text; ``"after-first-line"``
            puts the phrase on a line of its own right after the first line (for an e-mail
            ``"Subject: ...\\n\\nbody"``: between the subject and the body), or on a new last
            line when the text has a single line.

    Returns:
        The triggered texts, in order.

    Raises:
        TypeError: ``texts`` is not a list of strings, or ``phrase`` is not a str.
        ValueError: empty phrase, or unknown position.
    """
    batch = check_texts(texts)
    phrase = _check_phrase(phrase)
    position = _check_position(position)
    return [_insert(text, phrase, position) for text in batch]


def _check_labels(labels: object, count: int, num_classes: int) -> list[int]:
    if isinstance(labels, str | bytes):
        raise TypeError("labels must be a sequence of ints")
    try:
        values = [int(v) for v in labels]  # type: ignore[attr-defined]
    except (TypeError, ValueError) as error:
        raise TypeError(f"labels must be a sequence of ints ({error})") from error
    if len(values) != count:
        raise ValueError(f"{count} texts but {len(values)} labels")
    bad = [v for v in values if not 0 <= v < num_classes]
    if bad:
        raise ValueError(f"labels must lie in [0, {num_classes}), got {bad[0]}")
    return values


def _check_target(target: object, num_classes: int) -> int:
    if isinstance(target, bool) or not isinstance(target, int | np.integer):
        raise TypeError(f"target must be an int class index, got {type(target).__name__}")
    if not 0 <= int(target) < num_classes:
        raise ValueError(f"target must lie in [0, {num_classes}), got {target}")
    return int(target)


@dataclass(frozen=True)
class TriggerOutcome:
    """How often a trigger moves a victim's predictions to the target class.

    Attributes:
        total: texts given.
        other_label: texts whose true label is the target (left out: nothing to flip).
        already_target: texts of another label that the victim already puts in the target
            class without the trigger (e.g. spam it misses; left out).
        n: the texts the trigger was tried on (``total - other_label - already_target``).
        flipped: those that the victim puts in the target class with the trigger.
        rate: ``flipped / n`` (``nan`` when ``n`` is 0).
        position: where the trigger was put.
        phrase: the trigger.
    """

    total: int
    other_label: int
    already_target: int
    n: int
    flipped: int
    rate: float
    position: str
    phrase: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary."""
        return asdict(self)


def trigger_success(
    model: TextClassifier,
    texts: Sequence[str],
    labels: Sequence[int],
    phrase: str,
    *,
    target: int,
    position: str = "start",
) -> TriggerOutcome:
    """The fraction of texts that a trigger moves to the target class, for any victim.

    Only ``predict_proba`` is used, so this measures transfer to black-box victims too (naive
    Bayes, logistic regression, a Hugging Face model). The texts counted are those whose label
    is not the target and that the victim does not already put in the target class (for a
    spam filter and ``target=0``: the spam it detects).

    Args:
        model: any :class:`~aisec.models.text.TextClassifier`.
        texts: strings.
        labels: their true classes.
        phrase: the trigger.
        target: the class the trigger aims at.
        position: see :func:`apply_trigger`.

    Returns:
        A :class:`TriggerOutcome`.

    Raises:
        TypeError: a victim without ``predict_proba``/``class_names``, or bad texts, labels,
            target or phrase types.
        ValueError: empty texts, mismatched labels, out-of-range labels or target, empty
            phrase, unknown position.
    """
    if not isinstance(model, TextClassifier):
        raise TypeError(
            "model must be a TextClassifier (class_names and predict_proba(texts)), got "
            f"{type(model).__name__}"
        )
    batch = check_texts(texts)
    if not batch:
        raise ValueError("texts must not be empty")
    num_classes = len(model.class_names)
    values = _check_labels(labels, len(batch), num_classes)
    target = _check_target(target, num_classes)
    phrase = _check_phrase(phrase)
    position = _check_position(position)
    candidates = [i for i, label in enumerate(values) if label != target]
    before = (
        model.predict_proba([batch[i] for i in candidates]).argmax(1).tolist() if candidates else []
    )
    attacked = [i for i, pred in zip(candidates, before, strict=True) if pred != target]
    flipped = 0
    if attacked:
        triggered = apply_trigger([batch[i] for i in attacked], phrase, position)
        flipped = int((model.predict_proba(triggered).argmax(1) == target).sum())
    return TriggerOutcome(
        total=len(batch),
        other_label=len(batch) - len(candidates),
        already_target=len(candidates) - len(attacked),
        n=len(attacked),
        flipped=flipped,
        rate=flipped / len(attacked) if attacked else float("nan"),
        position=position,
        phrase=phrase,
    )


def trigger_vocabulary(
    model: TokenClassifier, vocabulary: Mapping[str, int] | None = None
) -> dict[str, int]:
    """The whole-word candidate tokens of a victim: lower-case ASCII words and their ids.

    Args:
        model: the victim; :class:`~aisec.models.text.BowClassifier` and
            :class:`~aisec.models.text.MiniLMClassifier` know their vocabulary.
        vocabulary: word -> token id, required for any other victim (filtered the same way).

    Returns:
        ``{word: id}`` of the words made of ``a``-``z`` only.

    Raises:
        TypeError: another kind of victim and no ``vocabulary``.
        ValueError: no whole word is left.
    """
    if vocabulary is not None:
        source = dict(vocabulary)
    elif isinstance(model, BowClassifier):
        source = dict(model.index)
    elif isinstance(model, MiniLMClassifier):
        source = model.encoder.word_vectors()[0]
    else:
        raise TypeError(
            f"cannot tell the vocabulary of a {type(model).__name__}: pass vocabulary= "
            "(whole word -> token id) to UniversalTrigger.find"
        )
    words = {w: int(i) for w, i in source.items() if _WHOLE_WORD.fullmatch(w)}
    if not words:
        raise ValueError("the vocabulary has no whole lower-case word to build a trigger from")
    return words
