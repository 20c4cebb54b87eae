# One command each: `make demo` and `make test` create .venv and install the project on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
PYTEST_ARGS ?=

.DEFAULT_GOAL := help

.PHONY: help install demo test test-fast lint check bench proto image clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-9s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP) ## create .venv and install the project with its test extras

demo: $(STAMP) ## run the demo on the embedded default constellation
	$(BIN)/orbitctl demo

test: $(STAMP) ## run the whole test suite
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-fast: $(STAMP) ## the inner loop: every test not marked slow (no clusters, about a minute)
	$(BIN)/python -m pytest -m "not slow" $(PYTEST_ARGS)

lint: $(STAMP) ## ruff and mypy
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

check: lint test ## lint, then the tests (which include the generated-code drift check)

bench: $(STAMP) ## run the benchmarks (minutes; not part of the tests)
	$(BIN)/python bench/forecast.py
	$(BIN)/python bench/real_catalogues.py
	$(BIN)/python bench/control_plane.py
	$(BIN)/python bench/planner.py
	$(BIN)/python bench/fidelity.py

proto: $(STAMP) ## regenerate the gRPC/protobuf code in proto/orbitalsched/v1
	$(BIN)/python proto/generate.py

image: $(STAMP) ## build the container image orbital-scheduler:VERSION (podman or docker)
	$(BIN)/orbitctl testbed image

clean: ## remove the virtualenv and caches
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis
