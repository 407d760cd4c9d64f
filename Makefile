# Two commands on a fresh machine: `make demo` runs the main job, `make test` runs every test.
# Both install what they need into .venv first (Python 3.11+ with venv and pip is all they assume).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test lint bench install

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

test: lint
	$(BIN)/python -m pytest

bench: install
	$(BIN)/python bench/normalize_bench.py
