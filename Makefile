# Drift CRM Bridge: every target creates .venv on first use.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
CHECKOV_VENV := .venv-checkov
CHECKOV := $(CHECKOV_VENV)/bin/checkov

.PHONY: test unit lint tf-check bundle bench demo local preview ops clean

$(STAMP): requirements.txt requirements-dev.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install --quiet --upgrade pip
	@$(PY) -m pip install --quiet -r requirements-dev.txt
	@touch $(STAMP)

$(CHECKOV_VENV)/.installed: requirements-checkov.txt
	@test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	@$(CHECKOV_VENV)/bin/python -m pip install --quiet --upgrade pip
	@$(CHECKOV_VENV)/bin/python -m pip install --quiet -r requirements-checkov.txt
	@touch $@

## test: lint, Terraform checks and the whole pytest suite (emulator-backed tests included)
test: $(STAMP) lint tf-check bundle
	$(PY) -m pytest

## unit: the fast tests only (no emulator, no subprocesses)
unit: $(STAMP)
	$(PY) -m pytest tests/unit

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

tf-check: $(CHECKOV_VENV)/.installed
	terraform fmt -check -recursive terraform
	$(CHECKOV) --quiet --compact --skip-download -d terraform --framework terraform

## bundle: one deployable zip per function in dist/
bundle: $(STAMP)
	$(PY) scripts/bundle.py --out dist

## bench: the benchmark suite; prints a table and writes bench/results.json
bench: $(STAMP)
	$(PY) -m bench

## demo: the whole local stack end to end with the Drift sample, then exit
demo: $(STAMP)
	$(PY) -m devtools.stack demo

## local: the local stack in the foreground until Ctrl-C
local: $(STAMP)
	$(PY) -m devtools.stack local

## preview: what the CRM would receive (MAPPING=file, EVENT=webhook.json, CONVERSATION_ID=n)
preview: $(STAMP)
	$(PY) -m operations preview $(if $(MAPPING),--mapping $(MAPPING)) $(if $(EVENT),--event $(EVENT)) $(if $(CONVERSATION_ID),--conversation-id $(CONVERSATION_ID))

## ops: operator commands, e.g. make ops ARGS="replay --dry-run" (replay, sync, backfill)
ops: $(STAMP)
	$(PY) -m operations $(ARGS)

clean:
	rm -rf dist .pytest_cache .ruff_cache .hypothesis
