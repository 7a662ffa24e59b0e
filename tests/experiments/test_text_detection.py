"""Detection over a corpus: the corpus loaders, the watermark test and the zero-shot scores per
text, the same in any shards (and on Ray in ``test_ray_executor.py``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from shard_cases import green_text

import aisec.experiments.names
from aisec.experiments import text_detection
from aisec.experiments.sharded import Execution
from aisec.experiments.text_detection import CorpusDetectionPlan, load_corpus
from tiny_language_model import tiny_lm


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    folder = tmp_path / "corpus"
    folder.mkdir()
    texts = {
        "a-marked.txt": green_text(60),
        "b-plain.txt": "the quick brown fox jumps over the lazy dog, again and again today",
        "c-short.txt": "hi",
        "d-marked.txt": green_text(40, key=15485863),
        "e-plain.txt": "an ordinary sentence written by a person who likes long walks outside",
    }
    for name, text in texts.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


@pytest.fixture
def lm(monkeypatch: pytest.MonkeyPatch) -> Any:
    model = tiny_lm()
    monkeypatch.setattr(aisec.experiments.names, "language_model", lambda name: model)
    return model


def test_a_corpus_is_a_folder_or_a_table(tmp_path: Path, corpus: Path) -> None:
    _, names = load_corpus(str(corpus))
    assert names == ["a-marked.txt", "b-plain.txt", "c-short.txt", "d-marked.txt", "e-plain.txt"]
    lines = tmp_path / "t.jsonl"
    lines.write_text(json.dumps({"body": "one"}) + "\n\n" + json.dumps({"body": "two"}) + "\n")
    assert load_corpus(f"jsonl:{lines}", "body") == (["one", "two"], ["line 1", "line 3"])
    table = tmp_path / "t.csv"
    table.write_text("id,text\n1,hello there\n2,general\n")
    assert load_corpus(str(table))[0] == ["hello there", "general"]
    for source, message in [
        (str(tmp_path / "nope"), "does not exist"),
        (f"jsonl:{lines}", "no text column 'text'"),
        (f"csv:{table}", "has no column 'body'"),
    ]:
        with pytest.raises(ValueError, match=message):
            load_corpus(source, "body" if source.startswith("csv:") else "text")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="holds no texts"):
        load_corpus(str(tmp_path / "empty"))
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "x.txt").write_bytes(b"\xff\xfe\x00")
    with pytest.raises(ValueError, match="not UTF-8"):
        load_corpus(str(tmp_path / "bin"))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"method": "magic"}, "unknown method 'magic'"),
        ({"seeding": "nope"}, "unknown seeding"),
        ({"model": "gpt-9"}, "unknown language model 'gpt-9'"),
        ({"max_tokens": 2}, "max_tokens must be >= 6"),
        ({"z_threshold": float("nan")}, "z_threshold"),
    ],
)
def test_a_bad_plan_is_refused_before_anything_loads(
    corpus: Path, kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        CorpusDetectionPlan(corpus=str(corpus), **kwargs)


def test_the_watermark_is_found_in_its_texts_only_in_any_shards(lm: Any, corpus: Path) -> None:
    plan = CorpusDetectionPlan(corpus=str(corpus))
    result = text_detection.run(plan)
    verdicts = [r.get("watermarked") for r in result.records]
    assert verdicts == [True, False, None, True, False]  # "hi": too short to decide
    assert "undecided" in result.records[2]
    assert result.flagged().count == 2 and result.flagged().total == 4
    for size in (1, 2):
        sharded = text_detection.run(plan, execution=Execution(shard_size=size))
        assert sharded.records == result.records
    record = json.loads(json.dumps(result.to_dict()))
    assert record["texts"] == 5 and record["scored"] == 4 and record["flagged"]["count"] == 2
    other_key = text_detection.run(CorpusDetectionPlan(corpus=str(corpus), key=7))
    assert other_key.flagged().count == 0  # another key: no watermark


def test_zero_shot_scores_do_not_depend_on_the_shards(lm: Any, corpus: Path) -> None:
    plan = CorpusDetectionPlan(corpus=str(corpus), method="zero-shot", max_tokens=32)
    whole = text_detection.run(plan)
    split = text_detection.run(plan, execution=Execution(shard_size=2))
    assert split.records == whole.records
    scored = whole.decided
    assert len(scored) == 4 and all(r["tokens_scored"] <= 32 for r in scored)
    assert {"fast_detectgpt", "log_likelihood", "log_rank"} <= set(scored[0])
