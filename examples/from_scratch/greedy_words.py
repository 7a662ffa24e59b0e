"""Greedy word substitution by word importance (TextFooler's search), in plain Python.

Quoted in docs/03-text-attacks.md ("Greedy word substitution, written yourself");
tests/docs/test_from_scratch.py checks that the quote is this file and that it returns the same
text as aisec's ``GreedyWordImportance`` search with the same candidates.

Reference: D. Jin, Z. Jin, J. T. Zhou, P. Szolovits, "Is BERT Really Robust? A Strong Baseline
for Natural Language Attack on Text Classification and Entailment", AAAI 2020 (Algorithm 1).
"""

from collections.abc import Callable, Mapping, Sequence

from torch import Tensor


def greedy_word_swap(
    predict_proba: Callable[[list[str]], Tensor],
    text: str,
    label: int,
    candidates: Mapping[str, Sequence[str]],
) -> str:
    """Swap words of ``text`` (split on spaces) for ``candidates`` until the label flips."""
    words = text.split(" ")

    def p_label(variants: list[list[str]]) -> Tensor:  # p(label | text) of each variant, (n,)
        return predict_proba([" ".join(v) for v in variants])[:, label]

    def swap(current: list[str], i: int, new: str) -> list[str]:
        return [*current[:i], new, *current[i + 1 :]]

    first = predict_proba([text])[0]
    slots = [i for i, w in enumerate(words) if candidates.get(w)]
    if int(first.argmax()) != label or not slots:  # already wrong, or nothing to swap
        return text
    base = float(first[label])
    drops = base - p_label([swap(words, i, "") for i in slots])  # importance: delete the word
    order = sorted(range(len(slots)), key=lambda k: float(drops[k]), reverse=True)
    current, best = words, base
    for i in (slots[k] for k in order):
        options = [swap(current, i, new) for new in candidates[words[i]] if new != words[i]]
        probs = predict_proba([" ".join(o) for o in options])
        fooled = (probs.argmax(1) != label).nonzero()
        if len(fooled):  # the label flipped: done
            return " ".join(options[int(fooled[0])])
        k = int(probs[:, label].argmin())
        if float(probs[k, label]) < best:  # keep the swap that lowers p(label) most
            current, best = options[k], float(probs[k, label])
    return " ".join(current)
