"""Exercise ``undo_bad_characters`` (chapter 3, docs/03-text-attacks.md): undo bad characters.

Write undo(text), which turns a text attacked with Boucher et al.'s bad characters back into the
original: resolve right-to-left overrides (U+202E … U+202C: reverse what they enclose), apply
deletion controls (a backspace erases the character before it), remove every invisible character
(every Default_Ignorable_Code_Point, variation selectors, other format Cf and control Cc
characters except tab, newline and carriage return, and the blanks U+2800 and U+1D159; the regex
package knows these properties) and fold homoglyphs to the ASCII letter they imitate
(aisec.unicode.confusable_fold_table()). The order matters. Clean English text, accents
included, must come back unchanged. Write it yourself: not with aisec's Sanitizer or
aisec.unicode.normalize.

Check it:  aisec exercise check undo_bad_characters
"""


def undo(text: str) -> str:
    """The text a reader sees, with every bad character undone."""
    raise NotImplementedError
