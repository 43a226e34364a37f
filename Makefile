# userpipe — every command a newcomer needs. `make help` lists them.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)

export JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION := 1

.PHONY: help install demo test test-unit test-integration lint format schemas bench clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[local,infra,dev]"
	rm -f $(VENV)/.installed-* && touch $@

install: $(STAMP) ## create .venv with everything (runtime, local stack, infra, dev tools)

demo: $(STAMP) ## the main job: sign users up and watch them flow through the pipeline
	$(BIN)/userpipe demo

test: $(STAMP) ## every test: unit, integration (moto), property-based
	$(BIN)/python -m pytest

test-unit: $(STAMP) ## unit tests only (no network, fakes)
	$(BIN)/python -m pytest tests/unit

test-integration: $(STAMP) ## integration tests only (moto)
	$(BIN)/python -m pytest tests/integration

lint: $(STAMP) ## ruff (lint + format check) and mypy
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: $(STAMP) ## apply ruff's fixes and formatting
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

schemas: $(STAMP) ## regenerate contracts/schemas/*.json from the models
	$(BIN)/python -m contracts.jsonschema

bench: $(STAMP) ## benchmarks: the trigger's cold-import budget
	$(BIN)/python bench/trigger_import.py

clean: ## remove the virtualenv and build output
	rm -rf $(VENV) cdk.out node_modules .pytest_cache .mypy_cache .ruff_cache .hypothesis
