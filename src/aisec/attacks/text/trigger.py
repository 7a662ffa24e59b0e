"""Universal adversarial triggers: one short phrase that pushes most inputs to a target class.

A trigger is a phrase of a few words added to *every* input (here: at the start of the text, or
as a line of its own after an e-mail's subject line). It is found once, with the victim's
gradients, on a batch of texts that the victim does not put in the target class; afterwards it
is plain text that anyone can paste, and that can be tried on other victims (transfer).

The search follows Wallace et al.: start from a neutral trigger (``"the the the"``); at each
iteration draw a seeded batch, take the gradient ``g_i`` of the batch's mean cross-entropy
towards the target with respect to the input embedding of each trigger token, rank every
vocabulary word ``v`` by the first-order (HotFlip) estimate of the loss decrease
``-(e_v - e_current) · g_i``, evaluate the top candidates of each position exactly on the
batch, and keep the best one (greedy, positions left to right, one gradient per iteration).

Candidates are whole-word tokens only (lower-case ASCII letters: the MiniLM WordPiece
vocabulary's whole words, or a bag-of-words model's vocabulary), so the trigger is a readable
phrase whose words tokenize back to exactly the searched ids; the search checks this on every
batch and raises if it ever fails. Replacements are evaluated at token level (ids swapped in
place), which that check makes identical to encoding the edited texts.

Reference: Wallace, Feng, Kandpal, Gardner, Singh, "Universal Adversarial Triggers for
Attacking and Analyzing NLP", EMNLP 2019; Ebrahimi, Rao, Lowd, Dou, "HotFlip: White-Box
Adversarial Examples for Text Classification", ACL 2018.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from aisec.attacks.text.gradient import require_token_classifier
from aisec.attacks.text.trigger_apply import (
    _EVAL_ROWS,
    _MAX_TOKENS,
    _WHOLE_WORD,
    POSITIONS,
    TriggerOutcome,
    _check_labels,
    _check_position,
    _check_target,
    _prefix,
    apply_trigger,
    trigger_success,
    trigger_vocabulary,
)
from aisec.models.text import (
    TextClassifier,
    TokenClassifier,
    check_texts,
)

__all__ = [
    "POSITIONS",
    "TriggerOutcome",
    "TriggerSearch",
    "UniversalTrigger",
    "apply_trigger",
    "trigger_success",
    "trigger_vocabulary",
]


@dataclass(frozen=True)
class TriggerSearch:
    """The result of :meth:`UniversalTrigger.find`.

    Attributes:
        tokens: the trigger's words.
        token_ids: their token ids in the victim's vocabulary.
        phrase: the words joined by spaces (what :func:`apply_trigger` inserts).
        target: the class aimed at.
        position: where the trigger goes.
        initial_loss: the mean cross-entropy towards the target of the initial trigger on the
            first batch.
        losses: the batch loss after each iteration (each iteration draws a new batch).
        searched: texts searched on (label not the target, not already predicted as target).
        excluded: texts left out (label is the target, or already predicted as target).
        flipped: searched texts that the victim puts in the target with the final trigger.
        success: ``flipped / searched``.
        gradients: texts whose gradient was taken (one forward and backward pass each).
        forwards: texts evaluated by forward passes without gradients.
        seconds: wall-clock time of the search.
        num_tokens, iterations, candidates, batch_size, seed, init_word: the settings.
        vocabulary_size: candidate words per position.
    """

    tokens: tuple[str, ...]
    token_ids: tuple[int, ...]
    phrase: str
    target: int
    position: str
    initial_loss: float
    losses: tuple[float, ...]
    searched: int
    excluded: int
    flipped: int
    success: float
    gradients: int
    forwards: int
    seconds: float
    num_tokens: int
    iterations: int
    candidates: int
    batch_size: int
    seed: int
    init_word: str
    vocabulary_size: int

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary."""
        return asdict(self)


def _positive_int(name: str, value: object, low: int = 1, high: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value < low or (high is not None and value > high):
        bound = f"in [{low}, {high}]" if high is not None else f">= {low}"
        raise ValueError(f"{name} must be {bound}, got {value}")
    return int(value)


@contextmanager
def _quiet_truncation() -> Iterator[None]:
    """Silence the victim's truncation warnings: the search attacks what its window reads."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*were truncated", category=UserWarning)
        yield


class UniversalTrigger:
    """Search a universal adversarial trigger with a white-box victim's gradients.

    Cost per iteration: one gradient on ``batch_size`` texts, then ``num_tokens *
    candidates * batch_size`` texts evaluated; plus one forward pass over the given texts (to
    leave out those already in the target) and one over the searched texts (final success).

    Args:
        num_tokens: trigger length in words, 1..10.
        iterations: batches drawn; each updates every position once (greedily, left to right).
        candidates: top words per position (by the first-order estimate) evaluated exactly.
        batch_size: texts per batch (fewer when fewer texts are searched).
        position: ``"start"`` or ``"after-first-line"`` (see :func:`apply_trigger`).
        seed: seeds the batches (``np.random.default_rng``).
        init_word: the initial trigger is this word repeated (Wallace et al.: ``"the"``).

    Raises:
        TypeError, ValueError: invalid settings.

    Reference: Wallace, Feng, Kandpal, Gardner, Singh, "Universal Adversarial Triggers for
    Attacking and Analyzing NLP", EMNLP 2019.
    """

    def __init__(
        self,
        num_tokens: int = 3,
        *,
        iterations: int = 3,
        candidates: int = 8,
        batch_size: int = 16,
        position: str = "start",
        seed: int = 0,
        init_word: str = "the",
    ) -> None:
        self.num_tokens = _positive_int("num_tokens", num_tokens, 1, _MAX_TOKENS)
        self.iterations = _positive_int("iterations", iterations)
        self.candidates = _positive_int("candidates", candidates)
        self.batch_size = _positive_int("batch_size", batch_size)
        self.position = _check_position(position)
        self.seed = _positive_int("seed", seed, 0)
        if not isinstance(init_word, str) or not _WHOLE_WORD.fullmatch(init_word):
            raise ValueError(f"init_word must be one lower-case word (a-z), got {init_word!r}")
        self.init_word = init_word

    def describe(self) -> dict[str, Any]:
        """The settings, JSON-ready."""
        return {
            "num_tokens": self.num_tokens,
            "iterations": self.iterations,
            "candidates": self.candidates,
            "batch_size": self.batch_size,
            "position": self.position,
            "seed": self.seed,
            "init_word": self.init_word,
        }

    def find(
        self,
        model: TextClassifier,
        texts: Sequence[str],
        labels: Sequence[int],
        *,
        target: int,
        vocabulary: Mapping[str, int] | None = None,
        progress: bool = False,
    ) -> TriggerSearch:
        """Find a trigger that moves the victim's predictions on ``texts`` to ``target``.

        Args:
            model: a white-box victim (:class:`~aisec.models.text.TokenClassifier`); it is put
                in eval mode and its previous mode is restored. No gradients are stored in its
                parameters.
            texts: the attacker's texts (e.g. spam).
            labels: their true classes; texts labelled ``target``, and texts the victim
                already puts in ``target``, are left out.
            target: the class aimed at (``0``, ham, for a spam filter).
            vocabulary: whole word -> token id, for a victim other than ``BowClassifier`` or
                ``MiniLMClassifier`` (see :func:`trigger_vocabulary`).
            progress: show a progress bar over the iterations.

        Returns:
            A :class:`TriggerSearch`.

        Raises:
            TypeError: a victim that is not a ``TokenClassifier``; bad texts or labels.
            ValueError: empty texts, mismatched or out-of-range labels or target, no text left
                to search, ``init_word`` not in the vocabulary, or a trigger that does not
                tokenize back to its ids.
        """
        victim = require_token_classifier(model, "UniversalTrigger")
        batch = check_texts(texts)
        if not batch:
            raise ValueError("texts must not be empty")
        num_classes = len(victim.class_names)
        values = _check_labels(labels, len(batch), num_classes)
        target = _check_target(target, num_classes)
        words = trigger_vocabulary(victim, vocabulary)
        if self.init_word not in words:
            raise ValueError(f"init_word {self.init_word!r} is not in the victim's vocabulary")
        was_training = victim.training
        victim.eval()
        try:
            with _quiet_truncation():
                return self._search(victim, batch, values, target, words, progress)
        finally:
            victim.train(was_training)

    def _search(
        self,
        model: TokenClassifier,
        texts: list[str],
        labels: list[int],
        target: int,
        words: dict[str, int],
        progress: bool,
    ) -> TriggerSearch:
        began = time.perf_counter()
        names = {i: w for w, i in words.items()}
        vocab_ids = torch.tensor(sorted(names), dtype=torch.int64)
        with torch.no_grad():
            vocab_embeddings = model.embed(vocab_ids.unsqueeze(0))[0]
        trigger = [words[self.init_word]] * self.num_tokens
        layout = _Layout.of(model, [names[i] for i in trigger], trigger)

        candidates = [i for i, label in enumerate(labels) if label != target]
        forwards = 0
        pool: list[int] = []
        if candidates:
            predictions = model.predict_proba([texts[i] for i in candidates]).argmax(1)
            forwards += len(candidates)
            pool = [i for i, p in zip(candidates, predictions.tolist(), strict=True) if p != target]
        if not pool:
            raise ValueError(
                f"no text to search on: every text is labelled {target} or already predicted "
                f"as class {target}"
            )
        offsets = layout.offsets(model, [texts[i] for i in pool], self.position)

        rng = np.random.default_rng(self.seed)
        size = min(self.batch_size, len(pool))
        losses: list[float] = []
        initial_loss = float("nan")
        gradients = 0
        from aisec.models.training import _progress_bar

        with _progress_bar(progress, "trigger search", self.iterations, 0) as bar:
            for iteration in range(self.iterations):
                chosen = rng.choice(len(pool), size=size, replace=False)
                phrase = " ".join(names[i] for i in trigger)
                slots = layout.encode(
                    model,
                    apply_trigger([texts[pool[j]] for j in chosen], phrase, self.position),
                    offsets[chosen],
                    trigger,
                )
                loss, grad = _trigger_gradient(model, slots, target)
                gradients += size
                if iteration == 0:
                    initial_loss = loss
                for slot in range(self.num_tokens):
                    if not bool(slots.valid[:, slot].any()):
                        continue  # the slot lies past every text's window: nothing to gain
                    scores = vocab_embeddings @ grad[slot]  # first-order loss change + const
                    scores[vocab_ids == trigger[slot]] = float("inf")
                    k = min(self.candidates, int(vocab_ids.numel()) - 1)
                    if k < 1:
                        break
                    picks = vocab_ids[scores.topk(k, largest=False).indices]
                    candidate_losses = _candidate_losses(model, slots, slot, picks, target)
                    forwards += k * size
                    best = int(candidate_losses.argmin())
                    if float(candidate_losses[best]) < loss:
                        loss = float(candidate_losses[best])
                        trigger[slot] = int(picks[best])
                        slots.put(slot, trigger[slot])
                losses.append(loss)
                bar(1)

        tokens = tuple(names[i] for i in trigger)
        phrase = " ".join(tokens)
        layout = _Layout.of(model, list(tokens), trigger)
        pool_texts = [texts[i] for i in pool]
        triggered = apply_trigger(pool_texts, phrase, self.position)
        for start in range(0, len(pool), _EVAL_ROWS):  # the final phrase re-tokenizes in place
            layout.encode(
                model,
                triggered[start : start + _EVAL_ROWS],
                offsets[start : start + _EVAL_ROWS],
                trigger,
            )
        flipped = int((model.predict_proba(triggered).argmax(1) == target).sum())
        forwards += len(pool)
        return TriggerSearch(
            tokens=tokens,
            token_ids=tuple(trigger),
            phrase=phrase,
            target=target,
            position=self.position,
            initial_loss=initial_loss,
            losses=tuple(losses),
            searched=len(pool),
            excluded=len(texts) - len(pool),
            flipped=flipped,
            success=flipped / len(pool),
            gradients=gradients,
            forwards=forwards,
            seconds=time.perf_counter() - began,
            num_tokens=self.num_tokens,
            iterations=self.iterations,
            candidates=self.candidates,
            batch_size=self.batch_size,
            seed=self.seed,
            init_word=self.init_word,
            vocabulary_size=len(words),
        )


@dataclass
class _Slots:
    """A batch of triggered texts: ids, mask and where each trigger token sits."""

    ids: Tensor  # (B, L)
    mask: Tensor  # (B, L)
    positions: Tensor  # (B, n) index of trigger token i in each row
    valid: Tensor  # (B, n) the token lies inside the victim's window

    def put(self, slot: int, token: int) -> None:
        rows = self.valid[:, slot].nonzero().squeeze(1)
        self.ids[rows, self.positions[rows, slot]] = token


@dataclass(frozen=True)
class _Layout:
    """How the victim wraps a phrase: special tokens before (``lead``) and after (``trail``)."""

    lead: int
    trail: int

    @classmethod
    def of(cls, model: TokenClassifier, tokens: list[str], ids: list[int]) -> _Layout:
        phrase = " ".join(tokens)
        encoded, mask = model.encode([phrase])
        row = encoded[0][mask[0]].tolist()
        n = len(ids)
        for lead in range(len(row) - n + 1):
            if row[lead : lead + n] == ids and len(row) - n <= 2:  # e.g. [CLS] ... [SEP]
                return cls(lead=lead, trail=len(row) - lead - n)
        raise ValueError(
            f"the trigger {phrase!r} does not tokenize back to its ids {ids} (got {row}); "
            "give a vocabulary of whole words that the victim keeps as single tokens"
        )

    def offsets(self, model: TokenClassifier, texts: list[str], position: str) -> np.ndarray:
        """Index of the first trigger token in each triggered text (may lie past the window).

        The prefix before the trigger is encoded with a probe word after it; where the probe
        starts is where the trigger starts. A prefix that fills the window gets an offset past
        it (its trigger is never read).
        """
        if position == "start":
            return np.full(len(texts), self.lead, dtype=np.int64)
        probe = "x"  # any word: it only marks where the prefix ends
        _, alone = model.encode([probe])
        probe_len = int(alone[0].sum()) - self.lead - self.trail
        out = np.zeros(len(texts), dtype=np.int64)
        for start in range(0, len(texts), _EVAL_ROWS):
            chunk = [_prefix(t, position) + probe for t in texts[start : start + _EVAL_ROWS]]
            lengths = model.encode(chunk)[1].sum(1).numpy()
            offsets = lengths - self.trail - probe_len
            offsets[lengths >= model.max_length] = model.max_length  # maybe truncated: unread
            out[start : start + len(chunk)] = offsets
        return out

    def encode(
        self, model: TokenClassifier, texts: list[str], offsets: np.ndarray, trigger: list[int]
    ) -> _Slots:
        """Encode triggered texts and check that the trigger's ids sit where expected."""
        ids, mask = model.encode(texts)
        n = len(trigger)
        lengths = mask.sum(1)
        positions = torch.as_tensor(offsets, dtype=torch.int64).unsqueeze(1) + torch.arange(n)
        valid = positions < (lengths - self.trail).unsqueeze(1)
        safe = positions.clamp_max(ids.shape[1] - 1)
        found = ids.gather(1, safe)
        expected = torch.tensor(trigger, dtype=torch.int64).expand_as(found)
        wrong = valid & (found != expected)
        if bool(wrong.any()):
            row = int(wrong.any(1).nonzero()[0])
            raise ValueError(
                f"the trigger ids {trigger} are not where expected in the encoded text "
                f"{texts[row][:80]!r} (found {found[row].tolist()}): the victim's tokenizer "
                "splits or merges the trigger's words"
            )
        return _Slots(ids=ids, mask=mask, positions=positions, valid=valid)


def _trigger_gradient(model: TokenClassifier, slots: _Slots, target: int) -> tuple[float, Tensor]:
    """Mean cross-entropy towards ``target`` and its gradient per trigger token ``(n, D)``."""
    embeddings = model.embed(slots.ids).detach().requires_grad_(True)
    logits = model.forward_embeddings(embeddings, slots.mask)
    targets = torch.full((logits.shape[0],), target, dtype=torch.int64)
    loss = F.cross_entropy(logits, targets)
    (grad,) = torch.autograd.grad(loss, embeddings)
    n = slots.positions.shape[1]
    out = torch.zeros(n, grad.shape[2], dtype=grad.dtype)
    for slot in range(n):
        rows = slots.valid[:, slot].nonzero().squeeze(1)
        out[slot] = grad[rows, slots.positions[rows, slot]].sum(0)
    return float(loss.detach()), out


@torch.no_grad()
def _candidate_losses(
    model: TokenClassifier, slots: _Slots, slot: int, picks: Tensor, target: int
) -> Tensor:
    """Exact mean cross-entropy towards ``target`` with each candidate at ``slot``, ``(k,)``."""
    size, k = slots.ids.shape[0], int(picks.numel())
    ids = slots.ids.repeat(k, 1)
    mask = slots.mask.repeat(k, 1)
    valid = slots.valid[:, slot].repeat(k)
    rows = torch.arange(k * size)[valid]
    ids[rows, slots.positions[:, slot].repeat(k)[valid]] = picks.repeat_interleave(size)[valid]
    parts = []
    for start in range(0, k * size, _EVAL_ROWS):
        logits = model(ids[start : start + _EVAL_ROWS], mask[start : start + _EVAL_ROWS])
        targets = torch.full((logits.shape[0],), target, dtype=torch.int64)
        parts.append(F.cross_entropy(logits, targets, reduction="none"))
    return torch.cat(parts).view(k, size).mean(1)
