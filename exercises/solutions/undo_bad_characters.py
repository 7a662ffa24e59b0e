"""Reference solution of the ``undo_bad_characters`` exercise (chapter 3)."""

import regex

from aisec.unicode import confusable_fold_table

RLO, PDF, BACKSPACE = "\u202e", "\u202c", "\b"
_INVISIBLE = regex.compile(
    r"[[\p{Default_Ignorable_Code_Point}\p{Variation_Selector}\p{Cf}\p{Cc}\u2800\U0001D159]"
    r"--[\t\n\r\b]]",
    regex.V1,
)  # the backspace is kept here: it is applied before the invisible characters go


def _resolve_overrides(text: str) -> str:
    """Reverse what each right-to-left override encloses, and drop the controls."""
    out: list[str] = []
    stack: list[list[str]] = []
    for char in text:
        if char == RLO:
            stack.append([])
        elif char == PDF and stack:
            reversed_part = stack.pop()[::-1]
            (stack[-1] if stack else out).extend(reversed_part)
        else:
            (stack[-1] if stack else out).append(char)
    while stack:  # an override that is never closed runs to the end
        reversed_part = stack.pop()[::-1]
        (stack[-1] if stack else out).extend(reversed_part)
    return "".join(out)


def _apply_backspaces(text: str) -> str:
    kept: list[str] = []
    for char in text:
        if char in (BACKSPACE, "\x7f"):
            if kept:
                kept.pop()
        else:
            kept.append(char)
    return "".join(kept)


def undo(text: str) -> str:
    """The text a reader sees, with every bad character undone."""
    text = _apply_backspaces(_resolve_overrides(text))
    text = _INVISIBLE.sub("", text)
    fold = confusable_fold_table()
    return "".join(fold.get(char, char) for char in text)
