# The few verbs people type. Everything installs into ./.venv on first use.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PACKAGES := -e libs/ferry-core -e libs/ferry-testkit -e libs/ferry-sdk \
            -e services/auth -e services/ingest -e services/parser -e services/notifier -e services/launcher
PYPROJECTS := $(wildcard libs/*/pyproject.toml services/*/pyproject.toml)

.PHONY: dev test unit e2e test-faults load bench lint fmt lock contracts clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Runtime dependencies: enough for `make dev`.
$(VENV)/.runtime: $(BIN)/python requirements/runtime.txt $(PYPROJECTS)
	$(BIN)/python -m pip install -q --disable-pip-version-check -r requirements/runtime.txt
	$(BIN)/python -m pip install -q --disable-pip-version-check --no-deps $(PACKAGES)
	touch $@

# Test and lint tools on top.
$(VENV)/.dev: $(VENV)/.runtime requirements/dev.txt
	$(BIN)/python -m pip install -q --disable-pip-version-check -r requirements/dev.txt
	touch $@

dev: $(VENV)/.runtime  ## run the whole platform on http://127.0.0.1:8000 (FERRY_PORT overrides)
	$(BIN)/ferry dev

test: $(VENV)/.dev  ## every test: unit, integration and end-to-end, against real servers
	scripts/test-prereqs.sh
	$(BIN)/python -m pytest

unit: $(VENV)/.dev
	$(BIN)/python -m pytest libs services

e2e: $(VENV)/.dev
	scripts/test-prereqs.sh
	$(BIN)/python -m pytest tests/e2e

test-faults: $(VENV)/.dev  ## crash, restart and kill tests against the services as separate processes
	scripts/test-prereqs.sh
	$(BIN)/python -m pytest tests/faults -p no:cacheprovider

load: $(VENV)/.dev  ## FERRY_LOAD_CLIENTS x FERRY_LOAD_FILES concurrent uploads (default 50 x 20); prints files/s, MB/s, p50/p99
	scripts/test-prereqs.sh
	$(BIN)/python -m pytest tests/load -p no:cacheprovider -s

bench: $(VENV)/.dev
	scripts/test-prereqs.sh
	$(BIN)/python -m pytest tests/bench -p no:cacheprovider -s

lint: $(VENV)/.dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy libs/ferry-core/src libs/ferry-testkit/src libs/ferry-sdk/src services/*/src
	$(BIN)/lint-imports
	$(BIN)/ferry contracts check

fmt: $(VENV)/.dev
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

contracts: $(VENV)/.runtime  ## regenerate contracts/ from the code
	$(BIN)/ferry contracts write

lock: $(VENV)/.dev  ## re-pin requirements/*.txt from requirements/*.in
	$(BIN)/python -m pip install -q uv
	$(BIN)/uv pip compile -q --python-version 3.11 requirements/runtime.in -o requirements/runtime.txt
	$(BIN)/uv pip compile -q --python-version 3.11 requirements/dev.in -o requirements/dev.txt

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
