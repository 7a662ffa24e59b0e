"""Format-level guarantees: numpy headers, Keras configs, GGUF headers, chat templates,
archives (tensor records, nesting, polyglots), folder walks and the unrecognised case."""

from __future__ import annotations

import io
import json
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from safety_corpus import _gguf, _keras_archive, _npy, _sequential, _torch_bytes, _zip

from aisec.models.safety import Verdict, safe_torch_load, scan_bytes, scan_paths
from aisec.models.safety.archives import decompress
from aisec.models.safety.gguf_files import chat_templates
from aisec.models.safety.keras_files import keras_config_findings
from aisec.models.safety.scanner import MAX_DEPTH
from aisec.models.safety.templates import template_findings

EVIL_PICKLE = b"\x80\x02cnosuch\nthing\n)R."


def _reasons(data: bytes) -> str:
    return " | ".join(f"{f.global_name} {f.reason}" for f in scan_bytes(data).findings)


# --- numpy -----------------------------------------------------------------------------------


def test_structured_dtypes_with_objects_are_unpickled_hence_scanned() -> None:
    array = np.zeros(2, dtype=[("x", "f4"), ("label", "O")])
    assert scan_bytes(_npy(array)).verdict is Verdict.SAFE
    array["label"][0] = Path("x")  # a pathlib object: its class is not an allowed global
    assert "pathlib" in _reasons(_npy(array))


def test_a_malformed_npy_header_is_unsafe() -> None:
    header = b"{'descr': __import__('os').system('x'), 'shape': ()}"
    data = b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header
    assert "npy header cannot be analysed" in _reasons(data)


# --- Keras -----------------------------------------------------------------------------------


def _layer(module: str | None, class_name: str, **extra: object) -> dict[str, object]:
    return {"module": module, "class_name": class_name, "config": {}, **extra}


@pytest.mark.parametrize(
    "layer",
    [
        _layer("keras.layers", "Dense"),
        _layer("keras.src.layers.core.dense", "Dense"),
        _layer(None, "Conv2D"),  # Keras 2 configs have no module
        _layer("keras.activations", "function") | {"config": "gelu"},
        _layer(None, "__keras_tensor__"),
    ],
    ids=["keras.layers", "keras.src", "no-module", "activation", "tensor-marker"],
)
def test_keras_objects_of_keras_itself_pass(layer: dict[str, object]) -> None:
    assert keras_config_findings(_sequential([layer]), "config.json") == []


@pytest.mark.parametrize(
    ("layer", "expected"),
    [
        (_layer("keras.layers", "TFSMLayer"), "SavedModel"),
        (_layer("keras.layers", "TorchModuleWrapper"), "torch.load"),
        (_layer("keras.src.utils.file_utils", "GetFile"), "module outside"),
        (_layer("keras.layers", "deserialize"), "not a class"),
        (_layer("keras.activations", "function") | {"config": "eval"}, "function reference"),
        (_layer("builtins", "function") | {"config": "exec"}, "function reference"),
        (_layer("keras.layers", "Dense", registered_name="pkg>Dense"), "custom object"),
    ],
    ids=["tfsm", "torch-wrapper", "utils", "lowercase", "activation", "builtins", "custom"],
)
def test_keras_objects_that_run_other_code_are_flagged(
    layer: dict[str, object], expected: str
) -> None:
    findings = keras_config_findings(_sequential([layer]), "config.json")
    assert any(expected in finding.reason for finding in findings), findings


@pytest.mark.parametrize("padding", [b"", b'"aaa": "' + b"{" * 5000 + b'", '])
def test_keras_configs_inside_hdf5_bytes_are_found_whatever_the_key_order(padding: bytes) -> None:
    layer = b"{" + padding + b'"module": "os", "config": {}, "class_name": "system"}'
    data = b"\x89HDF\r\n\x1a\n" + b"\0" * 100 + b'{"layers": [' + layer + b"]}" + b"\0" * 8
    assert "os.system" in _reasons(data)
    broken = b"\x89HDF\r\n\x1a\n" + b'{"module": "os", "class_name": "system"'
    assert "in no JSON object that decodes" in _reasons(broken)


def test_a_keras_config_file_on_its_own_is_checked() -> None:
    config = _sequential([_layer("keras.layers", "Lambda")])
    assert "Lambda" in _reasons(json.dumps(config).encode())
    assert scan_bytes(_keras_archive(_sequential([]))).verdict is Verdict.SAFE


# --- GGUF ------------------------------------------------------------------------------------


def test_the_gguf_reader_agrees_with_the_gguf_package(tmp_path: Path) -> None:
    gguf = pytest.importorskip("gguf")
    template = "{% for m in messages %}{{ m['content'] }}{% endfor %}"
    path = tmp_path / "t.gguf"
    path.write_bytes(_gguf({"a.b": 3, "tokens": ["x", "y"], "tokenizer.chat_template": template}))
    field = gguf.GGUFReader(path).fields["tokenizer.chat_template"]
    assert bytes(field.parts[field.data[0]]).decode() == template
    with path.open("rb") as stream:
        assert chat_templates(stream, path.stat().st_size) == {"tokenizer.chat_template": template}


@pytest.mark.parametrize(
    "data",
    [
        _gguf({"tokenizer.chat_template": "x"})[:-3],  # truncated
        b"GGUF" + struct.pack("<IQQ", 1, 0, 1),  # version 1
        b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + struct.pack("<Q", 1 << 40),  # huge key
        b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + struct.pack("<Q", 1) + b"k" + b"\x63\0\0\0",
    ],
    ids=["truncated", "v1", "huge-string", "unknown-type"],
)
def test_a_gguf_header_that_cannot_be_parsed_is_unsafe(data: bytes) -> None:
    assert "GGUF header cannot be parsed" in _reasons(data)


def test_named_gguf_templates_are_checked() -> None:
    data = _gguf({"tokenizer.chat_template.tool_use": "{{ x.__class__ }}"})
    findings = scan_bytes(data).findings
    assert findings and findings[0].entry.startswith("tokenizer.chat_template.tool_use")


# --- chat templates --------------------------------------------------------------------------

BENIGN_TEMPLATES = [
    "{{ bos_token }}{% for m in messages %}{{ m.role | upper }}: {{ m['content'] | trim }}"
    "{% if not loop.last %}\n{% endif %}{% endfor %}",
    "{% set date = strftime_now('%d %b %Y') %}{{ 'Today: ' ~ date }}"
    "{% for m in messages %}{% if m['role'] == 'system' %}{{ m['content'] }}{% endif %}"
    "{% endfor %}{% if messages|length > 2 %}{{ raise_exception('too long') }}{% endif %}",
    "{% for m in messages %}{% for t in m.tool_calls | default([]) %}"
    "{{ t.function.name }}{{ t.function.arguments | tojson(indent=2) }}{% endfor %}"
    "{% endfor %}{{ messages | selectattr('role', 'equalto', 'user') | list | length }}",
]

EVIL_TEMPLATES = {
    "dunder": "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "subscript": "{{ ''['__class__'] }}",
    "escaped": "{{ ''['\\x5f\\x5fclass\\x5f\\x5f'] }}",
    "joined": "{{ ''[['_', '_', 'class', '_', '_'] | join] }}",
    "percent": "{{ ''['%c%cclass%c%c' % (95, 95, 95, 95)] }}",
    "format-filter": "{{ ''['%s%sclass%s%s' | format('_', '_', '_', '_')] }}",
    "set-variable": "{% set a = '_' * 2 %}{% set k = a ~ 'class' ~ a %}{{ ''[k] }}",
    "computed-key": "{{ ''[messages[0]['content'] ~ 'x'] }}",
    "attr": "{{ '' | attr(messages[0]['content']) }}",
    "map-attribute": "{{ messages | map(attribute='mro') | list }}",
    "str-format": "{{ '{0.__class__}'.format(messages) }}",
    "gadget-name": "{{ joiner().__init__ }}",
    "os-popen": "{{ config.os.popen('id') }}",
}


@pytest.mark.parametrize("template", BENIGN_TEMPLATES)
def test_ordinary_chat_templates_pass(template: str) -> None:
    assert template_findings(template, "t") == []


@pytest.mark.parametrize("name", list(EVIL_TEMPLATES))
def test_templates_that_reach_python_internals_are_flagged(name: str) -> None:
    assert template_findings(EVIL_TEMPLATES[name], "t")


def test_a_template_that_does_not_parse_is_unsafe() -> None:
    findings = template_findings("{% for m in messages %}{{ m }}", "t")
    assert "cannot be parsed" in findings[0].reason


# --- archives --------------------------------------------------------------------------------


def test_tensor_records_are_never_parsed_as_pickles(tmp_path: Path) -> None:
    # A tensor whose raw bytes are a malicious pickle: torch reads them as numbers only.
    tensor = torch.frombuffer(bytearray(EVIL_PICKLE), dtype=torch.uint8).clone()
    path = tmp_path / "bytes.pt"
    torch.save({"raw": tensor}, path)
    assert scan_bytes(path.read_bytes()).verdict is Verdict.SAFE
    assert torch.equal(safe_torch_load(path)["raw"], tensor)


def test_the_same_bytes_as_a_member_of_another_name_are_parsed() -> None:
    data = _zip([("archive/data.pkl", b"\x80\x02}."), ("archive/data/notes", EVIL_PICKLE)])
    assert "nosuch.thing" in _reasons(data)


def test_a_malformed_pkl_member_is_unsafe_even_if_it_is_no_pickle() -> None:
    assert "cannot be analysed" in _reasons(_zip([("weights/extra.pkl", b"plain text")]))


def test_nesting_deeper_than_the_limit_is_refused() -> None:
    data = _torch_bytes({"w": torch.ones(1)})
    for level in range(MAX_DEPTH + 1):
        data = _zip([(f"level{level}.zip", data)])
    assert "nested more than" in _reasons(data)


def test_a_zip_appended_to_a_file_is_scanned_too() -> None:
    evil_zip = _zip([("a/data.pkl", EVIL_PICKLE)])
    assert "nosuch.thing" in _reasons(b"\x80\x02}." + evil_zip)


def test_decompression_is_bounded() -> None:
    import gzip

    with pytest.raises(ValueError, match="more than"):
        decompress("gzip", io.BytesIO(gzip.compress(b"\0" * 10_000)), limit=1_000)
    assert "cannot be decompressed" in _reasons(b"\x1f\x8b\x08\x00broken")


# --- files and folders -----------------------------------------------------------------------


def test_an_unrecognised_file_named_directly_is_unsafe(tmp_path: Path) -> None:
    (tmp_path / "notes.bin").write_bytes(bytes(range(256)) * 4)
    report = scan_paths([tmp_path / "notes.bin"])
    assert report.verdict is Verdict.UNSAFE
    assert "unrecognised format" in report.files[0].findings[0].reason


def test_a_folder_walk_skips_unrecognised_files(tmp_path: Path) -> None:
    (tmp_path / "README.md").write_text("# A model\n")
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "object").write_bytes(EVIL_PICKLE)
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "weights").write_bytes(_torch_bytes({"w": torch.ones(2)}))
    report = scan_paths([tmp_path])
    assert [Path(scan.path).name for scan in report.files] == ["weights"]
    assert [Path(path).name for path in report.skipped] == ["README.md"]
    assert report.verdict is Verdict.SAFE


def test_bad_paths_are_value_errors(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not a file"):
        scan_paths([tmp_path / "missing.pt"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="holds no file"):
        scan_paths([tmp_path / "empty"])
    with pytest.raises(ValueError, match="no file to scan"):
        scan_paths([])
