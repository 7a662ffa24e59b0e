"""Bad input to every ``aisec`` command: exit code 2, one line of error, nothing written, no work.

Each row of :data:`CASES` is one invocation. The heavy functions (loading a model or data,
running an experiment, training, the tour) are replaced by a guard that fails the test: every
row must be rejected before any of them is reached, so the suite is fast and proves that a bad
option costs one line, not the computation. After the run, the ``--out`` folder (or file) holds
no result.

Placeholders in the arguments: ``{out}`` a fresh output folder, ``{file}`` an existing file,
``{dir}`` an existing folder, ``{corpus}`` a folder with one ``.txt`` file, ``{text}`` a text
file, ``{empty}`` an empty file, ``{binary}`` a non-UTF-8 file, and ``{mask:NAME}`` one of the
mask files of :func:`_mask_files`.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner, Result

import aisec.data
import aisec.experiments.certify
import aisec.experiments.defend
import aisec.experiments.evasion
import aisec.experiments.llm_poisoning
import aisec.experiments.names
import aisec.experiments.physical
import aisec.experiments.poisoning
import aisec.experiments.text
import aisec.experiments.text_detection
import aisec.models.language
import aisec.report.tour
import aisec.zoo.catalog
from aisec.cli import app

runner = CliRunner()

USAGE = "usage"
"""The kind of a row that typer itself rejects (a value of the wrong type, a missing option)."""


@dataclass(frozen=True)
class Case:
    """One invocation: its arguments, a fragment of the expected error, and who rejects it."""

    args: tuple[str, ...]
    message: str
    kind: str = "aisec"
    out: str | None = "{out}"

    @property
    def id(self) -> str:
        return " ".join(self.args)[:80]


def _rows(
    base: tuple[str, ...],
    rows: list[tuple[tuple[str, ...], str]],
    *,
    out: str | None = "{out}",
    kind: str = "aisec",
) -> list[Case]:
    """Cases of one command: ``base`` arguments, then each row's, then ``--out OUT``."""
    cases = []
    for extra, message in rows:
        has_out = any(a == "--out" or a.startswith("--out=") for a in extra)
        out_args: tuple[str, ...] = () if out is None or has_out else ("--out", out)
        row_kind = USAGE if message.startswith("Invalid value") or message == USAGE else kind
        cases.append(Case((*base, *extra, *out_args), message, row_kind, out))
    return cases


_OUT_ROWS: list[tuple[tuple[str, ...], str]] = [
    (("--out", "/proc/aisec-nope"), "is not a writable folder"),
    (("--out", "{file}"), "is a file; expected a folder"),
]

_EPS_ROWS: list[tuple[tuple[str, ...], str]] = [
    (("--eps", "300/255"), "larger than the width 1"),
    (("--eps=-1",), "eps must be finite and >= 0"),
    (("--eps", "nan"), "eps must be finite and >= 0"),
    (("--eps", "inf"), "eps must be finite and >= 0"),
    (("--eps", "abc"), "eps must be a number or a fraction"),
    (("--eps", "1/0"), "divides by zero"),
    (("--eps", ""), "eps must be a number or a fraction"),
    (("--norm", "l2", "--eps", "100"), "larger than the l2 diameter 8"),
    (("--norm", "l7"), "norm must be one of"),
    (("--norm", ""), "norm must be one of"),
]

_EXECUTION_ROWS: list[tuple[tuple[str, ...], str]] = [
    (("--executor", "dask"), "unknown executor 'dask'"),
    (("--address", "auto"), "apply to the ray executor only"),
    (("--workers", "2"), "apply to the ray executor only"),
    (("--shard-size", "0"), "shard_size must be None or an int >= 1"),
    (("--executor", "ray", "--workers", "0"), "workers must be None or an int >= 1"),
    (("--executor", "ray", "--gpus-per-worker=-1"), "gpus_per_worker must be >= 0"),
]
"""The options of commands that run in shards (attack, evaluate, certify, text-attack)."""

_VISION_ROWS: list[tuple[tuple[str, ...], str]] = [
    *_EPS_ROWS,
    (("--model", "resnet-9000"), "known models"),
    (("--n", "0"), "n must be >= 1"),
    (("--n=-3",), "n must be >= 1"),
    (("--n", "x"), "Invalid value"),
    (("--batch-size", "0"), "batch_size must be >= 1"),
    (("--seed=-1",), "seed must be >= 0"),
    *_OUT_ROWS,
]

_SOURCE_ROWS: list[tuple[tuple[str, ...], str]] = [
    (("--weights", "{file}"), "only apply to your own models"),
    (("--trust-pickle",), "only apply to your own models"),
    (("--data", "nosuchset"), "unknown dataset 'nosuchset'"),
    (("--data", "imagefolder:"), "nothing after imagefolder:"),
    (("--model", "onnx:{out}/missing.onnx", "--data", "signs"), "missing.onnx does not exist"),
    (("--model", "onnx:{file}"), "has no test data of its own"),
    (("--model", "torchvision:resnet18", "--data", "signs"), "give --weights FILE"),
    (("--model", "module:pkg.mod:", "--data", "signs"), "expected module:pkg.mod:factory"),
    (("--model", "weights.safetensors"), "torchvision:NAME or module:"),
    (("--model", "keras:{file}", "--data", "{out}/nope.csv"), "nope.csv does not exist"),
    (("--model", "onnx:{file}", "--data", "signs", "--input-size", "3x"), "--input-size must"),
    (("--model", "onnx:{file}", "--data", "signs", "--mean", "a"), "--mean must be numbers"),
    (("--model", "onnx:{file}", "--data", "signs", "--mean", "0.5"), "std"),
    (("--model", "onnx:{file}", "--data", "signs", "--class-names", "a,,b"), "empty name"),
    (("--model", "onnx:{file}", "--data", "signs", "--class-names", "@{out}/n.txt"), "cannot read"),
    (("--model", "onnx:{file}", "--data", "signs", "--pixel-scale", "0"), "pixel_scale"),
    (("--model", "onnx:{file}", "--data", "signs", "--pixel-scale", "nan"), "pixel_scale"),
]
"""The options of the user's own model and data (attack, evaluate, defend)."""

ATTACK = _rows(
    ("attack", "--model", "digits-cnn", "--n", "4"),
    [
        *_VISION_ROWS,
        *_SOURCE_ROWS,
        (("--model", "onnxrt:{file}", "--data", "signs"), "black-box"),
        (("--attack", "deepfool"), "unknown attack 'deepfool'"),
        (("--attack", ""), "unknown attack"),
        (("--attack", "square", "--norm", "l2", "--eps", "0.5"), "Square supports the norms"),
        (("--steps", "0"), "steps must be >= 1"),
        (("--steps", "x"), "Invalid value"),
        *_EXECUTION_ROWS,
    ],
)

EVALUATE = _rows(
    ("evaluate", "--model", "digits-cnn", "--n", "4"),
    [
        *_VISION_ROWS,
        *_SOURCE_ROWS,
        (("--model", "onnxrt:{file}", "--data", "signs"), "black-box"),
        *_EXECUTION_ROWS,
    ],
)

CERTIFY = _rows(
    ("certify", "--model", "digits-cnn-noise", "--points", "2", "--n", "10", "--n0", "5"),
    [
        *_SOURCE_ROWS[:7],
        *_EXECUTION_ROWS,
        (("--sigma", "nan"), "sigma must be a finite float > 0"),
        (("--sigma", "inf"), "sigma must be a finite float > 0"),
        (("--sigma", "0"), "sigma must be a finite float > 0"),
        (("--sigma=-1",), "sigma must be a finite float > 0"),
        (("--sigma", "x"), "Invalid value"),
        (("--alpha", "nan"), "alpha must be in (0, 1)"),
        (("--alpha", "0"), "alpha must be in (0, 1)"),
        (("--alpha", "1"), "alpha must be in (0, 1)"),
        (("--alpha", "1.5"), "alpha must be in (0, 1)"),
        (("--alpha", "inf"), "alpha must be in (0, 1)"),
        (("--n", "0"), "n must be >= 1"),
        (("--n0", "0"), "n0 must be >= 1"),
        (("--points", "0"), "n_points must be >= 1"),
        (("--batch-size", "0"), "batch_size must be >= 1"),
        (("--seed=-1",), "data_seed must be >= 0"),
        (("--model", "resnet-9000"), "known models"),
        *_OUT_ROWS,
    ],
)

DEFEND = _rows(
    ("defend", "--model", "digits-cnn", "--n", "4", "--steps", "2"),
    [
        *_EPS_ROWS,
        *_SOURCE_ROWS[:4],
        (("--model", "onnxrt:{file}", "--data", "signs"), "black-box"),
        (("--defense", "bogus"), "bogus"),
        (("--defense", "jpeg:200"), "quality"),
        (("--defense", "jpeg:x"), "jpeg"),
        (("--defense", "blur:3:nan"), "blur"),
        (("--defense", ""), "defense"),
        (("--n", "0"), "--n must be >= 1"),
        (("--steps", "0"), "--steps must be >= 1"),
        (("--eot-samples", "0"), "--eot-samples must be >= 1"),
        (("--square-queries=-1",), "--square-queries must be >= 0"),
        (("--batch-size", "0"), "--batch-size must be >= 1"),
        (("--seed=-1",), "seed must be >= 0"),
        (("--model", "resnet-9000"), "known models"),
        *_OUT_ROWS,
    ],
)

POISON = [
    *_rows(
        ("poison", "--dataset", "digits", "--target", "1"),
        [
            (("--rate", "nan"), "rate"),
            (("--rate", "inf"), "rate"),
            (("--rate", "0"), "rate"),
            (("--rate", "1"), "rate"),
            (("--rate", "1.5"), "rate"),
            (("--rate=-0.1",), "rate"),
            (("--rate", "x"), "Invalid value"),
            (("--dataset", "bogus"), "unknown dataset 'bogus'"),
            (("--attack", "bogus"), "unknown attack 'bogus'"),
            (("--target", "bogus"), "bogus"),
            (("--source", "bogus"), "bogus"),
            (("--attack", "sticker"), "sticker attack paints on traffic signs"),
            (("--train-n", "0"), "train_n must be >= 1"),
            (("--epochs", "0"), "epochs must be >= 1"),
            (("--clean-with", "bogus"), "clean_with='bogus'"),
            (("--expected-fraction", "nan"), "expected_fraction must be in (0, 1]"),
            (("--expected-fraction", "0"), "expected_fraction must be in (0, 1]"),
            (("--expected-fraction", "2"), "expected_fraction must be in (0, 1]"),
            (("--seed=-1",), "seed must be >= 0"),
            *_OUT_ROWS,
        ],
    ),
    Case(("poison", "--dataset", "digits"), "Missing option '--out'", USAGE, None),
    *_rows(
        ("poison", "--dataset", "digits"),
        [(("--poisons", "5"), "not an option of image poisoning: --poisons")],
    ),
    *_rows(
        ("poison", "--model", "smollm2"),
        [
            (("--rate", "0.1"), "not an option of language-model poisoning (--model): --rate"),
            (("--target", "stop", "--source", "yield"), "--target, --source"),
            (("--model", "bogus"), "unknown language model 'bogus'"),
            (("--attack", "badnets"), "unknown language-model attack 'badnets'"),
            (("--poisons", "600"), "poisons (600) must be <= train_n (500)"),
            (("--poisons=-1",), "poisons must be >= 0"),
            (("--train-n", "0"), "train_n must be >= 1"),
            (("--epochs", "0"), "epochs must be >= 1"),
            (("--sweep", "900"), "sweep counts must be <= train_n"),
            (("--clean-with", "bogus"), "clean_with='bogus'"),
            (("--seed=-1",), "seed must be >= 0"),
            *_OUT_ROWS,
        ],
    ),
]

PHYSICAL = _rows(
    ("physical", "--steps", "2", "--conditions", "2", "--no-patch"),
    [
        (("--model", "digits-cnn"), "attacks a traffic-signs classifier"),
        (("--model", "torchscript:{out}/missing.pt"), "missing.pt does not exist"),
        (("--weights", "{file}"), "only apply to your own models"),
        (("--model", "torchscript:{file}", "--class-names", "a,b"), "not the sign classes"),
        (("--source", "bogus"), "bogus"),
        (("--target", "bogus"), "bogus"),
        (("--target", "stop"), "target must differ from the source"),
        (("--mask", "bogus"), "must be a built-in shape"),
        (("--mask", "{mask:truncated}"), "is not a readable PNG image (image file is truncated)"),
        (("--mask", "{mask:huge}"), "decompression bomb"),
        (("--mask", "{mask:large}"), "5000x5000 pixels, more than"),
        (("--mask", "{mask:text}"), "is not a readable PNG image"),
        (("--mask", "{mask:jpeg}"), "is a JPEG image; expected a PNG"),
        (("--mask", "{mask:small}"), "is 32x32 pixels; the sticker mask must match the sign"),
        (("--mask", "{mask:blank}"), "has no white (or opaque) pixels"),
        (("--mask", "{dir}"), "is a folder; expected a PNG file"),
        (("--steps", "0"), "steps must be >= 1"),
        (("--conditions", "0"), "n_conditions must be >= 1"),
        (("--conditions", "x"), "Invalid value"),
        (("--seed=-1",), "seed must be >= 0"),
        *_OUT_ROWS,
    ],
)

TEXT_ATTACK = _rows(
    ("text-attack", "--model", "tweets-bow", "--n", "2"),
    [
        *_EXECUTION_ROWS,
        (("--model", "bogus"), "bogus"),
        (("--recipe", "bogus"), "bogus"),
        (("--search", "bogus"), "bogus"),
        (("--n", "0"), "--n must be >= 1"),
        (("--seed=-1",), "seed must be >= 0"),
        (("--model", "hf:"), "names no Hugging Face folder"),
        (("--data", "imagefolder:{dir}"), "texts come from csv:FILE or jsonl:FILE"),
        (("--data", "{out}/missing.csv"), "does not exist"),
        (("--data", "signs"), "texts come from csv:FILE or jsonl:FILE"),
        (("--dataset", "bogus"), "unknown text dataset 'bogus'"),
        (("--dataset", "spam"), "classifies tweets, not spam"),
        (("--recipe", "good-words"), "needs dataset 'spam'"),
        (
            (
                "--dataset",
                "spam",
                "--model",
                "spam-nb",
                "--recipe",
                "good-words",
                "--search",
                "beam",
            ),
            "only its own search",
        ),
        *_OUT_ROWS,
    ],
)

_GENERATE = ("watermark", "generate", "--prompt", "hi", "--max-new-tokens", "4")
WATERMARK_GENERATE = _rows(
    _GENERATE,
    [
        (("--gamma", "nan"), "gamma"),
        (("--gamma", "0"), "gamma"),
        (("--gamma", "1.5"), "gamma"),
        (("--delta", "nan"), "delta"),
        (("--delta", "inf"), "delta"),
        (("--seeding", "bogus"), "bogus"),
        (("--max-new-tokens", "0"), "--max-new-tokens must be >= 1"),
        (("--seed=-1",), "--seed must be >= 0"),
        (("--model", "bogus"), "unknown language model 'bogus'"),
        (("--out", "/proc/aisec-nope/text.txt"), "is not a writable folder"),
        (("--out", "{dir}"), "is a folder; expected a file path"),
        (("--out", "{file}/text.txt"), "is a file; expected a folder"),
    ],
    out="{out}/text.txt",
)

WATERMARK_DETECT = [
    *_rows(
        ("watermark", "detect", "{text}"),
        [
            (("--z-threshold", "nan"), "--z-threshold must be a finite number"),
            (("--z-threshold", "inf"), "--z-threshold must be a finite number"),
            (("--z-threshold", "-inf"), "--z-threshold must be a finite number"),
            (("--z-threshold", "x"), "Invalid value"),
            (("--gamma", "nan"), "gamma"),
            (("--gamma", "2"), "gamma"),
            (("--seeding", "bogus"), "bogus"),
            (("--model", "bogus"), "unknown language model 'bogus'"),
        ],
        out=None,
    ),
    Case(("watermark", "detect", "{dir}"), "is a folder; expected a text file", out=None),
    Case(("watermark", "detect", "{out}/missing.txt"), "No such file", out=None),
    Case(("watermark", "detect", "{empty}"), "the file is empty", out=None),
    Case(("watermark", "detect", "{binary}"), "is not UTF-8 text", out=None),
]

DETECT_GENERATED = [
    Case(("detect-generated", "{dir}"), "is a folder; expected a text file", out=None),
    Case(("detect-generated", "{out}/missing.txt"), "No such file", out=None),
    Case(("detect-generated", "{empty}"), "the file is empty", out=None),
    Case(("detect-generated", "{binary}"), "is not UTF-8 text", out=None),
    Case(("detect-generated", "{text}", "--max-tokens", "0"), "--max-tokens must be >", out=None),
    Case(("detect-generated", "{text}", "--model", "bogus"), "unknown language model", out=None),
]

DETECT_CORPUS = [
    *_rows(
        ("detect-corpus", "{corpus}"),
        [
            (("--method", "magic"), "unknown method 'magic'"),
            (("--seeding", "nope"), "unknown seeding"),
            (("--model", "bogus"), "unknown language model"),
            (("--max-tokens", "3"), "max_tokens must be >= 6"),
            (("--z-threshold", "nan"), "z_threshold"),
            (("--gamma", "2"), "gamma"),
            *_EXECUTION_ROWS,
            *_OUT_ROWS,
        ],
    ),
    Case(("detect-corpus", "{dir}"), "holds no texts"),
    Case(("detect-corpus", "{out}/missing"), "does not exist", out=None),
    Case(("detect-corpus", "{text}"), "neither a folder of .txt files"),
    Case(("detect-corpus", "jsonl:{text}"), "is not JSON lines"),
    Case(("detect-corpus", "csv:{text}", "--text-column", "body"), "has no column 'body'"),
]

DATA_SHOW = [
    *_rows(
        ("data", "show", "signs"),
        [
            (("--split", "bogus"), "--split must be 'train' or 'test'"),
            (("--n", "0"), "--n must be >= 1"),
            (("--n", "x"), "Invalid value"),
            (("--seed=-1",), "--seed must be >= 0"),
            (("--out", "/proc/aisec-nope/grid.png"), "is not a writable folder"),
            (("--out", "{dir}"), "is a folder; expected a file path"),
            (("--out", "{file}/grid.png"), "is a file; expected a folder"),
        ],
        out="{out}/grid.png",
    ),
    Case(("data", "show", "imagenet", "--out", "{out}/grid.png"), "known datasets"),
]

TRAIN = [
    *_rows(
        ("train", "digits-cnn"),
        [
            (("--epochs", "0"), "--epochs must be >= 1"),
            (("--eps", "8/255"), "need --adv"),
            (("--adv", "bogus"), "unknown training method 'bogus'"),
            (("--adv", "pgd", "--eps", "300/255"), "larger than"),
            (("--adv", "pgd", "--eps", "nan"), "eps must be finite"),
            (("--adv", "pgd", "--eps", "abc"), "eps must be a number or a fraction"),
            (("--adv", "pgd", "--steps", "0"), "--steps must be >= 1"),
            (("--adv", "trades", "--beta", "nan"), "--beta must be a finite number"),
            (("--adv", "trades", "--beta=-1"), "--beta must be a finite number"),
            (("--adv", "noise", "--sigma", "nan"), "--sigma must be finite and >= 0"),
            (("--adv", "noise", "--sigma=-1"), "--sigma must be finite and >= 0"),
            (("--adv", "noise", "--sigma", "0"), "--sigma must be > 0"),
            (("--adv", "noise", "--sigma", "x"), "--sigma must be a number or a fraction"),
            (("--adv", "noise", "--eps", "0.1"), "takes"),
            (("--adv", "noise", "--epochs", "0"), "--epochs must be >= 1"),
        ],
        out=None,
    ),
    Case(("train", "resnet-9000"), "known models", out=None),
]

TOUR = _rows(
    ("tour", "--quick"),
    [
        (("--only", "bogus"), "known chapters"),
        (("--seed=-1",), "--seed must be >= 0"),
        *_OUT_ROWS,
    ],
)

SCAN = [
    Case(("scan", "{out}/missing.pt"), "is not a file", out=None),
    Case(("scan", "{dir}"), "holds no file in a format aisec scans", out=None),
    Case(("scan", "{file}", "--json", "{dir}"), "is a folder; expected a file path", out=None),
    Case(("scan", "{file}", "--json", "/proc/aisec-nope/r.json"), "not a writable", out=None),
    Case(("scan",), "Missing argument", USAGE, None),
]

OTHER = [
    Case(("sanitize",), "Missing argument 'text'", USAGE, None),
    Case(("nope",), "No such command 'nope'", USAGE, None),
]

EXERCISE = [
    Case(("exercise", "check", "nope"), "unknown exercise 'nope'; known exercises: fgsm", out=None),
    Case(("exercise", "check", "fgsm", "--solution", "{out}/no.py"), "does not exist", out=None),
    Case(("exercise", "check", "fgsm", "--solution", "{dir}"), "is a folder; expected a", out=None),
    Case(("exercise", "check", "fgsm", "--solution", ""), "is a folder; expected a", out=None),
    Case(("exercise", "show", "bogus"), "unknown exercise 'bogus'", out=None),
    Case(("exercise", "check"), "Missing argument", USAGE, None),
]

CASES = [
    *ATTACK,
    *EVALUATE,
    *CERTIFY,
    *DEFEND,
    *POISON,
    *PHYSICAL,
    *TEXT_ATTACK,
    *WATERMARK_GENERATE,
    *WATERMARK_DETECT,
    *DETECT_GENERATED,
    *DETECT_CORPUS,
    *DATA_SHOW,
    *TRAIN,
    *TOUR,
    *SCAN,
    *OTHER,
    *EXERCISE,
]

KNOWN_GAPS: dict[tuple[str, ...], str] = {}
"""Rows that still reach the work, with the reason; strict: a fix makes them fail as XPASS."""


def _params() -> list[Any]:
    params = []
    for case in CASES:
        reason = KNOWN_GAPS.get(case.args)
        marks = [pytest.mark.xfail(reason=reason, strict=True)] if reason else []
        params.append(pytest.param(case, id=case.id, marks=marks))
    return params


_HEAVY: list[tuple[Any, str]] = [
    (aisec.data, "load"),
    (aisec.experiments.names, "load_task"),
    (aisec.experiments.names, "task_data"),
    (aisec.experiments.names, "zoo_model"),
    (aisec.experiments.names, "text_model"),
    (aisec.experiments.evasion, "run_attack_plan"),
    (aisec.experiments.evasion, "run_suite"),
    (aisec.experiments.certify, "run"),
    (aisec.experiments.defend, "run_defend"),
    (aisec.experiments.poisoning, "run"),
    (aisec.experiments.llm_poisoning, "run"),
    (aisec.experiments.physical, "run"),
    (aisec.experiments.text, "run"),
    (aisec.experiments.text_detection, "run"),
    (aisec.models.language, "_load_smollm2"),
    (aisec.models.language, "_load_hf_causal_lm"),
    (aisec.report.tour, "_run_chapter"),
    (aisec.zoo.catalog, "train_classifier"),
    (aisec.zoo.catalog, "load"),
]
"""Everything that loads a model or data, trains, or runs an experiment."""


def _guard(name: str) -> Callable[..., Any]:
    def reached(*args: object, **kwargs: object) -> Any:
        pytest.fail(f"{name} was reached: the invocation was not rejected before the work")

    return reached


def _import_every_aisec_module() -> None:
    """Import all of aisec first, so that no module binds a guard by ``from x import name``.

    A module imported for the first time while a heavy function is patched would keep the
    guard under its own name for the rest of the session, and break later tests.
    """
    import importlib
    import pkgutil

    import aisec

    for info in pkgutil.walk_packages(aisec.__path__, prefix="aisec."):
        if not info.name.endswith(".__main__"):  # running the app is not importing it
            importlib.import_module(info.name)


@pytest.fixture
def no_work(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make every heavy function fail the test."""
    _import_every_aisec_module()
    for module, name in _HEAVY:
        monkeypatch.setattr(module, name, _guard(f"{module.__name__}.{name}"))


def _png_with_size(png: bytes, width: int, height: int) -> bytes:
    """``png`` with the width and height of its header replaced (a tiny "huge" image)."""
    chunk = b"IHDR" + struct.pack(">II", width, height) + png[24:29]
    header = struct.pack(">I", 13) + chunk + struct.pack(">I", zlib.crc32(chunk))
    return png[:8] + header + png[33:]


def _mask_files(folder: Path) -> dict[str, Path]:
    """Bad sticker masks: truncated, huge (header only), not an image, a JPEG, wrong size,
    blank."""
    folder.mkdir()
    good = folder / "good.png"
    rng = np.random.default_rng(0)
    Image.fromarray((rng.random((256, 256)) > 0.5).astype(np.uint8) * 255).save(good)
    png = good.read_bytes()
    files = {
        "truncated": png[: len(png) // 2],
        "huge": _png_with_size(png, 100_000, 100_000),
        "large": _png_with_size(png, 5_000, 5_000),
        "text": b"not an image\n",
    }
    paths = {}
    for name, data in files.items():
        paths[name] = folder / f"{name}.png"
        paths[name].write_bytes(data)
    paths["jpeg"] = folder / "jpeg.png"
    Image.open(good).convert("RGB").save(paths["jpeg"], format="JPEG")
    paths["small"] = folder / "small.png"
    Image.new("L", (32, 32), 255).save(paths["small"])
    paths["blank"] = folder / "blank.png"
    Image.new("L", (256, 256), 0).save(paths["blank"])
    return paths


@dataclass(frozen=True)
class Places:
    """The files and folders the placeholders stand for."""

    out: Path
    values: dict[str, str]

    def fill(self, arg: str) -> str:
        for key, value in self.values.items():
            arg = arg.replace("{" + key + "}", value)
        return arg


@pytest.fixture
def places(tmp_path: Path) -> Places:
    existing = tmp_path / "existing.txt"
    existing.write_text("I am a file\n")
    folder = tmp_path / "folder"
    folder.mkdir()
    text = tmp_path / "text.txt"
    text.write_text("A short text that nobody watermarked.\n")
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    binary = tmp_path / "binary.txt"
    binary.write_bytes(b"\xff\xfe\x00\x80 not utf-8")
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "one.txt").write_text("A text of a corpus to scan for a watermark.\n")
    out = tmp_path / "out"
    values = {
        "corpus": str(corpus),
        "out": str(out),
        "file": str(existing),
        "dir": str(folder),
        "text": str(text),
        "empty": str(empty),
        "binary": str(binary),
    }
    for name, path in _mask_files(tmp_path / "masks").items():
        values[f"mask:{name}"] = str(path)
    return Places(out, values)


def _flat(output: str) -> str:
    """The output with rich's line wrapping and panel borders undone."""
    for border in "│╭╮╰╯─":
        output = output.replace(border, " ")
    return " ".join(output.split())


def _files_under(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    return sorted(p for p in path.rglob("*") if p.is_file()) if path.exists() else []


def _check_rejected(result: Result, case: Case) -> None:
    output = result.output
    assert result.exit_code == 2, output
    assert isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in output, output
    if case.kind == USAGE:
        assert "Error" in output and case.message in _flat(output), output
        return
    lines = output.strip().splitlines()
    assert len(lines) == 1, f"expected one line of error, got {len(lines)}:\n{output}"
    assert lines[0].startswith("error: "), output
    assert case.message in lines[0], output


def test_the_suite_is_large_and_covers_every_command() -> None:
    assert len(CASES) >= 100
    commands = {case.args[0] for case in CASES}
    registered = {c.name for c in app.registered_commands} | {g.name for g in app.registered_groups}
    assert registered - {"models", "data"} <= commands | {"watermark"}, registered - commands


@pytest.mark.parametrize("case", _params())
@pytest.mark.usefixtures("no_work")
def test_bad_input_is_one_line_of_error_before_any_work(case: Case, places: Places) -> None:
    args = [places.fill(arg) for arg in case.args]
    result = runner.invoke(app, args)
    _check_rejected(result, case)
    assert _files_under(places.out) == [], "the output folder holds files after an error"
