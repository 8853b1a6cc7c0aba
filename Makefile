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
# Where PYTHONDONTWRITEBYTECODE is set (it is in these sessions' shell), Python never caches bytecode: every process
# the tests start would compile its imports from source again (seconds of CPU each). Compile them once here instead.
PYC_ONCE := $(if $(PYTHONDONTWRITEBYTECODE),--compile-bytecode,)
setup: $(BIN)/uv
	$(BIN)/uv sync --frozen --quiet $(PYC_ONCE)
	$(if $(PYC_ONCE),$(BIN)/python -m compileall -q -j 0 controllers gateways firmware_sim api signalight dashboards contracts tests hil_tests benchmarks >/dev/null,)

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
	for b in poll fleet ingest e2e api measures cluster citizen_reports twin; do $(BIN)/python -m benchmarks.$$b || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache var
