# genai-flow: `make demo` runs the whole thing, `make test` checks it. Every target bootstraps first (idempotent).
SHELL := /bin/bash
VENV := .venv/bin
PYTEST_ARGS ?=
# The demo's state (Temporal database, Redis AOF, Chroma) stays inside the checkout unless told otherwise.
GENAI_FLOW_HOME ?= $(CURDIR)/.genai-flow

.PHONY: bootstrap test demo up lint bench

bootstrap:
	@scripts/bootstrap.sh

test: bootstrap
	@$(VENV)/pytest $(PYTEST_ARGS); status=$$?; \
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
