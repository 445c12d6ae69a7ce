# The two commands: `make run` (local stack) and `make test` (whole suite). Both set themselves up.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
SAM_VENV := .tools/sam
SAM := $(SAM_VENV)/bin/sam
SAM_CLI_VERSION := 1.170.0
export PYTHONPATH := $(CURDIR):$(CURDIR)/layers/gitconnect/python

.PHONY: run test unit functional e2e browser contract fuzz template static lint bench build deploy validate clean

$(VENV)/.installed: requirements-dev.txt layers/deps/requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements-dev.txt
	touch $@

# SAM CLI pins its own boto3/pydantic: it lives in a tool venv of its own.
$(SAM_VENV)/.installed:
	$(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/python -m pip install -q "aws-sam-cli==$(SAM_CLI_VERSION)"
	touch $@

venv: $(VENV)/.installed

run: $(VENV)/.installed
	$(PY) -m infra.local

# mypy --strict over the package and the functions (pyproject's [tool.mypy]) first: zero errors, or no tests.
test: $(VENV)/.installed $(SAM_VENV)/.installed
	$(VENV)/bin/mypy
	GITCONNECT_SAM=$(CURDIR)/$(SAM) $(PY) -m pytest

unit: $(VENV)/.installed
	$(PY) -m pytest tests/unit

functional: $(VENV)/.installed
	$(PY) -m pytest tests/functional

e2e: $(VENV)/.installed
	$(PY) -m pytest tests/e2e

# The dashboard in headless Chromium (Debian chromium + chromium-driver; installed by the tests when missing, as root).
browser: $(VENV)/.installed
	$(PY) -m pytest tests/browser

contract: $(VENV)/.installed
	$(PY) -m pytest tests/contract

fuzz: $(VENV)/.installed
	$(PY) -m pytest tests/fuzz

# cfn-lint and `sam validate --lint` over template.yaml: the one tier that needs the SAM CLI's tool venv.
template: $(VENV)/.installed $(SAM_VENV)/.installed
	GITCONNECT_SAM=$(CURDIR)/$(SAM) $(PY) -m pytest tests/template

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

deploy: build
	$(SAM) deploy

clean:
	rm -rf $(VENV) $(SAM_VENV) .aws-sam .pytest_cache .mypy_cache
