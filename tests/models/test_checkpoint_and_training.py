from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from aisec.data import load as load_data
from aisec.models import (
    CorruptCheckpointError,
    SmallCNN,
    TrainConfig,
    accuracy,
    load_checkpoint,
    save_checkpoint,
    train_classifier,
)


def _tiny_model(seed: int = 0) -> SmallCNN:
    torch.manual_seed(seed)
    return SmallCNN(1, 10, widths=(8, 16), hidden=16)


def test_checkpoint_round_trips_bit_exactly(tmp_path: Path) -> None:
    model = _tiny_model()
    state = model.state_dict()
    save_checkpoint(tmp_path / "ckpt", dict(state), {"note": "hello", "epoch": 3})
    tensors, meta = load_checkpoint(tmp_path / "ckpt")
    assert meta == {"note": "hello", "epoch": 3}
    assert tensors.keys() == state.keys()
    for key, value in state.items():
        assert torch.equal(tensors[key], value) and tensors[key].dtype == value.dtype


@pytest.mark.parametrize("damage", ["truncate", "flip-tensor", "flip-metadata", "forge"])
def test_corrupted_checkpoint_is_detected(tmp_path: Path, damage: str) -> None:
    save_checkpoint(tmp_path / "ckpt", dict(_tiny_model().state_dict()), {"accuracy": 0.5})
    tensor_file = tmp_path / "ckpt.safetensors"
    assert not (tmp_path / "ckpt.json").exists()  # one file: tensors and metadata together
    data = bytearray(tensor_file.read_bytes())
    if damage == "truncate":
        tensor_file.write_bytes(bytes(data[: len(data) // 2]))
    elif damage == "flip-tensor":
        data[-5] ^= 0xFF
        tensor_file.write_bytes(bytes(data))
    elif damage == "flip-metadata":  # the same length: the header stays readable
        tensor_file.write_bytes(bytes(data).replace(b"0.5", b"0.9"))
    else:  # rewritten with other metadata under the old seal
        from safetensors.torch import load, save

        header_size = int.from_bytes(data[:8], "little")
        meta = json.loads(data[8 : 8 + header_size])["__metadata__"]
        meta["aisec.metadata"] = json.dumps({"accuracy": 0.99})
        tensor_file.write_bytes(save(load(bytes(data)), metadata=meta))
    with pytest.raises(CorruptCheckpointError, match="does not verify"):
        load_checkpoint(tmp_path / "ckpt")


def test_old_two_file_checkpoint_is_not_trusted(tmp_path: Path) -> None:
    from safetensors.torch import save_file

    from aisec.models.checkpoint import checkpoint_exists

    save_file(dict(_tiny_model().state_dict()), tmp_path / "old.safetensors")
    (tmp_path / "old.json").write_text('{"sha256": "x", "metadata": {}}')
    with pytest.warns(UserWarning, match="no integrity seal"):
        assert not checkpoint_exists(tmp_path / "old")
    with pytest.raises(CorruptCheckpointError, match="no aisec integrity seal"):
        load_checkpoint(tmp_path / "old")
    save_checkpoint(tmp_path / "old", {"w": torch.ones(2)}, {"new": True})
    assert checkpoint_exists(tmp_path / "old") and not (tmp_path / "old.json").exists()
    assert load_checkpoint(tmp_path / "old")[1] == {"new": True}


def test_a_name_with_a_dot_keeps_its_whole_name(tmp_path: Path) -> None:
    save_checkpoint(tmp_path / "model-noise0.02", {"w": torch.ones(1)}, {"sigma": 0.02})
    save_checkpoint(tmp_path / "model-noise0.05", {"w": torch.zeros(1)}, {"sigma": 0.05})
    assert load_checkpoint(tmp_path / "model-noise0.02")[1] == {"sigma": 0.02}
    assert load_checkpoint(tmp_path / "model-noise0.05")[1] == {"sigma": 0.05}


def test_metadata_that_json_cannot_encode_leaves_the_checkpoint_alone(tmp_path: Path) -> None:
    save_checkpoint(tmp_path / "ckpt", {"w": torch.ones(1)}, {"epoch": 1})
    with pytest.raises(TypeError):
        save_checkpoint(tmp_path / "ckpt", {"w": torch.zeros(1)}, {"epoch": object()})
    assert load_checkpoint(tmp_path / "ckpt")[1] == {"epoch": 1}


def test_missing_checkpoint_is_file_not_found(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        load_checkpoint(tmp_path / "nothing")
    save_checkpoint(tmp_path / "deleted", {"w": torch.ones(1)}, {})
    (tmp_path / "deleted.safetensors").unlink()
    with pytest.raises(FileNotFoundError):
        load_checkpoint(tmp_path / "deleted")


def test_interrupted_training_resumes_to_identical_weights(tmp_path: Path) -> None:
    data = load_data("digits", "train", n=400, seed=0)
    config = TrainConfig(epochs=3, batch_size=64, lr=3e-3, seed=1)

    reference = _tiny_model()
    train_classifier(reference, data.images, data.labels, config, progress=False)

    def interrupt_after_first_epoch(epoch: int, metrics: dict[str, float]) -> None:
        if epoch == 0:
            raise KeyboardInterrupt

    interrupted = _tiny_model()
    with pytest.raises(KeyboardInterrupt):
        train_classifier(
            interrupted,
            data.images,
            data.labels,
            config,
            checkpoint_dir=tmp_path,
            on_epoch_end=interrupt_after_first_epoch,
            progress=False,
        )
    resumed = _tiny_model(seed=123)  # a fresh process: different initial weights
    result = train_classifier(
        resumed, data.images, data.labels, config, checkpoint_dir=tmp_path, progress=False
    )
    assert result.resumed_from_epoch == 1 and result.epochs_run == 2
    assert [h["epoch"] for h in result.history] == [0.0, 1.0, 2.0]
    for (name, expected), actual in zip(
        reference.state_dict().items(), resumed.state_dict().values(), strict=True
    ):
        assert torch.equal(expected, actual), name


def test_checkpoint_of_another_configuration_is_not_resumed(tmp_path: Path) -> None:
    data = load_data("digits", "train", n=128, seed=0)
    train_classifier(
        _tiny_model(),
        data.images,
        data.labels,
        TrainConfig(epochs=1, batch_size=64),
        checkpoint_dir=tmp_path,
        progress=False,
    )
    result = train_classifier(
        _tiny_model(),
        data.images,
        data.labels,
        TrainConfig(epochs=2, batch_size=64),
        checkpoint_dir=tmp_path,
        progress=False,
    )
    assert result.resumed_from_epoch == 0 and result.epochs_run == 2


def test_training_reduces_loss_and_learns() -> None:
    data = load_data("digits", "train", n=600, seed=0)
    test = load_data("digits", "test")
    model = _tiny_model()
    result = train_classifier(
        model, data.images, data.labels, TrainConfig(epochs=10, batch_size=32), progress=False
    )
    assert result.history[-1]["loss"] < result.history[0]["loss"]
    assert accuracy(model, test.images, test.labels) > 0.85


def test_training_rejects_mismatched_inputs() -> None:
    with pytest.raises(ValueError, match=r"labels \(N,\)"):
        train_classifier(_tiny_model(), torch.zeros(4, 1, 8, 8), torch.zeros(3, dtype=torch.long))
    with pytest.raises(ValueError, match="epochs and batch_size"):
        TrainConfig(epochs=0)


def test_accuracy_refuses_nan_logits() -> None:
    from aisec.models.training import accuracy

    class NaNModel(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.full((x.shape[0], 3), float("nan"))

    model = NaNModel().train()
    with pytest.raises(ValueError, match="NaN or infinite logits"):
        accuracy(model, torch.rand(4, 1, 2, 2), torch.zeros(4, dtype=torch.long))
    assert model.training  # the mode is restored even when it raises
