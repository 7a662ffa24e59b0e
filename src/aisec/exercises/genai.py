"""Chapter 4's exercises: spectral signatures with better precision, and scrubbing a watermark.

``spectral_precision`` builds seeded synthetic penultimate features of the kind a backdoored
network produces — the poisons form a small, far cluster inside their target class, and some
clean classes have two sub-populations of their own — and asks for a detector that respects the
paper's per-class removal budget yet flags (almost) only poisons, where the paper's rule flags
``1.5·ε`` of every class. ``scrub_watermark`` samples token sequences from a synthetic language
model (a Zipf unigram distribution, no neural network) through aisec's green-list watermark and
asks for edits of at most 30% of the tokens that bring the detector's z-score under its
threshold, with only the detector's score to go by.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from aisec.exercises.base import Checks, Exercise, LearnerError, Solution, as_tensor, pct

if TYPE_CHECKING:
    from aisec.genai.watermark import WatermarkScheme

__all__ = ["SCRUB_WATERMARK", "SPECTRAL_PRECISION", "synthetic_features"]

_PRECISION_TARGET = 0.9
_RECALL_TARGET = 0.9
_CLEAN_FLAG_LIMIT = 0.02
_SCENARIOS: tuple[tuple[int, int | None, float], ...] = (
    (0, 2, 0.15),
    (1, 0, 0.08),
    (2, None, 0.0),
    (3, 5, 0.12),
)
"""(seed, poisoned class or None, poisons' share of that class)."""
_NO_POISON_BUDGET = 0.15

_VOCAB = 1000
_TOKENS = 100
_TEXTS = 12
_EDIT_SHARE = 0.3
_QUERIES_PER_TOKEN = 3
_KEY = 7919


@dataclass(frozen=True)
class Features:
    """One scenario: features ``(N, D)``, labels ``(N,)`` and which rows are poisons."""

    features: Tensor
    labels: Tensor
    poison: Tensor


def synthetic_features(
    seed: int,
    target: int | None,
    share: float,
    *,
    per_class: int = 200,
    classes: int = 6,
    dim: int = 32,
) -> Features:
    """Penultimate-layer-like features of a training set, poisoned in class ``target``.

    Each class is a Gaussian around its own mean with one dominant direction (std 2, the others
    1); classes 1 and 4 have two natural sub-populations (35% of the class 6 units away). The
    poisons, ``share`` of the target class, sit 8 units from its mean with std 0.7.

    Args:
        seed: seed of every draw.
        target: the poisoned class, or ``None`` for a clean set.
        share: the poisons' fraction of the target class, in ``[0, 1)``.
        per_class: clean samples per class.
        classes: number of classes.
        dim: feature dimension.

    Returns:
        The :class:`Features`, rows grouped by class (poisons after their class's clean rows).
    """
    generator = torch.Generator().manual_seed(seed)
    parts: list[tuple[Tensor, Tensor, Tensor]] = []
    for c in range(classes):
        mean = 2 * torch.randn(dim, generator=generator)
        basis, _ = torch.linalg.qr(torch.randn(dim, dim, generator=generator))
        scales = torch.ones(dim)
        scales[0] = 2.0
        rows = mean + (torch.randn(per_class, dim, generator=generator) * scales) @ basis.T
        if c in (1, 4):
            direction = torch.randn(dim, generator=generator)
            second = torch.rand(per_class, generator=generator) < 0.35
            rows = rows + second[:, None] * 6 * direction / direction.norm()
        parts.append((rows, torch.full((per_class,), c), torch.zeros(per_class, dtype=torch.bool)))
        if c == target and share > 0:
            count = round(share * per_class / (1 - share))
            direction = torch.randn(dim, generator=generator)
            poisons = mean + 8 * direction / direction.norm()
            poisons = poisons + 0.7 * torch.randn(count, dim, generator=generator)
            parts.append((poisons, torch.full((count,), c), torch.ones(count, dtype=torch.bool)))
    return Features(
        torch.cat([p[0] for p in parts]),
        torch.cat([p[1] for p in parts]),
        torch.cat([p[2] for p in parts]),
    )


def _check_spectral(solution: Solution, checks: Checks) -> None:
    from aisec.defenses.detect import spectral_signatures

    for seed, target, share in _SCENARIOS:
        data = synthetic_features(seed, target, share)
        budget = 1.5 * share if target is not None else _NO_POISON_BUDGET
        n = data.labels.shape[0]
        flagged = as_tensor(
            solution.call("flag_poisons", data.features.clone(), data.labels.clone(), budget),
            "flag_poisons",
            shape=(n,),
        )
        if flagged.dtype != torch.bool:
            raise LearnerError(f"flag_poisons must return a bool tensor, got {flagged.dtype}")
        label = f"poisons in class {target}, {pct(share)} of it" if target is not None else ""
        label = label or "no poisons at all"
        over = [
            c
            for c in range(int(data.labels.max()) + 1)
            if int(flagged[data.labels == c].sum())
            > math.ceil(budget * int((data.labels == c).sum()) - 1e-9)
        ]
        checks.expect(
            f"respects the per-class budget ({label})",
            not over,
            f"budget {pct(budget)} of each class; over it in class(es) {over}" if over else "",
        )
        true = int((flagged & data.poison).sum())
        count = int(flagged.sum())
        if target is None:
            checks.expect(
                f"flags at most {pct(_CLEAN_FLAG_LIMIT)} of a clean set",
                count <= _CLEAN_FLAG_LIMIT * n,
                f"{count} of {n} flagged",
            )
            continue
        paper = spectral_signatures(data.features, data.labels, expected_fraction=share).flagged
        paper_precision = int((paper & data.poison).sum()) / max(1, int(paper.sum()))
        precision = true / count if count else 0.0
        recall = true / int(data.poison.sum())
        checks.expect(
            f"precision ≥ {pct(_PRECISION_TARGET)} and recall ≥ {pct(_RECALL_TARGET)} ({label})",
            precision >= _PRECISION_TARGET and recall >= _RECALL_TARGET,
            f"precision {pct(precision)} ({true} of {count} flagged are poisons), recall "
            f"{pct(recall)}; the paper's rule: precision {pct(paper_precision)}",
        )


def _generate(scheme: WatermarkScheme, generator: torch.Generator) -> list[int]:
    """One watermarked sequence from the Zipf unigram model: green logits get +delta."""
    ranks = torch.randperm(_VOCAB, generator=torch.Generator().manual_seed(1)).double()
    base = -torch.log(ranks + 5.0)  # a fixed Zipf-like unigram distribution over the vocabulary
    ids = [int(torch.randint(_VOCAB, (1,), generator=generator))]
    for _ in range(_TOKENS - 1):
        logits = base.clone()
        logits[scheme.green_list(ids[-1:])] += scheme.delta
        ids.append(int(torch.multinomial(logits.softmax(0), 1, generator=generator)))
    return ids


def _check_scrub(solution: Solution, checks: Checks) -> None:
    try:
        from aisec.genai.watermark import DEFAULT_Z_THRESHOLD, WatermarkScheme, detect
    except ImportError as error:
        checks.fail(
            "the watermark module imports", f"{error}; install it with pip install 'aisec[llm]'"
        )
        return
    scheme = WatermarkScheme(_VOCAB, gamma=0.25, delta=2.0, seeding="simple_1", key=_KEY)
    generator = torch.Generator().manual_seed(0)
    texts = [_generate(scheme, generator) for _ in range(_TEXTS)]
    before = [detect(scheme, ids).z_score for ids in texts]
    if min(before) <= DEFAULT_Z_THRESHOLD:
        raise RuntimeError("the checker's watermarked texts should all be detected")
    max_edits = math.floor(_EDIT_SHARE * _TOKENS)
    queries = [0]

    def z_score(ids: list[int]) -> float:
        queries[0] += 1
        return float(detect(scheme, [int(i) for i in ids]).z_score)

    after: list[float] = []
    edits: list[int] = []
    for ids in texts:
        result = solution.call("scrub", list(ids), z_score, _VOCAB, max_edits)
        if not isinstance(result, (list, tuple)) or len(result) != len(ids):
            size = len(result) if hasattr(result, "__len__") else "?"
            raise LearnerError(
                f"scrub must return a list of {len(ids)} token ids, got "
                f"{type(result).__name__} of length {size}"
            )
        if not all(isinstance(t, int) and 0 <= t < _VOCAB for t in result):
            raise LearnerError(f"scrub must return ints in [0, {_VOCAB})")
        edits.append(sum(a != b for a, b in zip(ids, result, strict=True)))
        after.append(detect(scheme, list(result)).z_score)
    checks.expect(
        f"edits at most {pct(_EDIT_SHARE)} of the tokens of every text",
        max(edits) <= max_edits,
        f"most edits in one text {max(edits)}, limit {max_edits} of {_TOKENS}",
    )
    hidden = sum(z <= DEFAULT_Z_THRESHOLD for z in after)
    checks.expect(
        f"no text is detected any more (z ≤ {DEFAULT_Z_THRESHOLD:g})",
        hidden == len(after),
        f"{hidden} of {len(after)} below the threshold; z before: median "
        f"{sorted(before)[len(before) // 2]:.1f}, after: largest {max(after):.2f}",
    )
    budget = _QUERIES_PER_TOKEN * _TOKENS * _TEXTS
    checks.expect(
        "stays within the query budget",
        queries[0] <= budget,
        f"{queries[0]} detector queries, budget {budget} ({_QUERIES_PER_TOKEN} per token)",
    )


SPECTRAL_PRECISION = Exercise(
    name="spectral_precision",
    chapter=4,
    title="Spectral signatures with precision: flag the poisons, not 1.5·ε of every class",
    statement=(
        "Tran et al. flag, in every class, the 1.5·ε share of samples with the largest "
        "(r̂·v)² (r̂ the centred features, v the class's top singular vector): every poison "
        "and many clean samples, in every class. Write a detector that flags at most "
        "⌈budget·n_c⌉ samples of each class c but reaches precision and recall of 90% on "
        "backdoored features, and flags (almost) nothing in a clean set. Decide per class "
        "whether a small, far cluster stands out along v (its share and its separation from "
        "the rest), and flag that cluster only. Beware: some clean classes have two natural "
        "sub-populations."
    ),
    functions=("flag_poisons(features: Tensor, labels: Tensor, budget: float) -> Tensor",),
    checks=(
        "at most ⌈budget·n_c⌉ flagged in every class",
        "precision ≥ 90% and recall ≥ 90% on three poisoned sets (6 classes × 200, 32 "
        "features; poisons 8–15% of one class; budget = 1.5 × that share)",
        "at most 2% of a clean set flagged (budget 15%)",
    ),
    checker=_check_spectral,
)

SCRUB_WATERMARK = Exercise(
    name="scrub_watermark",
    chapter=4,
    title="Scrub a green-list watermark with at most 30% of the tokens edited",
    statement=(
        "Twelve sequences of 100 token ids were sampled with a green-list watermark "
        "(simple_1 seeding, γ = 0.25, δ = 2, a secret key; V = 1000) and are detected with "
        "z ≫ 4. You do not know the key, but you may query the detector: z_score(ids) returns "
        "the z-score of any sequence. Replace at most max_edits tokens (same length, ids in "
        "[0, V)) so that z ≤ 4, within 3 queries per token. Random edits of 30% of the tokens "
        "are not enough: each edit re-draws two green tests (the token's and the next one's), "
        "so keep the edits that lower z most."
    ),
    functions=(
        "scrub(ids: list[int], z_score: Callable[[list[int]], float], vocab_size: int, "
        "max_edits: int) -> list[int]",
    ),
    checks=(
        "same length, ids in [0, V), at most 30 of 100 tokens changed in every text",
        "every one of the 12 texts has z ≤ 4 (aisec's detector, repeated pairs counted once)",
        "at most 3 detector queries per token",
    ),
    checker=_check_scrub,
)
