"""The command line on the user's own model and data: ``attack``, ``evaluate`` and ``defend``
run on every model source with ``--data imagefolder:DIR``, and refuse what cannot work before
anything loads.

The models and the weights come from ``test_sources.py``'s fixtures (a tiny CNN saved as
safetensors, a state dict, TorchScript, ONNX and Keras, and a tiny Hugging Face ViT).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from PIL import Image
from test_sources import (  # the fixtures and constants of the sources' own tests
    FACTORY_MODULE,
    SIZE,
    Files,
    files,
    hf_folder,
)
from typer.testing import CliRunner

from aisec.cli import app

__all__ = ["files", "hf_folder"]  # fixtures used by name

pytestmark = [
    pytest.mark.filterwarnings("ignore:You are using the legacy TorchScript-based ONNX export"),
    pytest.mark.filterwarnings("ignore:The feature will be removed:DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword"),
    pytest.mark.filterwarnings("ignore::aisec.models.sources.ModelSourceWarning"),
]

CLASSES = ("cat", "dog", "fox")


def _image_folder(root: Path, size: int) -> Path:
    """Four images per class, of varied colours, in ``root/CLASS/*.png``."""
    generator = torch.Generator().manual_seed(3)
    for name in CLASSES:
        (root / name).mkdir(parents=True)
        for index in range(4):
            pixels = (torch.rand(size, size, 3, generator=generator) * 255).to(torch.uint8)
            Image.fromarray(pixels.numpy()).save(root / name / f"{index}.png")
    return root


@pytest.fixture(scope="module")
def photos(tmp_path_factory: pytest.TempPathFactory) -> dict[int, Path]:
    folder = tmp_path_factory.mktemp("photos")
    return {size: _image_folder(folder / str(size), size) for size in (SIZE, 32)}


Source = Callable[[Files, tuple[Path, object]], list[str]]

SOURCES: dict[str, Source] = {
    "module": lambda f, hf: [
        "--model",
        f"module:{FACTORY_MODULE}:build",
        "--weights",
        str(f.safetensors),
        "--input-size",
        str(SIZE),
    ],
    "module-state-dict": lambda f, hf: [
        "--model",
        f"module:{FACTORY_MODULE}:build",
        "--weights",
        str(f.state_dict),
        "--input-size",
        str(SIZE),
    ],
    "torchscript": lambda f, hf: ["--model", f"torchscript:{f.scripted}", "--input-size", "16"],
    "onnx": lambda f, hf: ["--model", f"onnx:{f.onnx}"],
    "keras": lambda f, hf: ["--model", f"keras:{f.keras}"],
    "hf": lambda f, hf: ["--model", f"hf:{hf[0]}"],
}


SLOW_TO_EVALUATE = {"keras", "hf"}
"""Sources whose full suite (APGD-CE, APGD-T, Square 5,000) costs 10-40 s here: attack only."""


def _run(args: list[str]) -> tuple[int, str]:
    result = CliRunner().invoke(app, args)
    return result.exit_code, result.output


@pytest.mark.parametrize("source", sorted(SOURCES))
def test_attack_and_evaluate_run_on_every_source(
    source: str,
    files: Files,
    hf_folder: tuple[Path, object],
    photos: dict[int, Path],
    tmp_path: Path,
) -> None:
    model = SOURCES[source](files, hf_folder)
    if source != "hf":  # the Hugging Face folder names its classes itself
        model += ["--class-names", ",".join(CLASSES)]
    data = ["--data", f"imagefolder:{photos[32 if source == 'hf' else SIZE]}"]
    common = [*model, *data, "--n", "6", "--eps", "8/255"]
    code, output = _run(["attack", *common, "--steps", "3", "--out", str(tmp_path / "a")])
    assert code == 0, output
    record = json.loads((tmp_path / "a" / "attack.json").read_text())
    assert record["n"] == 6 and record["model"] == model[1]
    assert (tmp_path / "a" / "attack.png").is_file()
    if source in SLOW_TO_EVALUATE:
        return
    code, output = _run(["evaluate", *common, "--n", "3", "--out", str(tmp_path / "e")])
    assert code == 0, output
    report = json.loads((tmp_path / "e" / "evaluation.json").read_text())
    assert report["n"] == 3


@pytest.mark.parametrize("source", ["module", "onnx"])
def test_defend_runs_on_a_source(
    source: str,
    files: Files,
    hf_folder: tuple[Path, object],
    photos: dict[int, Path],
    tmp_path: Path,
) -> None:
    args = [
        "defend",
        *SOURCES[source](files, hf_folder),
        "--class-names",
        ",".join(CLASSES),
        "--data",
        f"imagefolder:{photos[SIZE]}",
        "--n",
        "4",
        "--defense",
        "bits:4",
        "--steps",
        "3",
        "--eot-samples",
        "1",
        "--square-queries",
        "0",
        "--out",
        str(tmp_path),
    ]
    code, output = _run(args)
    assert code == 0, output
    rows = json.loads((tmp_path / "metrics.json").read_text())["rows"]
    assert [row["name"] for row in rows][1:] == ["bits:4"]


def test_black_box_onnx_takes_square_and_refuses_gradient_attacks(
    files: Files, photos: dict[int, Path], tmp_path: Path
) -> None:
    common = ["--model", f"onnxrt:{files.onnx}", "--data", f"imagefolder:{photos[SIZE]}"]
    common += ["--class-names", ",".join(CLASSES)]
    code, output = _run(["attack", *common, "--attack", "square", "--steps", "20", "--n", "3"])
    assert code == 0, output
    for command in (["attack", "--attack", "pgd"], ["evaluate"], ["defend"]):
        code, output = _run([*command, *common, "--out", str(tmp_path / "x")])
        assert code == 2, output
        assert "black-box" in output and len(output.strip().splitlines()) == 1
        assert not (tmp_path / "x").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--model", "signs-cnn", "--weights", "w.safetensors"], "only apply to your own models"),
        (["--model", "onnx:missing.onnx", "--data", "signs"], "missing.onnx does not exist"),
        (["--model", "onnx:missing.onnx"], "has no test data of its own: give --data"),
        (["--model", "torchvision:resnet18", "--data", "signs"], "give --weights FILE"),
        (["--model", "signs-cnn", "--data", "nosuchset"], "unknown dataset"),
        (["--model", "signs-cnn", "--input-size", "3x"], "--input-size must be"),
        (["--model", "signs-cnn", "--mean", "a,b"], "--mean must be numbers"),
    ],
)
def test_bad_model_options_fail_before_work(
    args: list[str], message: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import aisec.experiments.names as names

    def refuse(*_: object, **__: object) -> None:
        raise AssertionError("a model loaded before the options were checked")

    monkeypatch.setattr(names, "zoo_model", refuse)
    monkeypatch.setattr(names, "load_task", refuse)
    code, output = _run(["attack", *args, "--out", str(tmp_path / "out")])
    assert code == 2, output
    assert len(output.strip().splitlines()) == 1
    import re

    assert re.search(message, output), output
    assert not (tmp_path / "out").exists()


def test_a_zoo_model_on_the_users_data(
    photos: dict[int, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A zoo model takes ``--data``: images resized to its input, labels in its classes."""
    import aisec.experiments.names as names
    from aisec.data import load as load_data

    signs = load_data("signs", "test", n=1)
    folder = tmp_path / "signs-photos"
    for name in signs.class_names[:2]:
        (folder / name).mkdir(parents=True)
        Image.new("RGB", (48, 40), (200, 30, 30)).save(folder / name / "a.png")
    seen: dict[str, torch.Tensor] = {}

    class Recorder(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            seen["x"] = x
            return (
                torch.nn.functional.one_hot(
                    torch.zeros(len(x), dtype=torch.long), len(signs.class_names)
                ).float()
                + 0 * x.sum()
            )

    monkeypatch.setattr(names, "zoo_model", lambda name: Recorder())
    args = ["attack", "--model", "signs-cnn", "--data", f"imagefolder:{folder}", "--n", "2"]
    code, output = _run([*args, "--attack", "fgsm", "--out", str(tmp_path / "o")])
    assert code == 0, output
    assert tuple(seen["x"].shape[1:]) == tuple(signs.images.shape[1:])
    record = json.loads((tmp_path / "o" / "attack.json").read_text())
    assert sorted(record["y"]) == [0, 1]


def test_certify_runs_on_a_source(files: Files, photos: dict[int, Path], tmp_path: Path) -> None:
    args = ["certify", "--model", f"onnxrt:{files.onnx}", "--data", f"imagefolder:{photos[SIZE]}"]
    args += ["--class-names", ",".join(CLASSES), "--points", "3", "--n0", "10", "--n", "50"]
    code, output = _run([*args, "--batch-size", "50", "--no-predict", "--out", str(tmp_path)])
    assert code == 0, output
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["model"] == f"onnxrt:{files.onnx}"
    assert all(len(values) == 3 for values in metrics["per_point"].values())
