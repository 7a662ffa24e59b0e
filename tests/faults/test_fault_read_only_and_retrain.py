"""A read-only cache still serves what it holds; ``retrain=True`` really trains from scratch.

Tests run as root, for whom ``chmod`` does not make a folder read-only, so a read-only cache is
simulated by making the writability probe fail (as it does on a read-only mount) and every
write fail the test; ``/proc`` serves as a real folder that nobody can create.
"""

from __future__ import annotations

import errno
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import fault_workers as workers
import pytest
import torch

from aisec import cache
from aisec.data import load as load_data
from aisec.models import language
from aisec.models import text as text_models
from aisec.zoo import catalog
from aisec.zoo import text as text_zoo

_NOWHERE = "/proc/aisec-read-only-cache"  # cannot be created, not even by root


@pytest.fixture()
def quick_zoo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Any]]:
    """A fresh cache, the quick ``digits-cnn`` recipe, and the results of every training."""
    monkeypatch.setenv("AISEC_CACHE", str(tmp_path))
    monkeypatch.setattr(catalog, "_ZOO", dict(catalog._ZOO))
    workers.use_quick_digits_spec()
    results: list[Any] = []
    real_train = catalog.train_classifier

    def recorded(*args: Any, **kwargs: Any) -> Any:
        results.append(real_train(*args, **kwargs))
        return results[-1]

    monkeypatch.setattr(catalog, "train_classifier", recorded)
    yield results


def _quick_bow(name: str, **kwargs: Any) -> text_models.BowClassifier:
    torch.manual_seed(0)
    model = text_models.BowClassifier(["good", "bad"], ["negative", "positive"], dim=8)
    model.test_accuracy = 0.5
    return model.eval()


def _make_read_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """From now on the cache cannot be written: the probe fails and writes fail the test."""

    def read_only_probe(path: Path) -> None:
        raise PermissionError(errno.EROFS, "Read-only file system", str(path))

    def no_write(*args: object, **kwargs: object) -> None:
        pytest.fail(f"a read-only cache was written: {args}")

    monkeypatch.setattr(cache, "_probe_writable", read_only_probe)
    for module in (catalog, text_zoo, language):
        real_lock = module.cache_lock  # type: ignore[attr-defined]

        def shared_only(entry: Any, *, shared: bool = False, _real: Any = real_lock) -> Any:
            if not shared:
                pytest.fail(f"a read-only cache entry was locked for writing: {entry}")
            return _real(entry, shared=shared)

        monkeypatch.setattr(module, "cache_lock", shared_only)
    import aisec.data.registry
    import aisec.models.checkpoint

    monkeypatch.setattr(aisec.models.checkpoint, "atomic_write_bytes", no_write)
    monkeypatch.setattr(aisec.data.registry, "atomic_write_bytes", no_write)


def test_retrain_trains_from_scratch(quick_zoo: list[Any]) -> None:
    first = catalog.load("digits-cnn", progress=False)
    assert [r.resumed_from_epoch for r in quick_zoo] == [0]
    catalog.load("digits-cnn", progress=False)  # cached: no training
    again = catalog.load("digits-cnn", progress=False, retrain=True)
    assert [(r.resumed_from_epoch, r.epochs_run) for r in quick_zoo] == [(0, 2), (0, 2)]
    assert workers.state_digest(again) == workers.state_digest(first)  # deterministic


def test_cached_entries_load_from_a_read_only_cache(
    quick_zoo: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from test_fault_tamper import _fake_converter

    monkeypatch.setattr(text_zoo, "train_tweets_model", _quick_bow)
    monkeypatch.setattr(language, "_convert_smollm2", _fake_converter([]))
    model = catalog.load("digits-cnn", progress=False)
    signs = load_data("signs", "test", n=12, seed=3)
    bow = text_zoo.load_text_model("tweets-bow").predict_proba(["good"])
    logits = language.load_language_model().token_logits(torch.tensor([[1, 2]]))
    _make_read_only(monkeypatch)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing to report: everything verifies
        again = catalog.load("digits-cnn", progress=False)
        assert torch.equal(load_data("signs", "test", n=12, seed=3).images, signs.images)
        assert torch.equal(text_zoo.load_text_model("tweets-bow").predict_proba(["good"]), bow)
        lm = language.load_language_model()
        assert torch.equal(lm.token_logits(torch.tensor([[1, 2]])), logits)
        status = next(s for s in catalog.list_models() if s.name == "digits-cnn")
    assert status.cached and len(quick_zoo) == 1
    assert workers.state_digest(again) == workers.state_digest(model)


def test_what_must_be_built_in_a_read_only_cache_is_a_clear_error_before_any_work(
    quick_zoo: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    catalog.load("digits-cnn", progress=False)
    _make_read_only(monkeypatch)
    conversions: list[Path] = []

    def convert(staging: Path) -> dict[str, Any]:
        conversions.append(staging)
        return {}

    monkeypatch.setattr(language, "_convert_smollm2", convert)
    monkeypatch.setattr(text_zoo, "train_tweets_model", _quick_bow)
    calls = [
        lambda: catalog.load("digits-cnn-noise", progress=False),
        lambda: catalog.load("digits-cnn", progress=False, retrain=True),
        lambda: text_zoo.load_text_model("tweets-bow"),
        lambda: language.load_language_model(),
    ]
    for call in calls:
        with pytest.raises(ValueError, match=r"cannot write the .* AISEC_CACHE"):
            call()
    assert len(quick_zoo) == 1 and not conversions  # nothing was trained or converted
    with pytest.warns(UserWarning, match="AISEC_CACHE.*not cached"):
        assert len(load_data("signs", "test", n=10, seed=4)) == 10  # data: generated anyway


def test_a_cache_that_cannot_exist_reads_nothing_and_says_what_to_set(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AISEC_CACHE", _NOWHERE)
    trained = [s for s in catalog.list_models() if not catalog.model_spec(s.name).pretrained]
    assert trained and not any(status.cached for status in trained)
    with pytest.raises(ValueError, match=r"trained model 'digits-cnn'.*AISEC_CACHE"):
        catalog.load("digits-cnn", progress=False)
    with pytest.warns(UserWarning, match="not cached"):
        assert len(load_data("signs", "test", n=10, seed=0)) == 10


def test_the_tour_runs_without_reuse_on_a_read_only_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from aisec.report.tour import Chapter, ChapterContext, ChapterResult, run_tour

    monkeypatch.setenv("AISEC_CACHE", _NOWHERE)
    runs: list[int] = []

    def chapter(context: ChapterContext) -> ChapterResult:
        runs.append(1)
        return ChapterResult(summary="ran", numbers={"n": 1})

    with pytest.warns(UserWarning, match="none is reused: .*not writable.*AISEC_CACHE"):
        result = run_tour([Chapter("c", "C", chapter)], tmp_path, progress=False, reuse=True)
    assert runs == [1] and result.chapters["c"]["status"] == "ok"
    assert (tmp_path / "results.json").is_file() and (tmp_path / "index.html").is_file()
