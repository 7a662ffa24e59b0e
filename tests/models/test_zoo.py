from __future__ import annotations

from pathlib import Path

import pytest
import torch

from aisec.data import load as load_data
from aisec.data.imagenet_samples import IMAGENET_PHOTOS, load_photo
from aisec.models import Normalized, SmallCNN, accuracy
from aisec.zoo import list_models, load, model_spec


def test_unknown_model_lists_known_ones() -> None:
    with pytest.raises(ValueError, match="known models: 'signs-cnn'"):
        load("resnet-9000")


def test_digits_model_trains_caches_and_reloads_identically(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AISEC_CACHE", str(tmp_path))
    assert not next(s for s in list_models() if s.name == "digits-cnn").cached
    model = load("digits-cnn", progress=False)
    status = next(s for s in list_models() if s.name == "digits-cnn")
    assert status.cached and status.test_accuracy is not None and status.test_accuracy >= 0.95
    again = load("digits-cnn", progress=False)
    for a, b in zip(model.state_dict().values(), again.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    assert not again.training

    # A corrupted cache is detected and retrained (with a warning), never silently used.
    weights = tmp_path / "models" / "digits-cnn.safetensors"
    weights.write_bytes(weights.read_bytes()[:-64])
    with pytest.warns(UserWarning, match="corrupted"):
        retrained = load("digits-cnn", progress=False)
    test = load_data("digits", "test")
    assert accuracy(retrained, test.images, test.labels) >= 0.95


def test_a_checkpoint_of_an_older_recipe_is_retrained(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import dataclasses

    from aisec.zoo import catalog as zoo

    monkeypatch.setenv("AISEC_CACHE", str(tmp_path))
    load("digits-cnn", progress=False)
    assert zoo.recipe_mismatch(zoo.model_spec("digits-cnn"), _metadata(tmp_path)) is None
    retrained: list[str] = []

    def fake_train(
        name: str, *, progress: bool = True, retrain: bool = False
    ) -> tuple[torch.nn.Module, dict[str, object]]:
        retrained.append(name)
        return zoo.model_spec(name).build().eval(), {}

    monkeypatch.setattr(zoo, "train", fake_train)
    spec = zoo.model_spec("digits-cnn")
    assert spec.train_config is not None
    newer = dataclasses.replace(
        spec,
        train_config=dataclasses.replace(spec.train_config, epochs=spec.train_config.epochs + 1),
    )
    monkeypatch.setitem(zoo._ZOO, "digits-cnn", newer)
    with pytest.warns(
        UserWarning,
        match=r"does not match its current recipe \(its training configuration differs\)",
    ):
        load("digits-cnn", progress=False)
    assert retrained == ["digits-cnn"]
    monkeypatch.setitem(zoo._ZOO, "digits-cnn", spec)
    load("digits-cnn", progress=False)  # the cached checkpoint matches again: no retraining
    assert retrained == ["digits-cnn"]
    assert zoo.recipe_mismatch(spec, _metadata(tmp_path) | {"training": None}) == "training method"


def _metadata(cache: Path) -> dict[str, object]:
    from aisec.models.checkpoint import load_checkpoint

    return load_checkpoint(cache / "models" / "digits-cnn")[1]


@pytest.mark.slow
def test_signs_cnn_reaches_95_percent_on_held_out_signs() -> None:
    model = load("signs-cnn", progress=False)
    test = load_data("signs", "test", seed=0)
    assert len(test) >= 2000
    assert accuracy(model, test.images, test.labels) >= 0.95
    # a different seed: images the model has never seen, generated independently
    fresh = load_data("signs", "test", n=1000, seed=99)
    assert accuracy(model, fresh.images, fresh.labels) >= 0.93


def test_efficientnet_recognises_the_bundled_photos() -> None:
    model = load("efficientnet-lite0")
    assert isinstance(model, Normalized) and not model.training
    specs = {spec.name: spec for spec in IMAGENET_PHOTOS}
    images = torch.stack([load_photo(specs["chelsea"]), load_photo(specs["coffee"])])
    with torch.no_grad():
        logits = model(images)
    assert logits.shape == (2, 1000)
    cat_classes = {281, 282, 283, 284, 285}  # tabby, tiger cat, Persian, Siamese, Egyptian cat
    assert int(logits[0].argmax()) in cat_classes
    assert int(logits[1].argmax()) in {967, 968}  # espresso, cup


def test_normalized_wrapper_normalizes_inside() -> None:
    inner = torch.nn.Identity()
    wrapped = Normalized(inner, mean=(0.5,), std=(0.25,))
    x = torch.full((1, 1, 2, 2), 0.75)
    assert torch.allclose(wrapped(x), torch.ones(1, 1, 2, 2))
    with pytest.raises(ValueError, match="std must be positive"):
        Normalized(inner, mean=(0.5,), std=(0.0,))


def test_user_model_is_a_plain_module() -> None:
    spec = model_spec("digits-cnn")
    model = spec.build()
    assert isinstance(model, SmallCNN)
    assert model(torch.rand(3, 1, 8, 8)).shape == (3, 10)
