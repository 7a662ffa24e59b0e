from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest
import torch

from aisec.cache import cache_dir
from aisec.data import list_datasets, load


def test_digits_split_shapes_ranges_and_disjointness() -> None:
    train, test = load("digits", "train"), load("digits", "test")
    assert train.images.shape[1:] == (1, 8, 8) and train.images.dtype == torch.float32
    assert float(train.images.min()) >= 0.0 and float(train.images.max()) <= 1.0
    assert len(train) + len(test) == 1797
    assert set(train.labels.tolist()) == set(range(10)) == set(test.labels.tolist())
    # no test image is also a train image
    flat_train = {tuple(x.flatten().tolist()) for x in train.images}
    overlap = sum(tuple(x.flatten().tolist()) in flat_train for x in test.images)
    assert overlap < 5  # the raw data holds a few exact duplicates; the split itself is disjoint


def test_subset_is_deterministic_and_balanced() -> None:
    first = load("digits", "test", n=100, seed=3)
    again = load("digits", "test", n=100, seed=3)
    other = load("digits", "test", n=100, seed=4)
    assert torch.equal(first.images, again.images) and torch.equal(first.labels, again.labels)
    assert not torch.equal(first.labels, other.labels) or not torch.equal(
        first.images, other.images
    )
    counts = torch.bincount(first.labels, minlength=10)
    assert int(counts.min()) == int(counts.max()) == 10


def test_signs_are_cached_and_identical_on_reload(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AISEC_CACHE", str(tmp_path))
    first = load("signs", "test", n=60, seed=5)
    cached = list((tmp_path / "data" / "signs").glob("*.safetensors"))
    assert len(cached) == 1
    again = load("signs", "test", n=60, seed=5)
    assert torch.equal(first.images, again.images) and torch.equal(first.labels, again.labels)
    train = load("signs", "train", n=60, seed=5)
    assert not torch.equal(train.images, first.images)  # splits are distinct streams
    counts = torch.bincount(first.labels, minlength=first.num_classes)
    assert int(counts.max()) - int(counts.min()) <= 1


def test_corrupted_signs_cache_is_regenerated(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AISEC_CACHE", str(tmp_path))
    first = load("signs", "test", n=24, seed=1)
    (path,) = (tmp_path / "data" / "signs").glob("*.safetensors")
    path.write_bytes(path.read_bytes()[:100])
    again = load("signs", "test", n=24, seed=1)
    assert torch.equal(first.images, again.images)


def test_imagenet_samples_are_real_labelled_photos() -> None:
    photos = load("imagenet_samples", "test")
    assert photos.images.shape[1:] == (3, 224, 224)
    assert photos.num_classes == 1000
    assert float(photos.images.std()) > 0.1  # real photos, not blank tensors
    small = load("imagenet_samples", "test", image_size=64)
    assert small.images.shape[-1] == 64


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"name": "imagenet"}, ValueError, "known datasets: 'signs'"),
        ({"name": "digits", "split": "validation"}, ValueError, "split must be one of"),
        ({"name": "digits", "n": 10_000}, ValueError, "larger than the 'train' split"),
        ({"name": "digits", "n": 0}, ValueError, "at least 1"),
        ({"name": "digits", "n": 2.5}, TypeError, "n must be an int"),
        ({"name": "digits", "image_size": 32}, ValueError, "8×8"),
        ({"name": "signs", "image_size": 4}, ValueError, "between 8 and 512"),
        ({"name": "digits", "seed": "0"}, TypeError, "seed must be an int"),
    ],
)
def test_bad_arguments_raise_clear_errors(
    kwargs: dict[str, object], error: type[Exception], match: str
) -> None:
    name = kwargs.pop("name")
    with pytest.raises(error, match=match):
        load(name, **kwargs)  # type: ignore[arg-type]


def test_online_dataset_fails_fast_offline_naming_alternatives(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AISEC_CACHE", str(tmp_path))

    def refuse(*args: object, **kwargs: object) -> None:
        raise OSError("network is unreachable (simulated)")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    with pytest.raises(ValueError, match="Offline alternatives: 'signs'"):
        load("mnist", "test")


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere")
def test_unwritable_cache_is_a_clear_error(tmp_path: Path) -> None:  # pragma: no cover - root
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    with pytest.raises(ValueError, match="AISEC_CACHE"):
        cache_dir("x", root=locked)


def test_cache_that_is_a_file_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    with pytest.raises(ValueError, match=r"not writable.*AISEC_CACHE"):
        cache_dir("models", root=blocker)


def test_every_listed_dataset_has_a_description() -> None:
    infos = list_datasets()
    assert {i.name for i in infos} >= {"signs", "digits", "imagenet_samples", "mnist"}
    assert all(i.description for i in infos)
