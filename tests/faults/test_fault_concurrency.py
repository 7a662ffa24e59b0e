"""Concurrent processes on one cache: no crash, never a mixed state, one training per entry."""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import fault_workers as workers
import torch

from aisec.models.checkpoint import load_checkpoint

WRITERS = 3


def test_concurrent_writers_and_readers_never_mix_two_checkpoints(tmp_path: Path) -> None:
    path = str(tmp_path / "shared")
    with ProcessPoolExecutor(max_workers=WRITERS + 2, mp_context=workers.context()) as pool:
        readers = [pool.submit(workers.read_repeatedly, path, WRITERS, 4.0) for _ in range(2)]
        writers = [pool.submit(workers.write_repeatedly, path, i, 25) for i in range(WRITERS)]
        assert [w.result(timeout=120) for w in writers] == [25] * WRITERS  # no writer crashed
        loads = [r.result(timeout=120) for r in readers]  # a mixed load raises in the reader
    assert sum(loads) > 0
    tensors, metadata = load_checkpoint(path)  # the last complete write, verified
    want_tensors, want_metadata = workers.writer_content(metadata["writer"])
    assert metadata == want_metadata
    assert all(torch.equal(tensors[k], v) for k, v in want_tensors.items())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["shared.safetensors"]  # no leftovers


def test_two_processes_wanting_one_model_train_it_once(tmp_path: Path) -> None:
    cache, log = str(tmp_path / "cache"), str(tmp_path / "trainings.log")
    with ProcessPoolExecutor(max_workers=2, mp_context=workers.context()) as pool:
        futures = [
            pool.submit(workers.load_zoo_model_logging_training, cache, log) for _ in range(2)
        ]
        digests = [future.result(timeout=180) for future in futures]
    assert len(Path(log).read_text().splitlines()) == 1  # the second found the first's model
    assert digests[0] == digests[1]
