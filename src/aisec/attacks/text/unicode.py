"""Unicode "bad characters" (Boucher et al. 2022): the attack's view of :mod:`aisec.unicode`.

Four families of imperceptible perturbations, drawn by
:class:`~aisec.attacks.text.transformations.BadCharacters`:

- **invisible characters** (:data:`INVISIBLE_CHARACTERS` by default, or any set of characters
  that :func:`is_invisible` accepts, e.g. :func:`insertable_invisible_characters`): zero-width
  space/joiners and the word joiner, which render as nothing;
- **homoglyphs** (:func:`homoglyphs_of`): a letter replaced by a confusable character from
  another script (Cyrillic ``а`` for Latin ``a``); only homoglyphs that NFKC does *not* map
  back are used;
- **reorderings**: a word written backwards inside a right-to-left override (:data:`RLO` ...
  :data:`PDF`), which a bidi-aware renderer displays in the original order;
- **deletions**: a letter followed by a :data:`BACKSPACE`, which terminals and some renderers
  erase.

:func:`visible_text` renders a string the way a reader would see it, so that an attack can check
that it changed nothing visible. The tables and the normalisation live in :mod:`aisec.unicode`,
shared with the sanitizer and the watermark detector; this module re-exports what the attacks
use.

Reference: Boucher, Shumailov, Anderson, Papernot, "Bad Characters: Imperceptible NLP Attacks",
IEEE S&P 2022.
"""

from __future__ import annotations

from aisec.unicode import (
    BACKSPACE,
    BIDI_CONTROLS,
    DELETION_CONTROLS,
    INVISIBLE_CHARACTERS,
    PDF,
    RLO,
    apply_deletions,
    confusable_fold_table,
    default_ignorable_characters,
    homoglyphs_of,
    insertable_invisible_characters,
    is_invisible,
    resolve_bidi,
    visible_text,
)

__all__ = [
    "BACKSPACE",
    "BIDI_CONTROLS",
    "DELETION_CONTROLS",
    "INVISIBLE_CHARACTERS",
    "PDF",
    "RLO",
    "apply_deletions",
    "confusable_fold_table",
    "default_ignorable_characters",
    "homoglyphs_of",
    "insertable_invisible_characters",
    "is_invisible",
    "resolve_bidi",
    "visible_text",
]
