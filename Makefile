# The two commands of the README: `make demo` and `make test` (plus `make ui`, `make bench`).
# Everything is installed into .venv from uv.lock, the exact set the tests ran with (uv
# itself comes from PyPI through the venv's pip); nothing is assumed on the machine beyond
# Python >= 3.11. `make lock` re-resolves uv.lock after a change to pyproject.toml.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
UV_VERSION := 0.13.9
UV := $(BIN)/uv
export UV_PROJECT_ENVIRONMENT := $(CURDIR)/$(VENV)
export DAGSTER_HOME := $(CURDIR)/.dagster_home

.PHONY: install demo test lint typecheck unit bench reliability ui lock clean

$(STAMP): pyproject.toml uv.lock
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python >= 3.11 is required (found %s); set PYTHON=" % sys.version.split()[0])'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	test -x $(UV) || $(BIN)/python -m pip install --quiet "uv==$(UV_VERSION)"
	$(UV) sync --locked --extra test --python $(BIN)/python --quiet
	touch $(STAMP)

lock:
	test -x $(UV) || $(MAKE) install
	$(UV) lock

install: $(STAMP)
	@mkdir -p $(DAGSTER_HOME)
	@test -e $(DAGSTER_HOME)/dagster.yaml || ln -s ../dagster.yaml $(DAGSTER_HOME)/dagster.yaml

demo: install
	$(BIN)/alchemiser demo

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

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
