"""Exercise ``scrub_watermark`` (chapter 4, docs/04-generative-ai.md): scrub a watermark.

Twelve sequences of 100 token ids were sampled with a green-list watermark (simple_1 seeding,
γ = 0.25, δ = 2, a secret key; V = 1000) and are detected with z ≫ 4. You do not know the key,
but you may query the detector: z_score(ids) returns the z-score of any sequence. Replace at most
max_edits tokens (same length, ids in [0, V)) so that z ≤ 4, within 3 queries per token. Random
edits of 30% of the tokens are not enough: each edit re-draws two green tests (the token's and
the next one's), so keep the edits that lower z most.

Check it:  aisec exercise check scrub_watermark
"""

from collections.abc import Callable


def scrub(
    ids: list[int], z_score: Callable[[list[int]], float], vocab_size: int, max_edits: int
) -> list[int]:
    """``ids`` with at most ``max_edits`` tokens replaced, so that ``z_score`` is 4 or less."""
    raise NotImplementedError
