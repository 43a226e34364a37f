# userpipe — every command a newcomer needs. `make help` lists them.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml constraints.txt | cksum | cut -d' ' -f1)
NODE   := node_modules/.installed-$(shell cat package.json package-lock.json | cksum | cut -d' ' -f1)
STAGE  ?= dev
CONTEXT ?=

# jsii warns about Node 20 on every call; CI and this machine run Node 20 by design.
export JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION := 1
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20

.PHONY: help install demo local test test-unit test-integration test-infra test-browser lint \
	format schemas console browser bench bench-quick layer runtime-python cdk-app synth deploy \
	destroy clean constraints

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[local,infra,dev]"
	rm -f $(VENV)/.installed-* && touch $@

$(NODE): package.json package-lock.json
	npm ci --no-audit --no-fund --silent
	rm -f node_modules/.installed-* && touch $@

# Debian's Chromium for the console's browser test (Playwright drives it; nothing is downloaded).
CHROMIUM := /usr/bin/chromium
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
$(CHROMIUM):
	$(SUDO) apt-get update -q >/dev/null
	$(SUDO) apt-get install -y -q chromium >/dev/null

install: $(STAMP) $(NODE) $(CHROMIUM) ## create .venv and node_modules with everything (runtime, local, infra, dev)

browser: $(CHROMIUM) ## install Debian's chromium (for the browser test) if it is missing

demo: $(STAMP) ## the main job: the local stack, driven through its public endpoints
	$(BIN)/userpipe demo

local: $(STAMP) ## serve the whole stack on this machine (port 4747) until Ctrl-C
	$(BIN)/userpipe local up

test: $(STAMP) $(NODE) $(CHROMIUM) layer ## every test: unit, integration (moto), property-based, infra, browser
	$(BIN)/python -m pytest

test-unit: $(STAMP) ## unit tests only (no network, fakes)
	$(BIN)/python -m pytest tests/unit

test-integration: $(STAMP) $(NODE) ## the local stack end to end, Amplify JS, the AWS CLI (moto)
	$(BIN)/python -m pytest tests/integration

test-infra: $(STAMP) $(NODE) layer ## CDK template assertions, cdk-nag, cfn-lint, CLI synth
	$(BIN)/python -m pytest tests/infra

test-browser: $(STAMP) $(NODE) $(CHROMIUM) ## the console in headless Chromium; screenshots in build/test-artifacts
	$(BIN)/python -m pytest tests/browser

console: $(NODE) ## bundle the browser console (console/src) into userpipe/console with esbuild
	node console/build.mjs

lint: $(STAMP) $(NODE) ## ruff (lint + format check), mypy, and AWS's APPSYNC_JS rules on the resolver code
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	npx --no-install eslint --max-warnings 0 contracts/

format: $(STAMP) ## apply ruff's fixes and formatting
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

schemas: $(STAMP) ## regenerate contracts/schemas/*.json from the models
	$(BIN)/python -m contracts.jsonschema

bench: $(STAMP) layer ## benchmarks against same-run baselines (~8 min): bench/results/latest.json
	$(BIN)/python -m bench

bench-quick: $(STAMP) layer ## a one-minute smoke run of the benchmarks (bench/results/quick.json)
	$(BIN)/python -m bench --quick

runtime-python: $(STAMP) ## unpack Debian's CPython 3.14 (pinned) into build/: it compiles the shipped bytecode
	@$(BIN)/python -m infra.bytecode || echo "warning: no CPython 3.14: the assets ship sources only, every cold start compiles (infra/bytecode.py; tests/infra/test_bytecode.py fails)" >&2

layer: $(STAMP) runtime-python ## build the functions' dependency layer (arm64 wheels from the package registry)
	$(BIN)/python -m infra.layer

cdk-app: $(STAMP) ## what cdk.json runs: the layer if missing, then the CDK app
	@$(BIN)/python -m infra.layer >/dev/null
	@$(BIN)/python -m infra.app

synth: $(STAMP) $(NODE) layer ## cdk synth for STAGE (default dev), more -c in CONTEXT; no credentials needed
	npx cdk synth --quiet -c stage=$(STAGE) $(CONTEXT)

deploy: $(STAMP) $(NODE) layer ## cdk deploy STAGE (more -c in CONTEXT) to the account in your AWS profile
	npx cdk deploy -c stage=$(STAGE) $(CONTEXT)

destroy: $(STAMP) $(NODE) ## cdk destroy STAGE (retained resources stay; see docs/deploy.md)
	npx cdk destroy -c stage=$(STAGE) $(CONTEXT)

constraints: ## re-pin constraints.txt to the newest versions pyproject.toml allows (then make lint test)
	rm -rf .venv-pin && $(PYTHON) -m venv .venv-pin
	.venv-pin/bin/python -m pip install --quiet -e ".[local,infra,dev]"
	{ head -n 3 constraints.txt; .venv-pin/bin/python -m pip freeze | grep -v '^-e\|^#'; } > constraints.new
	mv constraints.new constraints.txt && rm -rf .venv-pin

clean: ## remove the virtualenv, node_modules and build output
	rm -rf $(VENV) cdk.out build node_modules .pytest_cache .mypy_cache .ruff_cache .hypothesis \
		.userpipe
