"""Text attacks for people: changed words highlighted, and an attack run written to a folder.

:func:`write_attack_report` writes ``metrics.json`` and lists of examples (Markdown and HTML);
:func:`write_text_attack` does so for an :class:`~aisec.experiments.text.TextAttackOutcome`
(what ``aisec text-attack --out DIR`` writes). ``metrics.json`` keys:

- ``recipe``: the recipe's name; ``model``: the victim's name; ``n``: examples attacked;
  ``seed``: the data seed;
- ``summary``: :class:`~aisec.attacks.text.attack.AttackSummary` — ``examples``, ``skipped``,
  ``succeeded``, ``failed``, ``clean_accuracy``, ``accuracy_under_attack``, ``success_rate``,
  ``mean_words_changed_pct``, ``mean_queries``, ``mean_similarity``, ``seconds``,
  ``mean_gradients`` (victim gradients per attacked example; white-box searches only);
- ``config``: the attack's four parts (goal, transformation, constraints, search);
- ``sanitized_accuracy``: victim accuracy on the adversarial texts after
  :class:`~aisec.defenses.text.Sanitizer` (when computed), and ``sanitizer_flagged``: the
  fraction of successful adversarial texts the sanitizer reported findings for;
- ``search``: the search used (``"default"``: the recipe's own), from
  :func:`write_text_attack`.

``examples.md`` and ``examples.html`` list every example with the changed words highlighted;
invisible and non-ASCII characters are shown as ``\\uXXXX`` escapes so that the change is
visible. ``results.json`` holds every example's result.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aisec.attacks.text.attack import AttackRun, TextAttackResult
from aisec.attacks.text.core import AttackText
from aisec.files import atomic_write_json, atomic_write_text

if TYPE_CHECKING:
    from aisec.experiments.text import TextAttackOutcome

__all__ = ["escape_invisible", "highlight", "write_attack_report", "write_text_attack"]


def escape_invisible(text: str) -> str:
    """Show non-ASCII and control characters as ``\\uXXXX`` (printable ASCII unchanged)."""
    return "".join(
        c if (c.isascii() and c.isprintable()) or c == " " else f"\\u{ord(c):04x}" for c in text
    )


def highlight(result: TextAttackResult, *, style: str = "markdown") -> str:
    """The adversarial text with each change marked.

    A replaced word is shown as ``original -> replacement`` (markdown ``~~old~~ **new**``, HTML
    ``<del>``/``<ins>``); an inserted word or sentence as ``**+inserted**`` (HTML ``<ins>``).

    Args:
        result: an attacked example.
        style: ``"markdown"`` or ``"html"``.
    """
    text = AttackText.from_text(result.original)
    changed = dict(zip(result.changed_indices, result.adversarial_words, strict=True))

    def plain(value: str) -> str:
        return html.escape(value) if style == "html" else value

    words = []
    for i, word in enumerate(text.words):
        if i not in changed:
            words.append(plain(word))
            continue
        new = escape_invisible(changed[i])
        if style == "html":
            words.append(f"<del>{html.escape(word)}</del><ins>{html.escape(new)}</ins>")
        else:
            words.append(f"~~{word}~~ **{new}**")
    insertions = tuple(
        (gap, f"<ins>{html.escape(piece)}</ins>" if style == "html" else f"**+{piece}**")
        for gap, piece in result.insertions
    )
    marked = AttackText(tuple(words), tuple(plain(gap) for gap in text.gaps), insertions=insertions)
    return marked.text


def write_attack_report(
    run: AttackRun,
    out_dir: str | Path,
    *,
    model: str,
    seed: int,
    class_names: Sequence[str],
    extra: dict[str, Any] | None = None,
) -> list[Path]:
    """Write ``metrics.json``, ``examples.md`` and ``examples.html`` into ``out_dir``.

    Args:
        run: the attack run.
        out_dir: the folder (created).
        model: the victim's name.
        seed: the data seed.
        class_names: the victim's class names.
        extra: more top-level keys for ``metrics.json`` (e.g. sanitizer results).

    Returns:
        The written paths.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    metrics: dict[str, Any] = {
        "recipe": run.recipe,
        "model": model,
        "n": len(run.results),
        "seed": seed,
        "summary": run.summary.to_dict() if run.summary else None,
        "config": run.config,
    } | (extra or {})
    paths = [out / "metrics.json", out / "examples.md", out / "examples.html", out / "results.json"]
    atomic_write_json(paths[0], metrics, default=str)
    lines = [f"# {run.recipe} on {model}", ""]
    rows = ["<html><head><meta charset='utf-8'><title>aisec text attack</title></head><body>"]
    rows.append(f"<h1>{html.escape(run.recipe)} on {html.escape(model)}</h1><ol>")
    for r in run.results:
        changes = f"{r.words_changed}/{r.num_words} words"
        if r.words_added or r.words_deleted:
            changes += f", {r.words_added} added, {r.words_deleted} deleted"
        verdict = (
            f"{r.status}: {class_names[r.original_prediction]} -> "
            f"{class_names[r.adversarial_prediction]} ({changes}, "
            f"{r.queries} queries"
            + (f", similarity {r.similarity:.3f}" if r.similarity is not None else "")
            + ")"
        )
        lines += [f"1. **{verdict}**", f"   - original: {r.original}"]
        if r.adversarial != r.original:
            lines.append(f"   - adversarial: {highlight(r)}")
        rows.append(f"<li><b>{html.escape(verdict)}</b><br>{html.escape(r.original)}")
        if r.adversarial != r.original:
            rows.append(f"<br>{highlight(r, style='html')}")
        rows.append("</li>")
    rows.append("</ol></body></html>")
    atomic_write_text(paths[1], "\n".join(lines) + "\n")
    atomic_write_text(paths[2], "\n".join(rows) + "\n")
    atomic_write_json(paths[3], run.to_dict(), default=str)
    return paths


def write_text_attack(outcome: TextAttackOutcome, out_dir: str | Path) -> list[Path]:
    """Write an ``aisec text-attack`` outcome into ``out_dir`` (see :func:`write_attack_report`).

    Args:
        outcome: the outcome of :func:`aisec.experiments.text.run`.
        out_dir: the folder (created).

    Returns:
        The written paths: ``metrics.json`` (:meth:`TextAttackOutcome.to_dict`),
        ``examples.md``, ``examples.html`` and ``results.json``.
    """
    return write_attack_report(
        outcome.run,
        out_dir,
        model=outcome.model,
        seed=outcome.seed,
        class_names=outcome.class_names,
        extra={
            "search": outcome.search,
            "dataset": outcome.dataset,
            "test_accuracy": outcome.test_accuracy,
            "ham_false_positive_rate": outcome.ham_false_positive_rate,
        }
        | outcome.sanitizer.to_dict(),
    )
