"""The TextAttack half of ``bench_textattack``; runs inside ``.venv-textattack``, never in aisec's.

TextAttack 0.3.11 needs ``transformers<5``, so it lives in its own virtual environment where
aisec is not installed. This script therefore imports neither aisec nor anything of the
benchmark package: ``bench_textattack.py`` exports what it needs into a work folder —

- ``victim.pt``: the ``tweets-bow`` weights, vocabulary and class names (plain tensors, lists
  and strings, loaded with ``weights_only=True``), re-implemented below exactly as
  :class:`aisec.models.text.BowClassifier` computes it (same tokenizer regex, unknown id 1,
  padding id 0, truncation, mean pooling, linear head, softmax);
- ``task.json``: the texts, labels, aisec's stopword list, the number of words each text may
  change, aisec's WordNet synonym lists of the texts' words, and aisec's probabilities of the
  texts (checked here, so that both sides attack the same function);

and reads back ``textattack.json``. Usage:
``.venv-textattack/bin/python benchmarks/textattack_side.py WORKDIR``.

The attack is TextAttack's TextFooler recipe (``TextFoolerJin2019``) with the pieces that need
downloads replaced as the benchmark's README explains: greedy word importance ranking by
deletion (``GreedyWordSwapWIR(wir_method="delete")``), untargeted classification, repeat and
stopword modification (aisec's stopword list), a word budget equal to aisec's, named tokens
(@mentions, #hashtags, URLs, numbers) left alone, and WordNet candidates — TextAttack's own
``WordSwapWordNet`` (NLTK's reader of the same WordNet 3.0 files), and, as a control, aisec's
exact candidate lists. No Universal Sentence Encoder, counter-fitted embedding or POS
constraint (all need downloads; aisec's side drops its equivalents too).
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import re
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

_WORD = re.compile(r"\w+(?:'\w+)?")
_SURROGATE = re.compile("[\ud800-\udfff]")
_NAMED_SPAN = re.compile(r"https?://\S+|www\.\S+|[@#]\w+|\b\d[\d.,:]*\b")
MAX_CANDIDATES = 50


class BowVictim:
    """aisec's ``BowClassifier.predict_proba``, re-implemented from its exported weights."""

    def __init__(self, path: Path) -> None:
        state = torch.load(path, weights_only=True)
        self.embedding: torch.Tensor = state["embedding"]
        self.head_weight: torch.Tensor = state["head_weight"]
        self.head_bias: torch.Tensor = state["head_bias"]
        self.max_length = int(state["max_length"])
        self.index = {word: i + 2 for i, word in enumerate(state["vocabulary"])}
        self.class_names = list(state["class_names"])

    @torch.no_grad()
    def predict_proba(self, texts: list[str]) -> torch.Tensor:
        rows: list[list[int]] = []
        for text in texts:
            text = _SURROGATE.sub("\ufffd", text)
            row = [self.index.get(w, 1) for w in _WORD.findall(text.lower())]
            rows.append(row[: self.max_length] or [1])  # an empty text is one unknown word
        width = max((len(r) for r in rows), default=1)
        ids = torch.zeros(len(rows), width, dtype=torch.int64)
        for i, row in enumerate(rows):
            ids[i, : len(row)] = torch.tensor(row)
        mask = (ids != 0).float().unsqueeze(-1)
        pooled = (self.embedding[ids] * mask).sum(1) / mask.sum(1).clamp_min(1.0)
        return F.softmax(pooled @ self.head_weight.T + self.head_bias, dim=1)


def build_attack(variant: str, task: dict[str, Any], wrapper: Any) -> Any:
    """TextAttack's TextFooler search and constraints around one WordNet candidate source."""
    import textattack
    from textattack.constraints import Constraint, PreTransformationConstraint
    from textattack.constraints.pre_transformation import (
        RepeatModification,
        StopwordModification,
    )
    from textattack.goal_functions import UntargetedClassification
    from textattack.search_methods import GreedyWordSwapWIR
    from textattack.transformations import WordSwap, WordSwapWordNet

    allowed: dict[str, int] = dict(zip(task["texts"], task["allowed"], strict=True))
    synonyms: dict[str, list[str]] = task["synonyms"]

    class NamedTokenModification(PreTransformationConstraint):  # type: ignore[misc]
        """Words inside @mentions, #hashtags, URLs and numbers are left alone (as in aisec)."""

        def _get_modifiable_indices(self, current_text: Any) -> set[int]:
            spans = [m.span() for m in _NAMED_SPAN.finditer(current_text.text)]
            out = set()
            for i in range(len(current_text.words)):
                start = current_text._text_index_of_word_index(i)
                if not any(a <= start < b for a, b in spans):
                    out.add(i)
            return out

    class WordBudget(Constraint):  # type: ignore[misc]
        """At most aisec's number of changed words for this text (floor of 25 % of its slots)."""

        def __init__(self) -> None:
            super().__init__(compare_against_original=True)

        def _check_constraint(self, transformed_text: Any, reference_text: Any) -> bool:
            changed = len(transformed_text.all_words_diff(reference_text))
            return changed <= allowed[reference_text.text]

    def match_case(candidate: str, original: str) -> str:
        if original.isupper() and len(original) > 1:
            return candidate.upper()
        if original[:1].isupper():
            return candidate[:1].upper() + candidate[1:]
        return candidate

    class CappedWordNet(WordSwapWordNet):  # type: ignore[misc]
        """TextAttack's WordNet swap, in a fixed order and capped at ``MAX_CANDIDATES``."""

        def _get_replacement_words(self, word: str, random: bool = False) -> list[str]:
            out = sorted(super()._get_replacement_words(word))
            return out[:MAX_CANDIDATES]

    class AisecSynonyms(WordSwap):  # type: ignore[misc]
        """aisec's WordNet candidate lists (exported), case matched as aisec does."""

        def _get_replacement_words(self, word: str) -> list[str]:
            if not word.isalpha():
                return []
            out = [match_case(s, word) for s in synonyms.get(word.lower(), [])]
            return [c for c in dict.fromkeys(out) if c != word][:MAX_CANDIDATES]

    transformation = CappedWordNet() if variant == "wordnet" else AisecSynonyms()
    constraints = [
        RepeatModification(),
        StopwordModification(stopwords=set(task["stopwords"])),
        NamedTokenModification(),
        WordBudget(),
    ]
    goal = UntargetedClassification(wrapper)
    search = GreedyWordSwapWIR(wir_method="delete")
    return textattack.Attack(goal, constraints, transformation, search)


def main(workdir: Path) -> None:
    from textattack.attack_results import (
        FailedAttackResult,
        SkippedAttackResult,
        SuccessfulAttackResult,
    )
    from textattack.models.wrappers import ModelWrapper

    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "2")))
    task = json.loads((workdir / "task.json").read_text())
    victim = BowVictim(workdir / "victim.pt")
    reference = torch.tensor(task["probabilities"])
    mismatch = float((victim.predict_proba(task["texts"]) - reference).abs().max())
    if mismatch > 1e-5:
        raise SystemExit(f"the re-implemented victim differs from aisec's by {mismatch}")

    class CountingWrapper(ModelWrapper):  # type: ignore[misc]
        """Probabilities of the victim; counts the texts the model actually receives."""

        def __init__(self) -> None:
            self.model = victim
            self.calls = 0

        def __call__(self, text_input_list: list[str]) -> np.ndarray:
            self.calls += len(text_input_list)
            return victim.predict_proba(list(text_input_list)).numpy()

    out: dict[str, Any] = {"victim_max_abs_diff": mismatch, "variants": {}}
    for variant in ("wordnet", "aisec-synonyms"):
        wrapper = CountingWrapper()
        attack = build_attack(variant, task, wrapper)
        rows = []
        began = time.perf_counter()
        for text, label in zip(task["texts"], task["labels"], strict=True):
            calls_before = wrapper.calls
            start = time.perf_counter()
            result = attack.attack(text, int(label))
            seconds = time.perf_counter() - start
            if isinstance(result, SuccessfulAttackResult):
                status = "succeeded"
            elif isinstance(result, FailedAttackResult):
                status = "failed"
            elif isinstance(result, SkippedAttackResult):
                status = "skipped"
            else:
                status = type(result).__name__
            original = result.original_result.attacked_text
            perturbed = result.perturbed_result.attacked_text
            rows.append(
                {
                    "status": status,
                    "num_queries": int(result.perturbed_result.num_queries),
                    "model_calls": wrapper.calls - calls_before,
                    "words_perturbed": len(original.all_words_diff(perturbed)),
                    "num_words": len(original.words),
                    "adversarial": perturbed.text,
                    "seconds": seconds,
                }
            )
        out["variants"][variant] = {"seconds": time.perf_counter() - began, "results": rows}
        print(
            f"textattack[{variant}]: "
            f"{sum(r['status'] == 'succeeded' for r in rows)}/{len(rows)} succeeded, "
            f"{sum(r['num_queries'] for r in rows) / max(1, len(rows)):.1f} queries per example",
            flush=True,
        )
    out["textattack_version"] = importlib.metadata.version("textattack")
    (workdir / "textattack.json").write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
