"""A text attack: goal function + transformation + constraints + search, and its results.

The four parts are passed to :class:`TextAttack`'s constructor (TextAttack's decomposition,
Morris et al. 2020); the attack holds no model. ``attack.run(model, texts, labels)`` attacks
each example and returns per-example :class:`TextAttackResult` s and an :class:`AttackSummary`.

Reference: Morris, Lifland, Yoo, Grigsby, Jin, Qi, "TextAttack: A Framework for Adversarial
Attacks, Data Augmentation, and Adversarial Training in NLP", EMNLP 2020 (demos).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from aisec.attacks.text.constraints import Constraint, SentenceEncoder, SentenceSimilarity
from aisec.attacks.text.core import AttackText, GoalFunction, QueryBudgetExhaustedError
from aisec.attacks.text.search import SearchContext, SearchMethod
from aisec.attacks.text.transformations import Transformation
from aisec.attacks.text.window import readable_slots
from aisec.models.text import TextClassifier, check_texts

__all__ = ["AttackRun", "AttackSummary", "TextAttack", "TextAttackResult", "summarize"]

Status = Literal["succeeded", "failed", "skipped"]


@dataclass(frozen=True)
class TextAttackResult:
    """One attacked example.

    Attributes:
        original: the input text.
        adversarial: the returned text (the original when skipped).
        label: the true class.
        original_prediction: the victim's class on ``original``.
        adversarial_prediction: its class on ``adversarial``.
        status: ``"succeeded"`` (goal met), ``"failed"``, or ``"skipped"`` (the victim was
            already wrong on the original, so nothing was attacked).
        words_changed: slots that differ from the original.
        num_words: slots of the original.
        changed_indices: which slots changed.
        original_words: the original strings of the changed slots.
        adversarial_words: their replacements.
        queries: distinct victim queries spent on this example.
        similarity: sentence-encoder cosine of adversarial and original (``None`` without an
            encoder).
        seconds: wall time of this example.
        gradients: gradients of the victim taken by a white-box search (not queries; 0 for
            black-box searches).
        words_out_of_reach: slots after the victim's token window, which the victim never
            reads and the attack therefore left alone (0 when the text fits, or the victim has
            no known window).
        words_added: word slots inserted (insertion attacks; not counted in
            ``words_changed``).
        words_deleted: slots emptied (each also counted in ``words_changed``).
        insertions: the inserted texts as ``(gap, text)`` pairs, in the order inserted (gap
            ``g`` is just before slot ``g`` of the original; see
            :meth:`AttackText.insert <aisec.attacks.text.core.AttackText.insert>`).
    """

    original: str
    adversarial: str
    label: int
    original_prediction: int
    adversarial_prediction: int
    status: Status
    words_changed: int
    num_words: int
    changed_indices: tuple[int, ...]
    original_words: tuple[str, ...]
    adversarial_words: tuple[str, ...]
    queries: int
    similarity: float | None
    seconds: float
    gradients: int = 0
    words_out_of_reach: int = 0
    words_added: int = 0
    words_deleted: int = 0
    insertions: tuple[tuple[int, str], ...] = ()

    @property
    def success(self) -> bool:
        """Whether the attack met its goal."""
        return self.status == "succeeded"

    @property
    def fraction_changed(self) -> float:
        """``words_changed / num_words`` (0 for a text without words)."""
        return self.words_changed / self.num_words if self.num_words else 0.0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary."""
        return asdict(self) | {"success": self.success, "fraction_changed": self.fraction_changed}


@dataclass(frozen=True)
class AttackSummary:
    """Aggregate numbers of an attack run.

    Attributes:
        examples: examples given.
        skipped: originals the victim already got wrong.
        succeeded: attacks that met the goal.
        failed: attacks that did not.
        clean_accuracy: victim accuracy on the originals.
        accuracy_under_attack: victim accuracy on the returned texts (``failed / examples``).
        success_rate: ``succeeded / (succeeded + failed)`` (NaN if nothing was attacked).
        mean_words_changed_pct: mean % of words changed over successful attacks.
        mean_queries: mean victim queries per attacked example.
        mean_gradients: mean victim gradients per attacked example (white-box searches).
        mean_similarity: mean sentence similarity over successful attacks (None without one).
        seconds: total wall time.
        texts_beyond_window: examples longer than the victim's token window (their words after
            it were not attacked).
        words_out_of_reach: words after the window, over all examples.
        mean_words_added: mean words inserted over successful attacks (NaN without one).
    """

    examples: int
    skipped: int
    succeeded: int
    failed: int
    clean_accuracy: float
    accuracy_under_attack: float
    success_rate: float
    mean_words_changed_pct: float
    mean_queries: float
    mean_similarity: float | None
    seconds: float
    mean_gradients: float = 0.0
    texts_beyond_window: int = 0
    words_out_of_reach: int = 0
    mean_words_added: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary."""
        return asdict(self)


@dataclass
class AttackRun:
    """The results of :meth:`TextAttack.run`."""

    recipe: str
    results: list[TextAttackResult] = field(default_factory=list)
    summary: AttackSummary | None = None
    config: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary."""
        return {
            "recipe": self.recipe,
            "config": self.config,
            "summary": self.summary.to_dict() if self.summary else None,
            "results": [r.to_dict() for r in self.results],
        }


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else float("nan")


def summarize(results: Sequence[TextAttackResult], seconds: float = 0.0) -> AttackSummary:
    """Aggregate per-example results into an :class:`AttackSummary`."""
    n = len(results)
    skipped = sum(r.status == "skipped" for r in results)
    succeeded = [r for r in results if r.status == "succeeded"]
    failed = sum(r.status == "failed" for r in results)
    attacked = [r for r in results if r.status != "skipped"]
    sims = [r.similarity for r in succeeded if r.similarity is not None]
    return AttackSummary(
        examples=n,
        skipped=skipped,
        succeeded=len(succeeded),
        failed=failed,
        clean_accuracy=(n - skipped) / n if n else float("nan"),
        accuracy_under_attack=failed / n if n else float("nan"),
        success_rate=len(succeeded) / len(attacked) if attacked else float("nan"),
        mean_words_changed_pct=100 * _mean([r.fraction_changed for r in succeeded]),
        mean_queries=_mean([float(r.queries) for r in attacked]),
        mean_similarity=_mean(sims) if sims else None,
        seconds=seconds,
        mean_gradients=_mean([float(r.gradients) for r in attacked]) if attacked else 0.0,
        texts_beyond_window=sum(r.words_out_of_reach > 0 for r in results),
        words_out_of_reach=sum(r.words_out_of_reach for r in results),
        mean_words_added=_mean([float(r.words_added) for r in succeeded]),
    )


class TextAttack:
    """An attack composed of a goal function, a transformation, constraints and a search.

    Args:
        goal: e.g. :class:`~aisec.attacks.text.core.UntargetedClassification`.
        transformation: candidate replacements of one slot.
        constraints: checked on every candidate (and restricting modifiable slots).
        search: e.g. :class:`~aisec.attacks.text.search.GreedyWordImportance`.
        name: the recipe's name (reports).
        encoder: sentence encoder used to *report* similarity when no
            :class:`~aisec.attacks.text.constraints.SentenceSimilarity` constraint has one.

    Reference: Morris, Lifland, Yoo, Grigsby, Jin, Qi, "TextAttack: A Framework for Adversarial
    Attacks, Data Augmentation, and Adversarial Training in NLP", EMNLP 2020 (the four-part
    decomposition).
    """

    def __init__(
        self,
        goal: GoalFunction,
        transformation: Transformation,
        constraints: Sequence[Constraint],
        search: SearchMethod,
        *,
        name: str = "custom",
        encoder: SentenceEncoder | None = None,
    ) -> None:
        self.goal = goal
        self.transformation = transformation
        self.constraints = tuple(constraints)
        self.search = search
        self.name = name
        similarity = next((c for c in self.constraints if isinstance(c, SentenceSimilarity)), None)
        if similarity is None and encoder is not None:
            similarity = SentenceSimilarity(encoder, min_similarity=-1.0)
        self._similarity = similarity

    def describe(self) -> dict[str, Any]:
        """JSON-ready description of the four parts."""
        return {
            "name": self.name,
            "goal": self.goal.describe(),
            "transformation": self.transformation.describe(),
            "constraints": [c.describe() for c in self.constraints],
            "search": self.search.describe(),
        }

    def attack(self, model: TextClassifier, text: str, label: int) -> TextAttackResult:
        """Attack one example.

        Only the words inside the victim's token window are edited (the victim never reads
        the others; see :mod:`aisec.attacks.text.window`); the result's
        ``words_out_of_reach`` says how many were left alone.

        Args:
            model: the victim.
            text: a non-empty string.
            label: its true class.

        Returns:
            The :class:`TextAttackResult`.

        Raises:
            TypeError: ``text`` is not a string or ``label`` not an int.
            ValueError: ``text`` has no words or ``label`` is out of range.
        """
        began = time.perf_counter()
        (text,) = check_texts([text], name="text")
        if isinstance(label, bool) or not isinstance(label, int):
            raise TypeError(f"label must be an int, got {type(label).__name__}")
        if not 0 <= label < len(model.class_names):
            raise ValueError(f"label {label} is not a class of {len(model.class_names)}")
        original = AttackText.from_text(text)
        if not original.words:
            raise ValueError(f"the text {text!r} has no words to attack")
        state = self.goal.start(model, label)
        first = state.evaluate([text])[0]
        reach = readable_slots(model, original)
        if first.prediction != label:
            adversarial, final, status = original, first, "skipped"
        else:
            context = SearchContext(
                original, state, self.transformation, self.constraints, reach=reach
            )
            try:
                adversarial = self.search(context)
            except QueryBudgetExhaustedError:
                adversarial = original
            try:
                final = state.evaluate([adversarial.text])[0]  # cached: searches evaluate it
            except QueryBudgetExhaustedError:
                adversarial, final = original, first
            status = "succeeded" if final.success else "failed"
        changed = tuple(adversarial.changed_indices(original))
        similarity = None
        if self._similarity is not None:
            similarity = self._similarity.similarities(text, [adversarial.text])[0]
        return TextAttackResult(
            original=text,
            adversarial=adversarial.text,
            label=label,
            original_prediction=first.prediction,
            adversarial_prediction=final.prediction,
            status=status,  # type: ignore[arg-type]
            words_changed=len(changed),
            num_words=len(original),
            changed_indices=changed,
            original_words=tuple(original.words[i] for i in changed),
            adversarial_words=tuple(adversarial.words[i] for i in changed),
            queries=state.queries,
            similarity=similarity,
            seconds=time.perf_counter() - began,
            gradients=state.gradients,
            words_out_of_reach=0 if reach is None else len(original) - reach,
            words_added=adversarial.words_added(original),
            words_deleted=adversarial.words_deleted(original),
            insertions=adversarial.insertions,
        )

    @staticmethod
    def check_inputs(texts: Sequence[str], labels: Sequence[int]) -> tuple[list[str], list[int]]:
        """The texts and labels :meth:`run` accepts, checked (as lists).

        Raises:
            TypeError: texts that are not strings.
            ValueError: as many labels as texts not given, or a text without words.
        """
        batch = check_texts(texts)
        labels = [int(v) for v in labels]
        if len(batch) != len(labels):
            raise ValueError(f"{len(batch)} texts but {len(labels)} labels")
        for i, text in enumerate(batch):
            if not AttackText.from_text(text).words:
                raise ValueError(f"texts[{i}] has no words to attack: {text!r}")
        return batch, labels

    def run(
        self,
        model: TextClassifier,
        texts: Sequence[str],
        labels: Sequence[int],
        *,
        progress: bool = False,
    ) -> AttackRun:
        """Attack every example and summarize.

        Args:
            model: the victim.
            texts: non-empty strings.
            labels: their true classes.
            progress: show a progress bar.

        Returns:
            An :class:`AttackRun` with per-example results and the summary.

        Raises:
            TypeError, ValueError: bad inputs (checked before any attack starts).
        """
        batch, labels = self.check_inputs(texts, labels)
        began = time.perf_counter()
        run = AttackRun(recipe=self.name, config=self.describe())
        from aisec.models.training import _progress_bar

        with _progress_bar(progress, f"attack {self.name}", len(batch), 0) as bar:
            for text, label in zip(batch, labels, strict=True):
                run.results.append(self.attack(model, text, label))
                bar(1)
        run.summary = summarize(run.results, time.perf_counter() - began)
        return run
