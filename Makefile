# The two commands of the README: `make demo` and `make test` (plus `make ui`, `make bench`).
# Everything is installed into .venv from pyproject.toml; nothing is assumed on the machine
# beyond Python >= 3.11.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export DAGSTER_HOME := $(CURDIR)/.dagster_home

.PHONY: install demo test lint typecheck unit bench reliability ui clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python >= 3.11 is required (found %s); set PYTHON=" % sys.version.split()[0])'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)
	@mkdir -p $(DAGSTER_HOME)
	@test -e $(DAGSTER_HOME)/dagster.yaml || ln -s ../dagster.yaml $(DAGSTER_HOME)/dagster.yaml

demo: install
	$(BIN)/alchemiser demo

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check alchemiser_dagster bench reliability

typecheck: install
	$(BIN)/mypy alchemiser_dagster bench reliability

unit: install
	$(BIN)/pytest

test: lint typecheck unit

bench: install
	$(BIN)/python bench/dsl.py
	$(BIN)/python bench/daily_run.py
	$(BIN)/python bench/execution.py
	$(BIN)/python bench/backtest.py

reliability: install
	$(BIN)/python -m reliability

ui: install
	$(BIN)/alchemiser ui -w workspace.yaml --host 127.0.0.1 --port 3000

clean:
	rm -rf $(VENV) .alchemiser .dagster_home .pytest_cache .mypy_cache .ruff_cache
