# Drift CRM Bridge: every target creates .venv on first use.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
CHECKOV_VENV := .venv-checkov
CHECKOV := $(CHECKOV_VENV)/bin/checkov
TF_SCHEMA := $(VENV)/tf-schema/google-6.50.0.json
UV := $(VENV)/bin/uv
LOCK_DATE := 2026-12-01T00:00:00Z
# One lock for Python 3.11 (local, CI) and the functions' python312 runtime (--universal).
UV_COMPILE = $(UV) pip compile --quiet --universal --python-version 3.11 --generate-hashes \
	--upgrade --exclude-newer $(LOCK_DATE) --custom-compile-command "make lock"

.PHONY: test unit lint tf-check bundle bench demo local preview ops clean lock

$(STAMP): requirements.txt requirements-dev.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install --quiet --require-hashes -r requirements-dev.txt
	@touch $(STAMP)

$(CHECKOV_VENV)/.installed: requirements-checkov.txt
	@test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	@$(CHECKOV_VENV)/bin/python -m pip install --quiet --require-hashes -r requirements-checkov.txt
	@touch $@

# The google provider's schema (hashicorp/google 6.50.0) for the schema check, extracted once
# from the hash-pinned cdktf-cdktf-provider-google wheel (scripts/tf_schema.py says how).
$(TF_SCHEMA): scripts/tf_schema.py | $(STAMP)
	@$(PY) scripts/tf_schema.py --build

## lock: compile requirements*.in into the hash-pinned requirements*.txt (uv, reproducible:
## nothing uploaded after LOCK_DATE is considered; raise LOCK_DATE to take newer releases)
lock:
	@test -x $(UV) || $(MAKE) $(STAMP)
	$(UV_COMPILE) requirements.in -o requirements.txt
	$(UV_COMPILE) requirements-dev.in -c requirements.txt -o requirements-dev.txt
	$(UV_COMPILE) requirements-checkov.in -o requirements-checkov.txt

## test: lint, Terraform checks and the whole pytest suite (emulator-backed tests included)
test: $(STAMP) lint tf-check bundle
	$(PY) -m pytest

## unit: the fast tests only (no emulator, no subprocesses)
unit: $(STAMP)
	$(PY) -m pytest tests/unit

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

tf-check: $(CHECKOV_VENV)/.installed $(TF_SCHEMA)
	terraform fmt -check -recursive terraform
	$(PY) scripts/tf_schema.py terraform
	$(CHECKOV) --quiet --compact --skip-download -d terraform --framework terraform

## bundle: one deployable zip per function in dist/
bundle: $(STAMP)
	$(PY) scripts/bundle.py --out dist

## bench: the benchmark suite; prints a table and writes bench/results.json
bench: $(STAMP)
	$(PY) -m bench

## demo: the whole local stack end to end with the Drift sample, then exit
##   (RECIPE=hubspot: deliver to the project's stand-in of that vendor's API instead)
demo: $(STAMP)
	$(PY) -m devtools.stack demo $(if $(RECIPE),--recipe $(RECIPE))

## local: the local stack in the foreground until Ctrl-C (RECIPE= as CRM_RECIPE)
local: $(STAMP)
	$(PY) -m devtools.stack local $(if $(RECIPE),--recipe $(RECIPE))

## preview: every request the CRM would receive, sending nothing
##   (RECIPE=hubspot|file, MAPPING=file, EVENT=webhook.json, CONVERSATION_ID=n)
preview: $(STAMP)
	$(PY) -m operations preview $(if $(RECIPE),--recipe $(RECIPE)) $(if $(MAPPING),--mapping $(MAPPING)) $(if $(EVENT),--event $(EVENT)) $(if $(CONVERSATION_ID),--conversation-id $(CONVERSATION_ID))

## ops: operator commands, e.g. make ops ARGS="replay --dry-run" (replay, sync, backfill, trace;
##   add --local to talk to a running make local)
ops: $(STAMP)
	$(PY) -m operations $(ARGS)

clean:
	rm -rf dist .pytest_cache .ruff_cache .hypothesis
