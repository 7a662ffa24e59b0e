"""The cache's primitives: read-only paths, entry locks, sealed tensors and folder manifests."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
import torch

from aisec.cache import (
    MANIFEST_NAME,
    CacheNotWritableError,
    CorruptCacheError,
    UnsealedCacheError,
    cache_dir,
    cache_lock,
    folder_digests,
    open_sealed_tensors,
    remove_partial_builds,
    replace_folder,
    seal_tensors,
    tensors_digest,
    verify_folder,
)
from aisec.files import atomic_write_json

_UNWRITABLE = Path("/proc/aisec-cache-test")  # not even root can create a folder in /proc


def test_a_read_only_path_is_neither_created_nor_probed(tmp_path: Path) -> None:
    assert cache_dir("models", root=_UNWRITABLE, writable=False) == _UNWRITABLE / "models"
    assert cache_dir("a", "b", root=tmp_path, writable=False) == tmp_path / "a" / "b"
    assert not (tmp_path / "a").exists()
    with pytest.raises(CacheNotWritableError, match=r"cannot write the thing: .*AISEC_CACHE"):
        cache_dir("models", root=_UNWRITABLE, purpose="the thing")
    assert issubclass(CacheNotWritableError, ValueError)


def _hold(entry: Path, shared: bool, seconds: float, events: list[str], name: str) -> None:
    with cache_lock(entry, shared=shared):
        events.append(f"{name} in")
        time.sleep(seconds)
        events.append(f"{name} out")


def _run_two(entry: Path, first_shared: bool, second_shared: bool) -> list[str]:
    events: list[str] = []
    first = threading.Thread(target=_hold, args=(entry, first_shared, 0.3, events, "first"))
    first.start()
    while not events:
        time.sleep(0.01)
    second = threading.Thread(target=_hold, args=(entry, second_shared, 0.0, events, "second"))
    second.start()
    first.join()
    second.join()
    return events


def test_an_exclusive_lock_makes_the_others_wait(tmp_path: Path) -> None:
    entry = tmp_path / "model"
    events = _run_two(entry, first_shared=False, second_shared=False)
    assert events == ["first in", "first out", "second in", "second out"]
    assert _run_two(entry, first_shared=False, second_shared=True)[:2] == ["first in", "first out"]
    assert (tmp_path / "model.lock").exists()


def test_readers_share_their_lock(tmp_path: Path) -> None:
    events = _run_two(tmp_path / "model", first_shared=True, second_shared=True)
    assert events[:2] == ["first in", "second in"]


def test_a_reader_of_a_read_only_cache_goes_on_without_a_lock() -> None:
    with cache_lock(_UNWRITABLE / "model", shared=True):
        pass
    with pytest.raises(OSError), cache_lock(_UNWRITABLE / "model"):
        pass


def _tensors() -> dict[str, torch.Tensor]:
    return {
        "weight": torch.randn(3, 4, generator=torch.Generator().manual_seed(0)),
        "half": torch.ones(2, dtype=torch.bfloat16),
        "scalar": torch.tensor(7, dtype=torch.int64),
        "flags": torch.tensor([True, False]),
        "empty": torch.zeros(0, 5),
    }


def test_sealed_tensors_round_trip_exactly() -> None:
    tensors = _tensors()
    loaded, metadata = open_sealed_tensors(seal_tensors(tensors, '{"a": 1}'))
    assert metadata == '{"a": 1}' and loaded.keys() == tensors.keys()
    for name, value in tensors.items():
        assert loaded[name].dtype == value.dtype and torch.equal(loaded[name], value)


def test_the_digest_covers_content_not_layout() -> None:
    tensors = _tensors()
    reordered = dict(reversed(list(tensors.items())))
    assert tensors_digest(tensors, "m") == tensors_digest(reordered, "m")
    assert tensors_digest(tensors, "m") != tensors_digest(tensors, "n")
    changes = {
        "value": {**tensors, "weight": tensors["weight"] + 1e-7},
        "dtype": {**tensors, "weight": tensors["weight"].double()},
        "shape": {**tensors, "weight": tensors["weight"].reshape(4, 3)},
        "name": {**{k: v for k, v in tensors.items() if k != "weight"}, "w": tensors["weight"]},
    }
    for what, changed in changes.items():
        assert tensors_digest(changed, "m") != tensors_digest(tensors, "m"), what


def test_a_changed_byte_anywhere_in_the_content_is_detected() -> None:
    data = seal_tensors({"w": torch.arange(256, dtype=torch.float32)}, '{"class": "good"}')
    header_end = 8 + int.from_bytes(data[:8], "little")
    tampered = bytearray(data)
    tampered[header_end + 100] ^= 0x01
    with pytest.raises(CorruptCacheError, match="does not match its SHA-256"):
        open_sealed_tensors(bytes(tampered))
    edited = data.replace(b"good", b"evil")
    with pytest.raises(CorruptCacheError, match="does not match its SHA-256"):
        open_sealed_tensors(edited)
    with pytest.raises(CorruptCacheError):
        open_sealed_tensors(data[: len(data) - 10])
    with pytest.raises(CorruptCacheError):
        open_sealed_tensors(b"")


def test_a_foreign_safetensors_file_is_not_trusted() -> None:
    from safetensors.torch import save

    with pytest.raises(UnsealedCacheError, match="no aisec integrity seal"):
        open_sealed_tensors(save({"w": torch.ones(2)}))


def _folder_with_manifest(tmp_path: Path) -> Path:
    folder = tmp_path / "entry"
    (folder / "sub").mkdir(parents=True)
    (folder / "weights.bin").write_bytes(bytes(range(256)) * 64)
    (folder / "sub" / "config.json").write_text("{}")
    atomic_write_json(folder / MANIFEST_NAME, {"files": folder_digests(folder), "format": 1})
    return folder


@pytest.mark.parametrize("damage", ["change", "remove", "add", "manifest"])
def test_a_folder_entry_is_verified_file_by_file(tmp_path: Path, damage: str) -> None:
    folder = _folder_with_manifest(tmp_path)
    assert verify_folder(folder)["format"] == 1
    if damage == "change":
        data = bytearray((folder / "weights.bin").read_bytes())
        data[8000:8004] = b"\xff\xff\xff\xff"
        (folder / "weights.bin").write_bytes(bytes(data))
        match = "weights.bin does not match"
    elif damage == "remove":
        (folder / "sub" / "config.json").unlink()
        match = "sub/config.json is missing"
    elif damage == "add":
        (folder / "generation_config.json").write_text("{}")
        match = "generation_config.json is not listed"
    else:
        (folder / MANIFEST_NAME).unlink()
        match = "manifest"
    with pytest.raises(CorruptCacheError, match=match):
        verify_folder(folder)
    with pytest.raises(FileNotFoundError):
        verify_folder(tmp_path / "nothing")


def test_replace_folder_swaps_a_whole_folder_and_leftovers_are_removed(tmp_path: Path) -> None:
    target = _folder_with_manifest(tmp_path)
    staging = tmp_path / ".entry.123.tmp"
    staging.mkdir()
    (staging / "new.txt").write_text("new")
    replace_folder(staging, target)
    assert sorted(p.name for p in target.iterdir()) == ["new.txt"]
    assert not staging.exists() and not list(tmp_path.glob(".entry.*"))
    (tmp_path / ".entry.old-x").mkdir()
    (tmp_path / ".entry.safetensors.y.tmp").write_text("partial")
    (tmp_path / ".other.z.tmp").write_text("someone else's")
    remove_partial_builds(target)
    assert sorted(p.name for p in tmp_path.iterdir()) == [".other.z.tmp", "entry"]
