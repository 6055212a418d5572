# The two commands that matter: `make demo` and `make test` (see README.md).
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PG_TEST_URL ?= postgres://postgres@127.0.0.1:5432/test

# The first interpreter that is really Python >= 3.11 (pyenv shims that fail are skipped).
PYTHON ?= $(shell for p in python3.13 python3.12 python3.11 python3; do \
	command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' >/dev/null 2>&1 && { echo $$p; break; }; \
	done)

.PHONY: help install demo run test lint bench migrate services clean

help:
	@echo "make demo   - install, migrate, seed and run the offline demo on http://127.0.0.1:8000"
	@echo "make test   - install, start Redis and PostgreSQL if needed, run the whole test suite"
	@echo "make lint   - ruff check"
	@echo "make bench  - the benchmarks, one JSON line per figure"

$(STAMP): requirements.txt
	@if [ -z "$(PYTHON)" ]; then echo "error: no Python 3.11 or newer found (tried python3.13, python3.12, python3.11, python3)" >&2; exit 1; fi
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	@touch $(STAMP)

install: $(STAMP)

migrate: install
	$(PY) manage.py migrate --noinput

# The offline demo: replayed real candles on an accelerated clock, paper trading,
# web + worker + beat on the embedded broker. Ctrl-C stops everything.
demo: install
	DEBUG=true MARKET_DATA=replay $(PY) manage.py migrate --noinput
	DEBUG=true MARKET_DATA=replay $(PY) manage.py seed_demo
	DEBUG=true MARKET_DATA=replay $(PY) manage.py demo --replay

# The same on live Binance market data (paper trading), for a machine with internet.
run: install
	DEBUG=true MARKET_DATA=binance $(PY) manage.py migrate --noinput
	DEBUG=true MARKET_DATA=binance $(PY) manage.py seed_demo --no-candles
	DEBUG=true MARKET_DATA=binance $(PY) manage.py demo

services:
	@bash scripts/ensure_services.sh

lint: install
	$(VENV)/bin/ruff check .

test: install services
	@bash scripts/ensure_browser.sh
	$(VENV)/bin/ruff check .
	$(PY) -m pytest -q -m "not postgres"
	DATABASE_URL=$(PG_TEST_URL) $(PY) -m pytest -q -m postgres

bench: install
	$(PY) -m bench

clean:
	rm -rf $(VENV) var staticfiles test-artifacts
