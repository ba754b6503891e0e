# harness — the two set-up commands are `make setup` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(VENV)/bin/pip

.PHONY: setup test test-fast test-slow lint bench clean help

help:
	@echo "make setup      create .venv and install harness with everything (TensorFlow, LiteRT, test tools)"
	@echo "make test       the whole test suite (fast tier, then the slow tiers)"
	@echo "make test-fast  unit tests and quick integration tests (minutes)"
	@echo "make lint       ruff"
	@echo "make bench      benchmarks of the harness itself -> BENCHMARKS.md numbers"

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --upgrade pip

setup: $(PY)
	$(PIP) install -e '.[convert,dev]'
	@$(VENV)/bin/harness --version

test: $(PY)
	$(PY) -m pytest -q tests

test-fast: $(PY)
	$(PY) -m pytest -q -m "not slow" tests

lint: $(PY)
	$(VENV)/bin/ruff check harness device_scripts tests benchmarks

bench: $(PY)
	$(PY) benchmarks/run_all.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
