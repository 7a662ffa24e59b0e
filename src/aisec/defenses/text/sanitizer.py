"""Input sanitization against character-level and Unicode attacks.

:meth:`Sanitizer.clean` returns the cleaned text and a list of :class:`Finding` s — what was
changed and why — that a service can log, or use to flag or reject the input
(``findings`` non-empty means the input was not plain text). The steps, in order (1-6 are the
normalisation round of :mod:`aisec.unicode`, shared with the attacks and the watermark
detector):

1. invalid Unicode (lone surrogates) -> U+FFFD;
2. deletion controls (backspace, delete) applied: each erases the character before it;
3. bidi overrides, embeddings and isolates resolved to display order, controls removed;
4. invisible characters removed: every default-ignorable code point (Unicode's
   ``Default_Ignorable_Code_Point`` property: zero-width characters, the combining grapheme
   joiner, Hangul fillers, variation selectors, tag characters, ...), other format (Cf) and
   control (Cc) characters except tab, newline and carriage return, and the blank braille
   pattern ``U+2800`` (see :func:`aisec.unicode.is_invisible`);
5. Unicode NFKC normalization (fullwidth and mathematical letters, ligatures);
6. confusable folding: letters confusable with an ASCII letter or digit (Cyrillic ``а``) are
   replaced by it, from the Unicode confusables table of the maintained package
   ``confusable-homoglyphs``. Texts in a non-Latin script are affected too: disable with
   ``fold_confusables=False`` for multilingual input;
7. optional spelling correction of unknown words (``pyspellchecker``, edit distance 1), against
   character-edit attacks such as DeepWordBug.

The steps repeat until the text no longer changes (at most a few rounds), so ``clean`` is
idempotent: ``clean(clean(t)[0])[0] == clean(t)[0]``. It never raises on a ``str``.

Reference: Boucher et al., "Bad Characters: Imperceptible NLP Attacks", IEEE S&P 2022, Sec. VIII
(defenses); Unicode Technical Standard #39 (confusables).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from torch import Tensor

from aisec.models.text import TextClassifier
from aisec.unicode import (
    BIDI_PATTERN,
    DELETION_PATTERN,
    MAX_ROUNDS,
    apply_deletions,
    find_confusables,
    find_invisible,
    fold_confusables,
    remove_invisible,
    replace_surrogates,
    resolve_bidi,
)

__all__ = ["Finding", "SanitizedClassifier", "Sanitizer"]

_WORD = re.compile(r"https?://\S+|www\.\S+|[@#]\w+|([A-Za-z]+)")


@dataclass(frozen=True)
class Finding:
    """One kind of change the sanitizer made.

    Attributes:
        kind: ``invalid_unicode``, ``deletion_controls``, ``bidi_controls``, ``invisible``,
            ``nfkc``, ``confusables`` or ``spelling``.
        count: how many characters (or words, for spelling) were affected.
        detail: a human-readable description with examples.
    """

    kind: str
    count: int
    detail: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary."""
        return asdict(self)


def _describe(chars: list[str], limit: int = 5) -> str:
    unique = list(dict.fromkeys(chars))[:limit]
    return ", ".join(f"U+{ord(c):04X} {unicodedata.name(c, 'unnamed')}" for c in unique)


class Sanitizer:
    """Clean text of Unicode tricks (and optionally misspellings) and report what was found.

    Args:
        fold_confusables: map confusable letters to ASCII (step 6).
        spelling: correct unknown words with pyspellchecker (step 7; off by default).
        keep_newlines: keep tab/newline/carriage return (otherwise they count as controls).

    Reference:
        N. Boucher, I. Shumailov, R. Anderson, N. Papernot, "Bad Characters: Imperceptible NLP
        Attacks", IEEE S&P 2022 (arXiv:2106.09898), Sec. VIII (defenses).
    """

    def __init__(
        self, *, fold_confusables: bool = True, spelling: bool = False, keep_newlines: bool = True
    ) -> None:
        self.fold_confusables = fold_confusables
        self.spelling = spelling
        self.keep_newlines = keep_newlines
        self._speller: Any = None
        self._corrections: dict[str, str] = {}
        if spelling:
            try:
                from spellchecker import SpellChecker
            except ImportError as error:
                raise ValueError(
                    "spelling correction needs pyspellchecker: `pip install pyspellchecker` "
                    "(or `pip install aisec[nlp]`)"
                ) from error
            self._speller = SpellChecker(distance=1)

    def _round(self, text: str, counts: dict[str, list[str]]) -> str:
        # Each step first checks, at C speed, whether it has anything to do (e-mails are long).
        if not text.isascii():
            surrogates = [c for c in text if "\ud800" <= c <= "\udfff"]
            if surrogates:
                counts["invalid_unicode"] += surrogates
                text = replace_surrogates(text)
        deleters = DELETION_PATTERN.findall(text)
        if deleters:
            counts["deletion_controls"] += deleters
            text = apply_deletions(text)
        bidi = BIDI_PATTERN.findall(text)
        if bidi:
            counts["bidi_controls"] += bidi
            text = resolve_bidi(text)
        hidden = find_invisible(text, keep_whitespace=self.keep_newlines)
        if hidden:
            counts["invisible"] += hidden
            text = remove_invisible(text, keep_whitespace=self.keep_newlines)
        if not unicodedata.is_normalized("NFKC", text):
            counts["nfkc"] += [c for c in text if unicodedata.normalize("NFKC", c) != c]
            text = unicodedata.normalize("NFKC", text)
        if self.fold_confusables and not text.isascii():
            folded = find_confusables(text)
            if folded:
                counts["confusables"] += folded
                text = fold_confusables(text)
        return text

    def _correct(self, text: str, counts: dict[str, list[str]]) -> str:
        speller = self._speller

        def fix(match: re.Match[str]) -> str:
            word = match.group()
            if match.group(1) is None:  # URLs, mentions and hashtags are left alone
                return word
            lower = word.lower()
            if len(lower) < 3:
                return word
            if lower not in self._corrections:
                known = lower in speller
                self._corrections[lower] = lower if known else speller.correction(lower) or lower
            best = self._corrections[lower]
            if best == lower:
                return word
            counts["spelling"].append(f"{word}->{best}")
            return (
                best.upper() if word.isupper() else best.capitalize() if word[0].isupper() else best
            )

        return _WORD.sub(fix, text)

    def clean(self, text: str) -> tuple[str, list[Finding]]:
        """Sanitize ``text``.

        Args:
            text: any string (a non-string raises ``TypeError``).

        Returns:
            ``(cleaned text, findings)``; findings are empty when nothing was changed.
        """
        if not isinstance(text, str):
            raise TypeError(f"text must be a str, got {type(text).__name__}")
        counts: dict[str, list[str]] = {
            kind: []
            for kind in (
                "invalid_unicode",
                "deletion_controls",
                "bidi_controls",
                "invisible",
                "nfkc",
                "confusables",
                "spelling",
            )
        }
        for _ in range(MAX_ROUNDS):
            cleaned = self._round(text, counts)
            if self._speller is not None:
                cleaned = self._correct(cleaned, counts)
            if cleaned == text:
                break
            text = cleaned
        findings = []
        for kind, items in counts.items():
            if not items:
                continue
            if kind == "spelling":
                detail = ", ".join(list(dict.fromkeys(items))[:5])
            elif kind == "invalid_unicode":
                detail = "lone surrogates replaced by U+FFFD"
            else:
                detail = _describe(items)
            findings.append(Finding(kind, len(items), detail))
        return text, findings

    def clean_batch(self, texts: list[str]) -> list[str]:
        """Cleaned texts only (convenient as a preprocessing step before a classifier)."""
        return [self.clean(t)[0] for t in texts]


class SanitizedClassifier:
    """A classifier that sanitizes its inputs first: the defended pipeline an attacker queries.

    Attacking this object (rather than the bare model) evaluates the sanitizer *adaptively*:
    every query of the attack goes through :meth:`Sanitizer.clean_batch`.

    Args:
        model: the victim.
        sanitizer: the sanitizer (default :class:`Sanitizer`).
    """

    def __init__(self, model: TextClassifier, sanitizer: Sanitizer | None = None) -> None:
        self.model = model
        self.sanitizer = sanitizer if sanitizer is not None else Sanitizer()
        self.class_names = model.class_names

    def preprocess(self, texts: Sequence[str]) -> list[str]:
        """What the victim reads: the sanitized texts (attacks find its token window this way)."""
        return self.sanitizer.clean_batch(list(texts))

    def predict_proba(self, texts: Sequence[str], batch_size: int = 256) -> Tensor:
        """Probabilities ``(N, K)`` of the sanitized texts."""
        return self.model.predict_proba(self.preprocess(texts), batch_size)

    def predict_log_proba(self, texts: Sequence[str], batch_size: int = 256) -> Tensor:
        """Log-probabilities ``(N, K)`` of the sanitized texts.

        The victim's own (``predict_log_proba``) when it has them, so that an attack through
        the sanitizer sees exactly the score resolution it would see without it; otherwise the
        logarithm of :meth:`predict_proba`.
        """
        cleaned = self.preprocess(texts)
        log_proba = getattr(self.model, "predict_log_proba", None)
        if callable(log_proba):
            result: Tensor = log_proba(cleaned, batch_size)
            return result
        return self.model.predict_proba(cleaned, batch_size).double().log()
