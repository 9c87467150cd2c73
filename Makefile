# Two commands on a fresh machine: `make demo` and `make test`. Each creates .venv if it is
# missing and (re)installs the package with [dev] only when setup.cfg/pyproject.toml changed.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=
# one test process per core (each test file stays in one process: module fixtures are built once;
# the files with a `slow` test go first, tests/conftest.py)
TEST_WORKERS ?= 2
# `make claims MODEL=sum`, `make bench MODEL=ipsrec`
MODEL ?= base_model

.PHONY: demo test claims bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): setup.cfg pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/tfrec demo

test: $(STAMP)
	$(BIN)/python -m pytest tests -q -p no:cacheprovider -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder --durations=25 $(PYTEST_ARGS)

claims: $(STAMP)
	$(BIN)/tfrec claims $(MODEL)

bench: $(STAMP)
	$(BIN)/python tools/bench.py $(MODEL)

clean:
	rm -rf $(VENV) build *.egg-info
