# On a fresh machine: `make demo` runs the core offline, `make up IMAGES=DIR` pre-labels a folder of photos in a
# local Label Studio (`make down` stops it), `make test` runs every test. Each installs what it needs into .venv
# first (Python 3.11+ with venv and pip is all they assume), and only that.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
IMAGES ?= examples/images
UP_ARGS ?=

.PHONY: demo up down check test test-clone lint bench install services system-services label-studio

# One stamp per part: the core (normaliser, CLI, backend, worker), CLIP (torch: several GB), the test tools
# (with CLIP). Installing a larger part stamps the smaller ones it contains.
install: $(VENV)/.installed

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed-core: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet --editable .
	touch $@

$(VENV)/.installed-clip: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet --editable '.[clip]'
	touch $@ $(VENV)/.installed-core

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet --editable '.[test]'
	touch $@ $(VENV)/.installed-clip $(VENV)/.installed-core

demo: $(VENV)/.installed-core
	$(BIN)/prelabel normalize --vocab vocab/plant-quarantine-pests.yaml < examples/answers.txt
	@echo "(That was the normaliser alone, offline. From photos to pre-labels in Label Studio: make up IMAGES=DIR)" >&2

# CLIP is installed only when it is on: PRELABEL_CLIP_MODEL unset means the default model, set empty means off.
CLIP_ON := $(if $(filter undefined,$(origin PRELABEL_CLIP_MODEL)),yes,$(PRELABEL_CLIP_MODEL))
up: $(VENV)/.installed-core $(if $(CLIP_ON),$(VENV)/.installed-clip)
	$(BIN)/prelabel up --images $(IMAGES) $(UP_ARGS)

down: $(VENV)/.installed-core
	$(BIN)/prelabel down

check: $(VENV)/.installed-core $(if $(CLIP_ON),$(VENV)/.installed-clip)
	$(BIN)/prelabel check

lint: install
	$(BIN)/ruff check backend tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

# On a fresh machine the installs take minutes: .venv (lint and the tests need it), Label Studio's venv and Debian's
# packages are installed side by side (--jobs; --output-sync keeps each part's output together), then pytest.
PREPARE := $(MAKE) --no-print-directory --jobs=3 --output-sync=target

test:
	$(PREPARE) lint services
	scripts/pytest-in-two

# The fresh-clone test alone (make demo and make up in a new clone with its own venv), after a change to the
# Makefile, pyproject.toml or the quick start; `make test` runs it too.
test-clone:
	$(PREPARE) install services
	$(BIN)/python -m pytest -m clone

# What the tests talk to: Redis on 127.0.0.1:6379, PostgreSQL on 127.0.0.1:5432 (the learned store's
# several-machine mode), Label Studio 1.23.2 in its own venv (.venvs-ls; `prelabel up` uses it too), and headless
# Chromium (the report's screenshot, the labeling page). Label Studio's venv (pip) installs beside the Debian
# packages (apt, one at a time: dpkg has one lock).
services: system-services label-studio

system-services:
	scripts/ensure-redis.sh
	scripts/ensure-postgres.sh
	scripts/ensure-chromium.sh

label-studio:
	scripts/install-label-studio.sh

bench: install
	$(BIN)/python bench/normalize_bench.py
	$(BIN)/python bench/normalize_corpus.py
	$(BIN)/python bench/calibration_prior.py --check
