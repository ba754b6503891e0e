# harness — the two set-up commands are `make setup` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(VENV)/bin/pip

# What the integration tests' real peers need from Debian: the adb server (adbd itself is fetched by
# the tests from bookworm-backports into a cache), network namespaces, an arm64 root file system
# under qemu-user, OpenSSH's sshd, busybox (a board without Python), Chromium (the report test) and
# libprotobuf32 (what the real x86_64 benchmark_model of ../shared/tools links against: the contract
# tests, HARNESS_BENCHMARK_MODEL=PATH make test).
SYSTEM_PACKAGES := adb iproute2 util-linux qemu-user-static binfmt-support debootstrap zstd \
	ca-certificates openssh-server openssh-client busybox-static chromium libprotobuf32

.PHONY: setup system-deps test test-fast test-slow lint bench clean help

help:
	@echo "make setup      the Debian packages the tests need (as root), then .venv with harness and everything"
	@echo "make test       lint, then the whole test suite (fast tier, then the slow tiers);"
	@echo "                HARNESS_BENCHMARK_MODEL=PATH make test adds the contract tests of a real benchmark_model"
	@echo "make test-fast  lint, then unit tests and quick integration tests (minutes)"
	@echo "make lint       ruff, and mypy over harness/ (strict on its core)"
	@echo "make bench      benchmarks of the harness itself -> BENCHMARKS.md numbers"

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --upgrade pip

setup: system-deps $(PY)
	$(PIP) install -e '.[convert,dev]'
	@$(VENV)/bin/harness --version

system-deps:
	@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		DEBIAN_FRONTEND=noninteractive apt-get update -q && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $(SYSTEM_PACKAGES); \
	else \
		echo "note: not root or no apt-get: the integration tests need these Debian packages: $(SYSTEM_PACKAGES)"; \
	fi

test: lint
	$(PY) -m pytest -q tests

test-fast: lint
	$(PY) -m pytest -q -m "not slow" tests

lint: $(PY)
	$(VENV)/bin/ruff check harness device_scripts tests benchmarks
	$(VENV)/bin/mypy

bench: $(PY)
	$(PY) benchmarks/run_all.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
