# The front door: `make demo` and `make test` set everything up on a fresh machine.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
UV_VERSION := 0.13.9

.PHONY: setup demo test check lint typecheck unit services bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(BIN)/uv: $(BIN)/python
	$(BIN)/python -m pip install --quiet "uv==$(UV_VERSION)"

# Installs the locked dependencies (uv.lock) into .venv, the project itself included (editable).
setup: $(BIN)/uv
	$(BIN)/uv sync --frozen --quiet

demo: setup
	$(BIN)/signalight demo

services:
	bash .ci/install-services.sh

lint: setup
	$(BIN)/ruff check .

typecheck: setup
	$(BIN)/mypy

# The whole suite: lint, types, unit, integration (real Mosquitto, InfluxDB, PostgreSQL) and end-to-end tests.
test: setup services lint typecheck
	$(BIN)/pytest

unit: setup
	$(BIN)/pytest -m "not integration and not e2e"

bench: setup services
	for b in poll fleet ingest e2e api measures cluster citizen_reports; do $(BIN)/python -m benchmarks.$$b || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache var
