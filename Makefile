# The README's commands. `make demo` and `make test` install what they need on first use.
SHELL := /bin/bash
# Two jobs: the installs and the checks before the tests (lint, types, templates, checkov, IAM, sam
# build) run side by side on a 2-core machine; their lines interleave, the tests print as they run.
MAKEFLAGS += --jobs=2 --output-sync=line
PYTHON ?= python3
VENV := .venv
SAM_VENV := .venv-sam
CHECKOV_VENV := .venv-checkov
BIN := $(VENV)/bin
SAM := SAM_CLI_TELEMETRY=0 $(SAM_VENV)/bin/sam
BLUEPRINTS := layers/pipewarden/pipewarden/blueprints/*.yaml
# --no-compile: a module is compiled when first imported, not every installed file at install time.
PIP_FLAGS := -q --disable-pip-version-check --no-compile
# sam build needs the Lambda runtime's Python (3.13) on PATH; pyenv machines keep it aside.
PY313 := $(shell for c in "$$(command -v python3.13)" "$$(pyenv root 2>/dev/null)"/versions/3.13*/bin/python3.13; do \
	[ -x "$$c" ] && "$$c" -c 'import sys; assert sys.version_info[:2] == (3, 13)' 2>/dev/null && { echo "$$c"; break; }; done)

.PHONY: demo test install lint typecheck validate security iam-lint build unit integration bench chaos local lock clean

demo: install ## run pipewarden's main job in the local sandbox, narrated
	$(BIN)/python -m sandbox.demo

test: install $(SAM_VENV)/.installed lint typecheck validate security iam-lint build ## everything CI runs
	$(BIN)/pytest

install: $(VENV)/.installed

$(VENV)/.installed: requirements/dev.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install $(PIP_FLAGS) -r requirements/dev.lock
	$(BIN)/pip install $(PIP_FLAGS) --no-deps -e .
	$(BIN)/python -c 'from sandbox.moto_ext import check_moto; check_moto()'  # the moto the sandbox is written for
	touch $@

$(SAM_VENV)/.installed: requirements/sam.lock
	$(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/pip install $(PIP_FLAGS) -r requirements/sam.lock
	touch $@

$(CHECKOV_VENV)/.installed: requirements/checkov.lock
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install $(PIP_FLAGS) -r requirements/checkov.lock
	touch $@

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy

validate: install $(SAM_VENV)/.installed ## sam validate --lint on the controller, cfn-lint on the blueprints
	$(SAM) validate --lint
	$(BIN)/cfn-lint $(BLUEPRINTS)

security: $(CHECKOV_VENV)/.installed ## checkov on the controller and every blueprint: no failed check
	$(CHECKOV_VENV)/bin/checkov --quiet --compact --framework cloudformation --skip-download \
		-f template.yaml $(foreach b,$(wildcard $(BLUEPRINTS)),-f $(b))

iam-lint: install ## parliament, cloudsplaining, handler permissions on every resolved IAM policy: each finding explained
	$(BIN)/python -m sandbox.iam.lint

build: $(SAM_VENV)/.installed ## sam build for the real runtime (python3.13, arm64)
	@if [ -n "$(PY313)" ]; then \
		PATH="$$(dirname $(PY313)):$$PATH" $(SAM) build; \
	else \
		echo "sam build skipped: python3.13 is not on this machine (the layer test is skipped too)"; \
	fi

unit: install
	$(BIN)/pytest tests/unit

integration: install
	$(BIN)/pytest tests/integration

bench: install ## every benchmark, then one table of the figures (bench/table.py)
	$(BIN)/python bench/table.py

chaos: install ## the chaos scenario at full scale on three seeds; prints its figures and invariants
	$(BIN)/python -m sandbox.chaos --seed 1 --seed 2 --seed 3

local: install ## keep a sandbox with the controller running on port 4599 (ALLOWED='apps*': its allow-list)
	$(BIN)/pipewarden local --port 4599 $(if $(ALLOWED),--allowed-targets '$(ALLOWED)')

lock: ## re-pin every dependency after editing requirements/*.in
	rm -rf $(VENV) $(SAM_VENV)
	$(PYTHON) -m venv $(VENV) && $(BIN)/pip install $(PIP_FLAGS) -r requirements/dev.in
	(echo "# Exact versions of the development environment (make install). Regenerate: make lock"; $(BIN)/pip freeze --exclude-editable) > requirements/dev.lock
	$(PYTHON) -m venv $(SAM_VENV) && $(SAM_VENV)/bin/pip install $(PIP_FLAGS) -r requirements/sam.in
	(echo "# aws-sam-cli in its own environment: it pins old boto3/click. Regenerate: make lock"; $(SAM_VENV)/bin/pip freeze) > requirements/sam.lock
	rm -rf $(CHECKOV_VENV) && $(PYTHON) -m venv $(CHECKOV_VENV) && $(CHECKOV_VENV)/bin/pip install $(PIP_FLAGS) -r requirements/checkov.in
	(echo "# checkov in its own environment: its pins clash with moto's and sam's. Regenerate: make lock"; $(CHECKOV_VENV)/bin/pip freeze) > requirements/checkov.lock

clean:
	rm -rf $(VENV) $(SAM_VENV) $(CHECKOV_VENV) .aws-sam .pytest_cache .mypy_cache .ruff_cache
