# Two commands on a fresh machine: `make demo` runs the main job, `make test` runs every test.
# Both install what they need into .venv first (Python 3.11+ with venv and pip is all they assume).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test lint bench install services

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet --editable '.[test]'
	touch $@

demo: install
	$(BIN)/prelabel normalize --vocab vocab/plant-quarantine-pests.yaml < examples/answers.txt

lint: install
	$(BIN)/ruff check backend tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

test: lint services
	$(BIN)/python -m pytest

# What the tests talk to: Redis on 127.0.0.1:6379, PostgreSQL on 127.0.0.1:5432 (the learned store's
# several-machine mode), Label Studio 1.23.2 in its own venv (.venvs-ls), and headless Chromium (the report's
# screenshot).
services:
	scripts/ensure-redis.sh
	scripts/ensure-postgres.sh
	scripts/install-label-studio.sh
	scripts/ensure-chromium.sh

bench: install
	$(BIN)/python bench/normalize_bench.py
