"""Model sources: every kind of model built here, saved, loaded back and attacked the same way.

One tiny CNN (with batch norm whose running statistics matter, so eval mode matters) is saved as
safetensors, as a state dict, as TorchScript (traced and scripted), as ONNX, and rebuilt with the
same weights as a Keras 3 model on the torch backend; a tiny ViT is saved as a Hugging Face
folder. Each source must give the original's logits (1e-5; ONNX 1e-4 against onnxruntime) and
PGD at one seed must give the original's robust accuracy through each of them.
"""

from __future__ import annotations

import json
import sys
import textwrap
import types
import warnings
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import save_file
from torch import Tensor, nn

from aisec.attacks import PGD, SquareAttack
from aisec.models.sources import (
    HuggingFaceSource,
    KerasSource,
    LoadedModel,
    ModelSourceWarning,
    ModuleSource,
    OnnxMismatchError,
    OnnxRuntimeSource,
    OnnxSource,
    TorchScriptSource,
    TorchvisionSource,
    ZooName,
    import_keras,
    load_model_source,
    onnx_source,
    parse_model_source,
)
from aisec.threat import ThreatModel

# Third-party deprecations outside aisec: the legacy ONNX exporter (the one onnx2torch can read)
# and Keras's numpy conversion under numpy 2.
pytestmark = [
    pytest.mark.filterwarnings("ignore:You are using the legacy TorchScript-based ONNX export"),
    pytest.mark.filterwarnings("ignore:The feature will be removed:DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword"),
]

SIZE = 16
FACTORY_MODULE = "aisec_test_tiny_nets"
FACTORY_CODE = textwrap.dedent(
    """
    from torch import nn

    def build():
        return nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
            nn.Linear(8, 3),
        )

    def build_probabilities():
        return nn.Sequential(build(), nn.Softmax(dim=1))
    """
)
EPS = 0.05


@dataclass(frozen=True)
class Files:
    folder: Path
    net: nn.Module
    safetensors: Path
    state_dict: Path
    traced: Path
    scripted: Path
    onnx: Path
    keras: Path


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Files]:
    folder = tmp_path_factory.mktemp("sources")
    (folder / f"{FACTORY_MODULE}.py").write_text(FACTORY_CODE)
    with pytest.MonkeyPatch.context() as patch:
        patch.syspath_prepend(str(folder))
        net = _reference_net()
        x = torch.rand(2, 3, SIZE, SIZE)
        save_file(net.state_dict(), folder / "net.safetensors")
        torch.save(net.state_dict(), folder / "net.pt")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # torch.jit is deprecated upstream
            torch.jit.save(torch.jit.trace(net, x), str(folder / "traced.ts"))
            torch.jit.save(torch.jit.script(net), str(folder / "scripted.pt"))
        _export_onnx(net, x, folder / "net.onnx")
        keras_file = folder / "net.keras"
        _keras_copy(net).save(str(keras_file))
        yield Files(
            folder=folder,
            net=net,
            safetensors=folder / "net.safetensors",
            state_dict=folder / "net.pt",
            traced=folder / "traced.ts",
            scripted=folder / "scripted.pt",
            onnx=folder / "net.onnx",
            keras=keras_file,
        )
        sys.modules.pop(FACTORY_MODULE, None)


def _export_onnx(net: nn.Module, example: Tensor, path: Path) -> None:
    """The legacy exporter at opset 17 (what onnx2torch converts), with a dynamic batch."""
    torch.onnx.export(
        net,
        (example,),
        str(path),
        dynamo=False,
        opset_version=17,
        input_names=["input"],
        output_names=["output"],
        dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}},
    )


def _reference_net() -> nn.Module:
    """The tiny CNN with seeded weights and batch-norm statistics (the same on every run)."""
    module = __import__(FACTORY_MODULE)
    generator = torch.Generator().manual_seed(0)
    with torch.random.fork_rng():
        torch.manual_seed(0)
        net: nn.Module = module.build()
    with torch.no_grad():
        net[1].running_mean.uniform_(-0.3, 0.3, generator=generator)
        net[1].running_var.uniform_(0.5, 2.0, generator=generator)
        net[8].weight.mul_(20.0)  # logits far enough apart that PGD breaks some points, not all
        net[8].bias.zero_()
    return net.eval()


def _keras_copy(net: nn.Module) -> Any:
    """The tiny CNN rebuilt in Keras 3 (torch backend) with the same weights, channels-last."""
    keras = import_keras()
    layers = keras.layers
    model = keras.Sequential(
        [
            keras.Input((SIZE, SIZE, 3)),
            layers.Conv2D(8, 3, padding="same"),
            layers.BatchNormalization(epsilon=1e-5),
            layers.ReLU(),
            layers.MaxPooling2D(2),
            layers.Conv2D(8, 3, padding="same"),
            layers.ReLU(),
            layers.GlobalAveragePooling2D(),
            layers.Dense(3),
        ]
    )
    conv1, bn, _, _, conv2, _, _, dense = model.layers

    def numpy(t: Tensor) -> Any:
        return t.detach().numpy()

    conv1.set_weights([numpy(net[0].weight.permute(2, 3, 1, 0)), numpy(net[0].bias)])
    bn.set_weights(
        [numpy(getattr(net[1], name)) for name in ("weight", "bias", "running_mean", "running_var")]
    )
    conv2.set_weights([numpy(net[4].weight.permute(2, 3, 1, 0)), numpy(net[4].bias)])
    dense.set_weights([numpy(net[8].weight.T), numpy(net[8].bias)])
    return model


def _images(n: int = 16, seed: int = 1, size: int = SIZE) -> Tensor:
    """Images in [0, 1] of varied colours (so that the tiny CNN predicts several classes)."""
    generator = torch.Generator().manual_seed(seed)
    colour = torch.rand((n, 3, 1, 1), generator=generator)
    return 0.6 * colour + 0.4 * torch.rand((n, 3, size, size), generator=generator)


def _tiny_cnn_sources(files: Files) -> dict[str, Callable[[], LoadedModel]]:
    return {
        "module+safetensors": lambda: load_model_source(
            f"module:{FACTORY_MODULE}:build", weights=files.safetensors, input_size=SIZE
        ),
        "module+state dict": lambda: load_model_source(
            f"module:{FACTORY_MODULE}.build", weights=files.state_dict, input_size=SIZE
        ),
        "torchscript traced": lambda: load_model_source(
            f"torchscript:{files.traced}", input_size=SIZE
        ),
        "torchscript scripted (.pt path)": lambda: load_model_source(
            str(files.scripted), input_size=SIZE
        ),
        "onnx": lambda: load_model_source(f"onnx:{files.onnx}"),
        "keras": lambda: load_model_source(f"keras:{files.keras}"),
    }


@pytest.fixture(scope="module")
def loaded(files: Files) -> dict[str, LoadedModel]:
    """Each source of the tiny CNN, loaded once for the tests that only use the result."""
    return {name: load() for name, load in _tiny_cnn_sources(files).items()}


SOURCE_NAMES = [
    "module+safetensors",
    "module+state dict",
    "torchscript traced",
    "torchscript scripted (.pt path)",
    "onnx",
    "keras",
]


# --- the grammar --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("torchvision:resnet18", TorchvisionSource("resnet18")),
        ("module:pkg.nets:build", ModuleSource("pkg.nets", "build")),
        ("module:pkg.nets.build", ModuleSource("pkg.nets", "build")),
        ("module:pkg.nets:Net.small", ModuleSource("pkg.nets", "Net.small")),
        ("torchscript:m.bin", TorchScriptSource(Path("m.bin"))),
        ("models/m.pt", TorchScriptSource(Path("models/m.pt"))),
        ("m.ts", TorchScriptSource(Path("m.ts"))),
        ("hf:./vit", HuggingFaceSource("./vit")),
        ("keras:m.keras", KerasSource(Path("m.keras"))),
        ("m.keras", KerasSource(Path("m.keras"))),
        ("onnx:m.onnx", OnnxSource(Path("m.onnx"))),
        ("m.onnx", OnnxSource(Path("m.onnx"))),
        ("onnxrt:m.onnx", OnnxRuntimeSource(Path("m.onnx"))),
        ("signs-cnn", ZooName("signs-cnn")),
        ("signs-cnn+pgd-eps4", ZooName("signs-cnn+pgd-eps4")),
        ("art:FGSM", ZooName("art:FGSM")),
    ],
)
def test_parse_model_source(text: str, expected: object) -> None:
    parsed = parse_model_source(text)
    assert parsed == expected
    assert parse_model_source(str(parsed)) == parsed  # the text form reads back the same


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty"),
        ("onnx:", "nothing after onnx:"),
        ("module:justone", "module:pkg.mod:factory"),
        ("module:pkg.nets:", "nothing after|module:pkg.mod:factory"),
        ("module:pkg.9nets:build", "dotted Python names"),
        ("weights.pth", "holds weights, not an architecture"),
        ("model.safetensors", "torchvision:NAME or module:"),
    ],
)
def test_parse_refuses_malformed_sources(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_model_source(text)


def test_zoo_names_are_left_to_the_caller() -> None:
    with pytest.raises(ValueError, match=r"zoo names are loaded with aisec\.zoo\.load"):
        load_model_source("signs-cnn")


# --- every source gives the original's logits and the original's robustness -----------------


@pytest.mark.parametrize("name", SOURCE_NAMES)
def test_sources_give_the_original_logits(
    files: Files, loaded: dict[str, LoadedModel], name: str
) -> None:
    model = loaded[name]
    x = _images()
    with torch.no_grad():
        expected = files.net(x)
        got = model.model(x)
    assert model.white_box and not model.model.training
    assert model.input_shape == (3, SIZE, SIZE)
    assert model.class_names == ("0", "1", "2")
    assert not any("gradient" in note for note in model.notes)
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=0)


def test_onnx_conversion_matches_onnxruntime(files: Files) -> None:
    converted = load_model_source(f"onnx:{files.onnx}")
    runtime = load_model_source(f"onnxrt:{files.onnx}")
    x = _images(seed=5)
    with torch.no_grad():
        torch.testing.assert_close(converted.model(x), runtime.model(x), atol=1e-4, rtol=0)
        torch.testing.assert_close(runtime.model(x), files.net(x), atol=1e-4, rtol=0)
    assert not runtime.white_box and runtime.input_shape == (3, SIZE, SIZE)
    assert any("matches onnxruntime" in note for note in converted.notes)


def _robust_accuracy(model: Callable[[Tensor], Tensor], x: Tensor, y: Tensor) -> float:
    attack = PGD(ThreatModel("linf", EPS), steps=5, seed=0)
    accuracy = attack(model, x, y).robust_accuracy
    assert accuracy is not None
    return accuracy


@pytest.fixture(scope="module")
def reference_pgd(files: Files) -> tuple[Tensor, Tensor, float]:
    x = _images()
    with torch.no_grad():
        y = files.net(x).argmax(1)
    accuracy = _robust_accuracy(files.net, x, y)
    # The comparison means something only if PGD breaks some points and not others.
    assert 0.0 < accuracy < 1.0, accuracy
    return x, y, accuracy


@pytest.mark.parametrize("name", SOURCE_NAMES)
def test_pgd_gives_the_same_robust_accuracy_through_every_source(
    loaded: dict[str, LoadedModel], reference_pgd: tuple[Tensor, Tensor, float], name: str
) -> None:
    x, y, expected = reference_pgd
    assert _robust_accuracy(loaded[name].model, x, y) == expected


def test_black_box_onnxruntime_gives_scores_not_gradients(
    files: Files, reference_pgd: tuple[Tensor, Tensor, float]
) -> None:
    x, y, _ = reference_pgd
    loaded = load_model_source(f"onnxrt:{files.onnx}")
    assert not loaded.white_box
    with pytest.raises(TypeError, match="black box"):
        loaded.model(x.clone().requires_grad_(True))
    with pytest.raises(TypeError, match="black box"):
        PGD(ThreatModel("linf", EPS), steps=2)(loaded.model, x, y)
    square = SquareAttack(ThreatModel("linf", 2 * EPS), n_queries=30, seed=0)
    black_box, reference = square(loaded.model, x, y), square(files.net, x, y)
    assert reference.success.any()  # the comparison is not between two failures
    assert torch.equal(black_box.success, reference.success)
    torch.testing.assert_close(black_box.x_adv, reference.x_adv, atol=1e-6, rtol=0)


class _ChannelsLast(nn.Module):
    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: Tensor) -> Tensor:
        out: Tensor = self.net(x.permute(0, 3, 1, 2))
        return out


def test_onnx_channels_last_graph_gets_its_layout(files: Files, tmp_path: Path) -> None:
    path = tmp_path / "nhwc.onnx"
    # eval(): the exporter restores the wrapper's mode on every sub-module, the shared net too.
    _export_onnx(_ChannelsLast(files.net).eval(), torch.rand(2, SIZE, SIZE, 3), path)
    loaded = load_model_source(f"onnx:{path}")
    assert loaded.input_shape == (3, SIZE, SIZE) and loaded.model.preprocess.channels_last
    x = _images(n=4)
    with torch.no_grad():
        torch.testing.assert_close(loaded.model(x), files.net(x), atol=1e-5, rtol=0)


# --- Hugging Face ---------------------------------------------------------------------------

HF_MEAN, HF_STD = (0.5, 0.4, 0.3), (0.2, 0.25, 0.3)


@pytest.fixture(scope="module")
def hf_folder(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, nn.Module]:
    transformers = pytest.importorskip("transformers")
    config = transformers.ViTConfig(
        image_size=32,
        patch_size=8,
        num_hidden_layers=1,
        hidden_size=32,
        num_attention_heads=2,
        intermediate_size=37,
        num_labels=3,
        id2label={0: "cat", 1: "dog", 2: "fox"},
        label2id={"cat": 0, "dog": 1, "fox": 2},
    )
    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = transformers.ViTForImageClassification(config).eval()
    processor = transformers.ViTImageProcessor(
        size={"height": 32, "width": 32}, image_mean=list(HF_MEAN), image_std=list(HF_STD)
    )
    folder = tmp_path_factory.mktemp("hf-vit")
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder, model


class _ViTReference(nn.Module):
    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model
        self.mean = torch.tensor(HF_MEAN).view(1, 3, 1, 1)
        self.std = torch.tensor(HF_STD).view(1, 3, 1, 1)

    def forward(self, x: Tensor) -> Tensor:
        logits: Tensor = self.model(pixel_values=(x - self.mean) / self.std).logits
        return logits


def test_hugging_face_image_classifier_with_its_processor_folded_in(
    hf_folder: tuple[Path, nn.Module],
) -> None:
    folder, original = hf_folder
    loaded = load_model_source(f"hf:{folder}")
    reference = _ViTReference(original)
    assert loaded.input_shape == (3, 32, 32)
    assert loaded.class_names == ("cat", "dog", "fox")
    x = _images(n=8, size=32)
    with torch.no_grad():
        y = reference(x).argmax(1)
        torch.testing.assert_close(loaded.model(x), reference(x), atol=1e-5, rtol=0)
    assert _robust_accuracy(loaded.model, x, y) == _robust_accuracy(reference, x, y)


def test_hugging_face_text_classifier_is_sent_to_the_text_commands(tmp_path: Path) -> None:
    transformers = pytest.importorskip("transformers")
    config = transformers.BertConfig(
        vocab_size=32,
        hidden_size=8,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=8,
        num_labels=2,
    )
    transformers.BertForSequenceClassification(config).save_pretrained(tmp_path)
    with pytest.raises(ValueError, match=r"not an image classifier.*aisec text"):
        load_model_source(f"hf:{tmp_path}")


def test_hugging_face_pickle_weights_are_refused(
    hf_folder: tuple[Path, nn.Module], tmp_path: Path
) -> None:
    folder, original = hf_folder
    (tmp_path / "config.json").write_text((folder / "config.json").read_text())
    torch.save(original.state_dict(), tmp_path / "pytorch_model.bin")
    with pytest.raises(ValueError, match="safetensors only"):
        load_model_source(f"hf:{tmp_path}")


# --- torchvision ----------------------------------------------------------------------------


def test_torchvision_architecture_with_user_weights(tmp_path: Path) -> None:
    from torchvision import models

    with torch.random.fork_rng():
        torch.manual_seed(0)
        original = models.get_model("squeezenet1_1", weights=None, num_classes=4).eval()
    save_file(original.state_dict(), tmp_path / "squeeze.safetensors")
    loaded = load_model_source(
        "torchvision:squeezenet1_1",
        weights=tmp_path / "squeeze.safetensors",
        input_size=48,
        class_names=["a", "b", "c", "d"],
    )
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    x = _images(n=2, size=48)
    with torch.no_grad():
        torch.testing.assert_close(loaded.model(x), original((x - mean) / std), atol=1e-5, rtol=0)
    assert loaded.class_names == ("a", "b", "c", "d") and loaded.input_shape == (3, 48, 48)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("torchvision:resnet18", r"torchvision:resnet18 needs weights=FILE \(--weights FILE"),
        (f"module:{FACTORY_MODULE}:build", "needs weights=FILE"),
    ],
)
def test_architectures_without_weights_are_refused(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        load_model_source(text, input_size=SIZE)


def test_unknown_torchvision_name_suggests_close_ones(files: Files) -> None:
    with pytest.raises(ValueError, match="did you mean resnet18"):
        load_model_source("torchvision:resnet1", weights=files.safetensors)


# --- checks before and after loading --------------------------------------------------------


def test_class_names_must_match_the_logits(files: Files) -> None:
    with pytest.raises(ValueError, match="4 class names were given but the model outputs 3"):
        load_model_source(f"onnx:{files.onnx}", class_names=["a", "b", "c", "d"])
    named = load_model_source(f"onnx:{files.onnx}", class_names=["a", "b", "c"])
    assert named.class_names == ("a", "b", "c") and named.num_classes == 3


def test_input_size_is_required_where_the_file_does_not_fix_it(files: Files) -> None:
    with pytest.raises(ValueError, match="needs the model's input size"):
        load_model_source(f"torchscript:{files.traced}")
    with pytest.raises(ValueError, match="fixes the input size to 16x16"):
        load_model_source(f"keras:{files.keras}", input_size=32)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"mean": [0.5, 0.5, 0.5]}, "give both mean and std"),
        ({"mean": [0.5, 0.5], "std": [0.2, 0.2, 0.2]}, "same length"),
        ({"mean": [0.5], "std": [0.2], "input_size": (3, 16, 16)}, "one value per channel"),
        ({"mean": [0.5] * 3, "std": [0.2, 0.0, 0.2]}, "std must be finite and > 0"),
        ({"input_size": (0, 16)}, "input_size must be"),
        ({"class_names": ["a", "a", "b"]}, "distinct"),
        ({"pixel_scale": -1.0}, "pixel_scale must be"),
    ],
)
def test_options_are_checked_before_loading(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        load_model_source("onnx:does-not-exist.onnx", **kwargs)


def test_mean_and_std_must_match_the_model_channels(files: Files) -> None:
    with pytest.raises(ValueError, match="mean and std have 1 values but the model takes 3"):
        load_model_source(f"onnx:{files.onnx}", mean=[0.5], std=[0.2])
    with pytest.raises(ValueError, match="the model takes 3 channels, but 1 were given"):
        load_model_source(f"keras:{files.keras}", input_size=(1, SIZE, SIZE))
    normalised = load_model_source(f"onnx:{files.onnx}", mean=[0.5] * 3, std=[0.25] * 3)
    x = _images(n=4)
    with torch.no_grad():
        torch.testing.assert_close(
            normalised.model(x), files.net((x - 0.5) / 0.25), atol=1e-5, rtol=0
        )


def test_missing_files_and_wrong_extensions(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="does not exist"):
        load_model_source("onnx:missing.onnx")
    (tmp_path / "model.txt").write_text("x")
    with pytest.raises(ValueError, match=r"expected a file ending in \.keras"):
        load_model_source(f"keras:{tmp_path / 'model.txt'}")


def test_weights_that_do_not_fit_are_refused(files: Files, tmp_path: Path) -> None:
    tensors = dict(files.net.state_dict())
    tensors["8.weight"] = torch.zeros(5, 8)
    tensors["8.bias"] = torch.zeros(5)
    save_file(tensors, tmp_path / "wrong.safetensors")
    with pytest.raises(ValueError, match=r"wrong shapes 2 \(8\.weight: file \(5, 8\)"):
        load_model_source(
            f"module:{FACTORY_MODULE}:build",
            weights=tmp_path / "wrong.safetensors",
            input_size=SIZE,
        )


def test_wrapped_checkpoints_load_and_pickled_modules_are_refused(
    files: Files, tmp_path: Path
) -> None:
    wrapped = {"state_dict": {f"module.{k}": v for k, v in files.net.state_dict().items()}}
    torch.save({**wrapped, "epoch": 3}, tmp_path / "checkpoint.pth")
    loaded = load_model_source(
        f"module:{FACTORY_MODULE}:build", weights=tmp_path / "checkpoint.pth", input_size=SIZE
    )
    x = _images(n=4)
    with torch.no_grad():
        torch.testing.assert_close(loaded.model(x), files.net(x), atol=1e-6, rtol=0)
    torch.save(files.net, tmp_path / "whole.pth")
    with pytest.raises(ValueError, match=r"not on the allow-list.*save a state dict"):
        load_model_source(
            f"module:{FACTORY_MODULE}:build", weights=tmp_path / "whole.pth", input_size=SIZE
        )


def test_a_state_dict_is_not_torchscript(files: Files) -> None:
    with pytest.raises(ValueError, match=r"torch\.save file.*not TorchScript"):
        load_model_source(f"torchscript:{files.state_dict}", input_size=SIZE)
    with pytest.raises(ValueError, match="carries its own weights"):
        load_model_source(str(files.traced), input_size=SIZE, weights=files.safetensors)


def test_probability_outputs_are_reported(files: Files) -> None:
    path = files.folder / "probabilities.safetensors"
    save_file({f"0.{k}": v for k, v in files.net.state_dict().items()}, path)
    with pytest.warns(ModelSourceWarning, match="look like probabilities"):
        loaded = load_model_source(
            f"module:{FACTORY_MODULE}:build_probabilities", weights=path, input_size=SIZE
        )
    assert any("probabilities" in note for note in loaded.notes)


# --- ONNX refusals --------------------------------------------------------------------------


def test_onnx_conversion_that_differs_from_onnxruntime_is_refused(
    files: Files, monkeypatch: pytest.MonkeyPatch
) -> None:
    convert = onnx_source._convert_to_torch

    class Drifted(nn.Module):
        def __init__(self, inner: nn.Module) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, x: Tensor) -> Tensor:
            out: Tensor = self.inner(x)
            return out + 1e-3 * torch.arange(out.shape[1], dtype=out.dtype)

    monkeypatch.setattr(
        onnx_source, "_convert_to_torch", lambda path, source: Drifted(convert(path, source))
    )
    with pytest.raises(OnnxMismatchError, match=r"differs from onnxruntime by up to 0\.002"):
        load_model_source(f"onnx:{files.onnx}")
    # The same drift passes a looser tolerance, on the user's own inputs.
    loose = load_model_source(f"onnx:{files.onnx}", tolerance=1e-2, check_inputs=_images(n=3))
    assert any("on 3 images" in note for note in loose.notes)


# --- Keras ----------------------------------------------------------------------------------


def test_keras_already_imported_with_another_backend_is_refused(
    files: Files, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = types.ModuleType("keras")
    fake.backend = types.SimpleNamespace(backend=lambda: "jax")  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "keras", fake)
    with pytest.raises(ValueError, match="already imported with the 'jax' backend"):
        load_model_source(f"keras:{files.keras}")


def test_keras_backend_variable_naming_another_backend_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delitem(sys.modules, "keras", raising=False)
    monkeypatch.setenv("KERAS_BACKEND", "tensorflow")
    with pytest.raises(ValueError, match="KERAS_BACKEND is 'tensorflow'"):
        import_keras()


def _rewrite_keras_config(source: Path, target: Path, edit: Callable[[Any], None]) -> Path:
    with zipfile.ZipFile(source) as zin, zipfile.ZipFile(target, "w") as zout:
        for name in zin.namelist():
            data = zin.read(name)
            if name == "config.json":
                config = json.loads(data)
                edit(config)
                data = json.dumps(config).encode()
            zout.writestr(name, data)
    return target


def _last_layer(config: Any) -> Any:
    return config["config"]["layers"][-1]


def test_keras_tensorflow_only_layers_are_refused(files: Files, tmp_path: Path) -> None:
    def tf_op(config: Any) -> None:
        _last_layer(config)["class_name"] = "TFOpLambda"
        _last_layer(config)["config"]["function"] = "math.reduce_sum"

    path = _rewrite_keras_config(files.keras, tmp_path / "tfop.keras", tf_op)
    with pytest.raises(ValueError, match="'TFOpLambda' exists only in TensorFlow"):
        load_model_source(f"keras:{path}")

    def custom(config: Any) -> None:
        _last_layer(config).update(module=None, registered_name="Custom>MyDense")

    path = _rewrite_keras_config(files.keras, tmp_path / "custom.keras", custom)
    with pytest.raises(ValueError, match="custom class"):
        load_model_source(f"keras:{path}")

    def unknown(config: Any) -> None:
        _last_layer(config)["class_name"] = "DenseFeatures"  # a tf.keras-only layer

    path = _rewrite_keras_config(files.keras, tmp_path / "unknown.keras", unknown)
    with pytest.raises(ValueError, match="unknown layer 'DenseFeatures'"):
        load_model_source(f"keras:{path}")


def test_keras_final_softmax_is_removed_and_reported(files: Files, tmp_path: Path) -> None:
    def softmax(config: Any) -> None:
        _last_layer(config)["config"]["activation"] = "softmax"

    path = _rewrite_keras_config(files.keras, tmp_path / "softmax.keras", softmax)
    with pytest.warns(ModelSourceWarning, match="ends in a softmax"):
        loaded = load_model_source(f"keras:{path}")
    x = _images(n=4)
    with torch.no_grad():
        torch.testing.assert_close(loaded.model(x), files.net(x), atol=1e-5, rtol=0)


class _PlantsSentinel:
    """A state-dict entry whose unpickling would create ``path`` (``os.system``-free: ``open``)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple[Any, tuple[str, str]]:
        return open, (str(self.path), "w")


def test_a_weights_file_that_runs_code_is_refused_and_nothing_runs(
    files: Files, tmp_path: Path
) -> None:
    sentinel = tmp_path / "SENTINEL"
    state: dict[str, object] = dict(files.net.state_dict())
    state["extra"] = _PlantsSentinel(sentinel)
    weights = tmp_path / "poisoned.pt"
    torch.save(state, weights)
    refused = r"unsafe to load.*trust_pickle=True.*io\.open: imports a global"
    with pytest.raises(ValueError, match=refused):
        load_model_source(f"module:{FACTORY_MODULE}:build", weights=weights, input_size=SIZE)
    assert not sentinel.exists()
