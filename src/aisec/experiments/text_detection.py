"""Watermark or zero-shot generated-text detection over a corpus (``aisec detect-corpus``).

A :class:`CorpusDetectionPlan` names a corpus — a folder of ``.txt`` files (one text each,
sorted by name) or a ``jsonl:``/``csv:`` table with a text column — and a method:

- ``"watermark"``: the green-list z-test of Kirchenbauer et al. (ICML 2023) with a scheme's
  key, gamma and seeding, tokenized by the scheme's model (:func:`~aisec.genai.watermark.
  detect_text`): per text ``z``, ``p`` and the verdict ``z > z_threshold``;
- ``"zero-shot"``: Fast-DetectGPT (Bao et al., ICLR 2024), mean log-likelihood and log-rank
  under the scoring model (:func:`~aisec.genai.detect.score_texts`), per text.

Each text is scored on its own (a batch of one: no padding shared with other texts), so the
corpus runs in shards on any executor (:mod:`aisec.experiments.sharded`) with the same
per-text numbers. A text too short to decide gets its reason instead of a score.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from aisec.experiments import names
from aisec.experiments.base import check_float, check_int
from aisec.experiments.sharded import Execution, ExecutionRecord, run_sharded
from aisec.experiments.shards import ShardOutput, fingerprint
from aisec.models.language import check_language_model_name
from aisec.stats import Rate

__all__ = [
    "METHODS",
    "CorpusDetectionPlan",
    "CorpusDetectionResult",
    "CorpusDetectionTask",
    "load_corpus",
    "run",
]

METHODS = ("watermark", "zero-shot")
_SHARD_TEXTS = 16
_CHECK_VOCAB = 1000
"""Vocabulary of the throw-away scheme that checks the watermark options before loading."""


def load_corpus(corpus: str, text_column: str = "text") -> tuple[list[str], list[str]]:
    """The texts of a corpus and their names (file names, or ``row N``).

    Args:
        corpus: a folder of ``.txt`` files, or ``jsonl:FILE`` / ``csv:FILE`` (or a path ending
            in ``.jsonl`` / ``.csv``) with a column ``text_column``.
        text_column: the tables' column of texts.

    Raises:
        ValueError: a missing corpus, an empty one, a row without the column, a file that is
            not UTF-8.
    """
    kind, _, rest = corpus.partition(":")
    if kind in ("jsonl", "csv") and rest:
        path, table = Path(rest), kind
    else:
        path = Path(corpus)
        table = path.suffix.lstrip(".") if path.suffix in (".jsonl", ".csv") else ""
    if not path.exists():
        raise ValueError(f"the corpus {path} does not exist")
    texts: list[str] = []
    labels: list[str] = []
    try:
        if path.is_dir():
            for file in sorted(path.glob("*.txt")):
                texts.append(file.read_text(encoding="utf-8"))
                labels.append(file.name)
        elif table == "jsonl":
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                if not line.strip():
                    continue
                record = json.loads(line)
                if not isinstance(record, dict) or not isinstance(record.get(text_column), str):
                    raise ValueError(f"{path} line {number} has no text column {text_column!r}")
                texts.append(record[text_column])
                labels.append(f"line {number}")
        elif table == "csv":
            with path.open(encoding="utf-8", newline="") as handle:
                reader = csv.DictReader(handle)
                if text_column not in (reader.fieldnames or []):
                    raise ValueError(
                        f"{path} has no column {text_column!r}; its columns: {reader.fieldnames}"
                    )
                for number, row in enumerate(reader, 2):
                    texts.append(row[text_column])
                    labels.append(f"line {number}")
        else:
            raise ValueError(f"{path} is neither a folder of .txt files nor a jsonl:/csv: table")
    except UnicodeDecodeError as error:
        raise ValueError(f"the corpus {path} is not UTF-8 text: {error}") from error
    except json.JSONDecodeError as error:
        raise ValueError(f"{path} is not JSON lines: {error}") from error
    if not texts:
        raise ValueError(f"the corpus {path} holds no texts")
    return texts, labels


@dataclass(frozen=True)
class CorpusDetectionPlan:
    """Detection over a corpus.

    Attributes:
        corpus: see :func:`load_corpus`.
        method: ``"watermark"`` or ``"zero-shot"``.
        model: the tokenizer's (watermark) or scoring (zero-shot) language model.
        gamma: the scheme's green-list fraction (watermark).
        seeding: ``"simple_1"``, ``"selfhash"`` or ``"unigram"`` (watermark).
        key: the scheme's secret key (watermark).
        z_threshold: the verdict threshold (watermark).
        ignore_repeated: count repeated (context, token) pairs once (watermark).
        normalize: undo Unicode and homoglyph tricks first (watermark).
        max_tokens: longest scored prefix (zero-shot).
        text_column: the tables' column of texts.
    """

    corpus: str
    method: str = "watermark"
    model: str = "smollm2-135m-instruct"
    gamma: float = 0.25
    seeding: str = "simple_1"
    key: int = 15485863
    z_threshold: float = 4.0
    ignore_repeated: bool = True
    normalize: bool = True
    max_tokens: int = 256
    text_column: str = "text"

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"unknown method {self.method!r}; expected one of {METHODS}")
        check_float("z_threshold", self.z_threshold)
        check_int("max_tokens", self.max_tokens, 6)
        check_int("key", self.key, 0)
        # The scheme's options, on a throw-away vocabulary (nothing loads yet).
        names.watermark_scheme(
            _CHECK_VOCAB, gamma=self.gamma, delta=0.0, seeding=self.seeding, key=self.key
        )
        check_language_model_name(self.model)
        load_corpus(self.corpus, self.text_column)


@dataclass
class CorpusDetectionTask:
    """Detection on texts ``start … stop−1``, each scored on its own (a shard task)."""

    plan: CorpusDetectionPlan
    lm: Any
    texts: list[str]

    def run_shard(self, start: int, stop: int) -> ShardOutput:
        """Score texts ``start … stop−1``."""
        return ShardOutput(meta={"records": [self._score(t) for t in self.texts[start:stop]]})

    def _score(self, text: str) -> dict[str, Any]:
        plan = self.plan
        try:
            if plan.method == "watermark":
                from aisec.genai.watermark import detect_text

                scheme = names.watermark_scheme(
                    self.lm.vocab_size,
                    gamma=plan.gamma,
                    delta=0.0,
                    seeding=plan.seeding,
                    key=plan.key,
                )
                found, _ = detect_text(
                    scheme,
                    text,
                    self.lm.tokenizer,
                    normalize=plan.normalize,
                    ignore_repeated=plan.ignore_repeated,
                    z_threshold=plan.z_threshold,
                )
                return {
                    "z_score": found.z_score,
                    "p_value": found.p_value,
                    "tokens_scored": found.num_tokens_scored,
                    "green": found.num_green,
                    "watermarked": found.watermarked,
                }
            from aisec.genai.detect import DETECTORS, score_texts

            scores = score_texts(self.lm, [text], max_tokens=plan.max_tokens, batch_size=1)
            record: dict[str, Any] = {name: float(scores.get(name)[0]) for name in DETECTORS}
            return record | {"tokens_scored": int(scores.num_tokens[0])}
        except ValueError as error:  # too short to decide: the reason, not a score
            return {"undecided": str(error)}

    def to(self, device: str) -> CorpusDetectionTask:
        """This task with its language model on ``device``."""
        self.lm.model.to(device)
        return self

    def fingerprint(self) -> str:
        """The plan, the model's weights and the texts."""
        return fingerprint("detect-corpus", self.plan, self.lm.model, self.texts)


@dataclass(frozen=True)
class CorpusDetectionResult:
    """Per-text detections of a corpus.

    Attributes:
        plan: the plan that ran.
        names: each text's name (its file, or its line).
        records: each text's scores (or ``undecided``: why not).
        execution: how the shards ran.
    """

    plan: CorpusDetectionPlan
    names: list[str]
    records: list[dict[str, Any]]
    execution: ExecutionRecord | None = None

    @property
    def decided(self) -> list[dict[str, Any]]:
        """The records of texts long enough to score."""
        return [r for r in self.records if "undecided" not in r]

    def flagged(self) -> Rate:
        """Texts called watermarked, of those scored (watermark method)."""
        decided = self.decided
        return Rate(sum(bool(r.get("watermarked")) for r in decided), len(decided))

    def rows(self) -> list[dict[str, Any]]:
        """One row per text: its name and scores."""
        return [{"text": n, **r} for n, r in zip(self.names, self.records, strict=True)]

    def to_dict(self) -> dict[str, Any]:
        """``plan``, ``texts``, ``scored``, ``flagged`` (watermark), ``per_text`` and
        ``execution``."""
        flagged = self.flagged() if self.plan.method == "watermark" else None
        return {
            "plan": {k: getattr(self.plan, k) for k in self.plan.__dataclass_fields__},
            "texts": len(self.records),
            "scored": len(self.decided),
            "flagged": None if flagged is None else flagged.to_dict(),
            "per_text": self.rows(),
            "execution": None if self.execution is None else self.execution.to_dict(),
        }


def run(plan: CorpusDetectionPlan, *, execution: Execution | None = None) -> CorpusDetectionResult:
    """Load the corpus and the model and score every text, in shards of 16 texts by default.

    Args:
        plan: the corpus and the method (checked when the plan was built).
        execution: executor, shards and checkpoints; the result does not depend on it.
    """
    texts, labels = load_corpus(plan.corpus, plan.text_column)
    lm = names.language_model(plan.model)
    with torch.inference_mode():
        outputs, record = run_sharded(
            CorpusDetectionTask(plan, lm, texts),
            len(texts),
            kind="detect-corpus",
            execution=execution,
            default_shard_size=_SHARD_TEXTS,
        )
    records = [r for output in outputs for r in output.meta["records"]]
    return CorpusDetectionResult(plan, labels, records, record)
