# The two commands: `make run` (local stack) and `make test` (whole suite). Both set themselves up.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
SAM_VENV := .tools/sam
SAM := $(SAM_VENV)/bin/sam
SAM_CLI_VERSION := 1.170.0
UV_VENV := .tools/uv
CHECKOV_VENV := .tools/checkov
CHECKOV := $(CHECKOV_VENV)/bin/checkov
CHECKOV_VERSION := 3.3.30
UV_VERSION := 0.13.9
export PYTHONPATH := $(CURDIR):$(CURDIR)/layers/gitconnect/python

.PHONY: run test unit functional e2e contract fuzz template static lint bench build deploy validate clean lock venv secrets

# The venv installs the lock exactly (hashes checked, nothing resolved): tests/unit/test_locks.py fails when what is
# installed differs from it.
$(VENV)/.installed: requirements-dev.txt layers/deps/requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q --require-hashes --no-deps -r requirements-dev.txt
	touch $@

# The locks (with hashes) from the unpinned top-level lists: the layer's for Lambda (python3.13, arm64), the dev tools'
# at the layer's versions. `make lock` after editing a .in file; `make lock UPGRADE=1` moves everything to current.
$(UV_VENV)/.installed:
	$(PYTHON) -m venv $(UV_VENV)
	$(UV_VENV)/bin/python -m pip install -q "uv==$(UV_VERSION)"
	touch $@

lock: $(UV_VENV)/.installed
	$(UV_VENV)/bin/uv pip compile -q $(if $(UPGRADE),--upgrade) --generate-hashes --custom-compile-command "make lock" \
		--python-version 3.13 --python-platform aarch64-manylinux_2_28 \
		-o layers/deps/requirements.txt layers/deps/requirements.in
	$(UV_VENV)/bin/uv pip compile -q $(if $(UPGRADE),--upgrade) --generate-hashes --custom-compile-command "make lock" \
		--python-version 3.11 -o requirements-dev.txt requirements-dev.in

# SAM CLI pins its own boto3/pydantic: it lives in a tool venv of its own.
$(SAM_VENV)/.installed:
	$(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/python -m pip install -q "aws-sam-cli==$(SAM_CLI_VERSION)"
	touch $@

# checkov pins its own boto3 and friends, like the SAM CLI: a tool venv of its own.
$(CHECKOV_VENV)/.installed:
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install -q "checkov==$(CHECKOV_VERSION)"
	touch $@

venv: $(VENV)/.installed

run: $(VENV)/.installed
	$(PY) -m infra.local

# mypy --strict over the package and the functions (pyproject's [tool.mypy]) first: zero errors, or no tests.
test: $(VENV)/.installed $(SAM_VENV)/.installed $(CHECKOV_VENV)/.installed
	$(VENV)/bin/mypy
	GITCONNECT_SAM=$(CURDIR)/$(SAM) GITCONNECT_CHECKOV=$(CURDIR)/$(CHECKOV) $(PY) -m pytest

unit: $(VENV)/.installed
	$(PY) -m pytest tests/unit

functional: $(VENV)/.installed
	$(PY) -m pytest tests/functional

e2e: $(VENV)/.installed
	$(PY) -m pytest tests/e2e

contract: $(VENV)/.installed
	$(PY) -m pytest tests/contract

fuzz: $(VENV)/.installed
	$(PY) -m pytest tests/fuzz

# cfn-lint, `sam validate --lint`, checkov (with its reviewed baseline) and the IAM checks over template.yaml.
template: $(VENV)/.installed $(SAM_VENV)/.installed $(CHECKOV_VENV)/.installed
	GITCONNECT_SAM=$(CURDIR)/$(SAM) GITCONNECT_CHECKOV=$(CURDIR)/$(CHECKOV) $(PY) -m pytest tests/template

# ruff and import-linter over the tree, and what hot-path modules import in a fresh interpreter.
static: $(VENV)/.installed
	$(PY) -m pytest tests/static

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports
	$(VENV)/bin/mypy

bench: $(VENV)/.installed
	$(PY) -m bench

validate: $(SAM_VENV)/.installed
	$(SAM) validate --lint

build: $(SAM_VENV)/.installed
	PYENV_VERSION=3.11.7:3.13.0 $(SAM) build

# Guided the first time (samconfig.toml names no parameter_overrides yet: SAM asks for every parameter and saves the
# answers there), then not: `sam deploy` with what was saved. README "First deploy".
deploy: build
	@if grep -q '^parameter_overrides' samconfig.toml; then $(SAM) deploy; else $(SAM) deploy --guided; fi

# ProviderSecrets from .secrets.json (or SECRETS_FILE=…), else from the environment; prints names, never values.
secrets: $(VENV)/.installed
	$(PY) -m infra.deploy.secrets $(if $(SECRETS_FILE),--file $(SECRETS_FILE))

clean:
	rm -rf $(VENV) $(SAM_VENV) .aws-sam .pytest_cache .mypy_cache
