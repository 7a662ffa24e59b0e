"""Shards of an experiment's examples: the task, its outputs, their checkpoints.

An experiment that works per example builds a :class:`ShardTask` — a picklable object holding
the model and the data, whose ``run_shard(start, stop)`` evaluates examples ``start … stop−1``
— and hands it to :func:`~aisec.experiments.sharded.run_sharded`. Here: the
:class:`Shard` s of whole batches (:func:`plan_shards`), a shard's :class:`ShardOutput` and
its file, the :class:`ShardStore` of a run's finished shards, the :func:`fingerprint` that
keys it, and the :class:`ShardProgress` given to progress callbacks.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass, field, is_dataclass
from pathlib import Path
from typing import Any, ClassVar, Protocol, Self, runtime_checkable

import torch
from safetensors.torch import load as load_safetensors
from safetensors.torch import save as save_safetensors
from torch import Tensor

from aisec.files import atomic_write_bytes

__all__ = [
    "Shard",
    "ShardOutput",
    "ShardProgress",
    "ShardStore",
    "ShardTask",
    "TensorTask",
    "fingerprint",
    "plan_shards",
]

_META_KEY = "aisec.shard"


@dataclass(frozen=True)
class Shard:
    """Examples ``start … stop−1`` of an experiment (``index``: the shard's number)."""

    index: int
    start: int
    stop: int

    @property
    def size(self) -> int:
        """Examples in the shard."""
        return self.stop - self.start


@dataclass
class ShardOutput:
    """What one shard produced: per-example tensors and JSON-able values.

    Attributes:
        tensors: named tensors (per-example ones have the shard's size as first dimension).
        meta: JSON-able values (counts, times, per-example records).
    """

    tensors: dict[str, Tensor] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)

    def to_bytes(self) -> bytes:
        """The output as one safetensors file (``meta`` as JSON in its metadata)."""
        tensors = {name: value.detach().cpu().contiguous() for name, value in self.tensors.items()}
        return save_safetensors(tensors, metadata={_META_KEY: json.dumps(self.meta)})

    @classmethod
    def from_bytes(cls, data: bytes) -> ShardOutput:
        """The output :meth:`to_bytes` wrote."""
        tensors = load_safetensors(data)
        # A safetensors file starts with its header's length (8 bytes) and the JSON header,
        # whose "__metadata__" holds the meta.
        header_size = int.from_bytes(data[:8], "little")
        header = json.loads(data[8 : 8 + header_size])
        meta = json.loads(header.get("__metadata__", {}).get(_META_KEY, "{}"))
        return cls(tensors=dict(tensors), meta=meta)


@runtime_checkable
class ShardTask(Protocol):
    """The per-example work of an experiment, sent once to every worker.

    It holds the model and the data (so it must pickle); ``run_shard`` evaluates examples
    ``start … stop−1`` exactly as the serial run evaluates them; ``to`` moves the model and
    data to a worker's device; ``fingerprint`` identifies the work (plan, model weights,
    data), so that a rerun only resumes shards of the same work.
    """

    def run_shard(self, start: int, stop: int) -> ShardOutput: ...

    def to(self, device: str) -> ShardTask: ...

    def fingerprint(self) -> str: ...


class TensorTask:
    """What the tasks over a model and tensors ``x``, ``y`` share: moving them to a device,
    and the fingerprint of the plan, the weights and the data under the task's ``kind``."""

    kind: ClassVar[str]
    model: Any
    x: Tensor
    y: Tensor
    plan: object

    def to(self, device: str) -> Self:
        """This task with its model (when it is a module) and its tensors on ``device``."""
        if isinstance(self.model, torch.nn.Module):
            self.model = self.model.to(device)
        self.x, self.y = self.x.to(device), self.y.to(device)
        return self

    def fingerprint(self) -> str:
        """The plan, the weights and the data."""
        return fingerprint(self.kind, self.plan, self.model, self.x, self.y)


@dataclass(frozen=True)
class ShardProgress:
    """How far a sharded run is (given to progress callbacks after every shard)."""

    shards_done: int
    shards_total: int
    examples_done: int
    examples_total: int
    elapsed_s: float

    @property
    def examples_per_second(self) -> float:
        """Examples finished per second of this run (resumed ones excluded)."""
        return self.examples_done / self.elapsed_s if self.elapsed_s > 0 else 0.0


def plan_shards(n: int, shard_size: int, batch_size: int = 1) -> list[Shard]:
    """Consecutive shards of ``n`` examples, each ``shard_size`` rounded up to whole batches.

    A shard then holds whole batches of the serial run (batch ``k`` is examples
    ``k·batch_size … (k+1)·batch_size − 1``); only the last shard may be smaller.

    Raises:
        ValueError: for a negative ``n`` or a size below 1.
    """
    for name, value, low in (
        ("n", n, 0),
        ("shard_size", shard_size, 1),
        ("batch_size", batch_size, 1),
    ):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ValueError(f"{name} must be an int >= {low}, got {value!r}")
    size = math.ceil(shard_size / batch_size) * batch_size
    return [
        Shard(index, start, min(start + size, n)) for index, start in enumerate(range(0, n, size))
    ]


def _canonical(value: object) -> object:
    """A JSON-able form of plans and settings (dataclasses, paths, tuples)."""
    if is_dataclass(value) and not isinstance(value, type):
        return {key: _canonical(item) for key, item in asdict(value).items()}
    if isinstance(value, dict):
        return {str(key): _canonical(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_canonical(item) for item in value]
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return repr(value)


def fingerprint(*parts: object) -> str:
    """SHA-256 of ``parts``: tensors by their dtype, shape and bytes; modules by their state;
    anything else (plans, names, numbers) by its canonical JSON.

    The key of a run's checkpoints: the same plan on the same weights and data gives the
    same fingerprint on every machine; any change gives another.
    """
    digest = hashlib.sha256()

    def add(part: object) -> None:
        if isinstance(part, Tensor):
            value = part.detach().cpu().contiguous()
            digest.update(f"tensor:{value.dtype}:{tuple(value.shape)}:".encode())
            digest.update(value.reshape(-1).view(torch.uint8).numpy().tobytes())
        elif isinstance(part, torch.nn.Module):
            for name, value in sorted(part.state_dict().items()):
                digest.update(name.encode())
                add(value)
        elif isinstance(part, (list, tuple)) and any(
            isinstance(item, (Tensor, torch.nn.Module)) for item in part
        ):
            for item in part:
                add(item)
        else:
            digest.update(json.dumps(_canonical(part), sort_keys=True).encode())
        digest.update(b"|")

    for part in parts:
        add(part)
    return digest.hexdigest()


class ShardStore:
    """Finished shards of one run, as safetensors files in a folder, written atomically.

    The folder is ``root / f"{kind}-{fingerprint[:16]}"``: a run of other work (another plan,
    other weights or data) never reads these shards. A shard is stored under its example
    range, so a rerun with another shard size recomputes what it does not find.
    """

    def __init__(self, root: Path, kind: str, key: str) -> None:
        self.folder = Path(root) / f"{kind}-{key[:16]}"

    def _path(self, shard: Shard) -> Path:
        return self.folder / f"{shard.start:09d}-{shard.stop:09d}.safetensors"

    def load(self, shard: Shard) -> ShardOutput | None:
        """The stored output of ``shard``, or ``None``."""
        path = self._path(shard)
        if not path.is_file():
            return None
        return ShardOutput.from_bytes(path.read_bytes())

    def save(self, shard: Shard, output: ShardOutput) -> None:
        """Store ``shard``'s output (atomically: a reader sees it whole or not at all)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(self._path(shard), output.to_bytes())
