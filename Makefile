# Homeward: `make run` serves the demo dashboard; `make test` lints, type-checks and runs the whole suite.
# Both set up everything they need on a fresh Debian-like machine (apt as root).
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
APT := DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get

.PHONY: run test lint venv system-test-deps demo-data bench clean-data

venv: $(STAMP)

$(STAMP): requirements.txt
	@$(PY) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11+ needed"'
	@[ -x $(BIN)/python ] || $(PY) -m venv $(VENV) || { $(APT) update -qq && $(APT) install -y -qq python3-venv && $(PY) -m venv $(VENV); }
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -r requirements.txt
	@touch $@

# PostgreSQL (for the store tests on the scaled-out form) and Chromium (browser tests).
system-test-deps:
	@if ! ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || ! command -v chromium >/dev/null 2>&1; then \
	  echo "installing postgresql and chromium (apt)"; \
	  $(APT) update -qq && $(APT) install -y -qq postgresql chromium fonts-dejavu-core >/dev/null; \
	fi

# The demo system's history, generated once and loaded by the same road as real feeds, and the
# published NHS England sitrep workbooks (reference/nhse/, OGL v3.0) for the benchmark page.
demo-data: venv
	$(BIN)/python app.py init
	@if [ ! -f "$${HOMEWARD_DATA_DIR:-data}/demo/state.json" ]; then \
	  $(BIN)/python app.py demo --days 120 && \
	  { $(BIN)/python app.py ingest vacancy "$${HOMEWARD_DATA_DIR:-data}/demo/vacancy.csv" || [ $$? = 3 ]; } && \
	  { $(BIN)/python app.py ingest hub_cases "$${HOMEWARD_DATA_DIR:-data}/demo/hub_cases.csv" || [ $$? = 3 ]; } && \
	  for f in reference/nhse/acute/*.xlsx; do $(BIN)/python app.py ingest nhse_acute_sitrep "$$f" || [ $$? = 3 ] || exit 1; done && \
	  for f in reference/nhse/community/*.xlsx; do $(BIN)/python app.py ingest nhse_community_sitrep "$$f" || [ $$? = 3 ] || exit 1; done; \
	fi

run: demo-data
	HOMEWARD_DEMO=1 $(BIN)/python app.py serve

# axe-core (npm, pinned in tests/browser/axe/package.json) for the browser tests' accessibility checks.
AXE := tests/browser/axe/node_modules/axe-core/axe.min.js
$(AXE): tests/browser/axe/package.json tests/browser/axe/package-lock.json
	@command -v npm >/dev/null 2>&1 || { $(APT) update -qq && $(APT) install -y -qq npm >/dev/null; }
	cd tests/browser/axe && npm ci --no-audit --no-fund --ignore-scripts --silent
	@touch $@

# ruff (rules in pyproject.toml) and mypy (strict on models/, files and flags in pyproject.toml).
lint: venv
	$(BIN)/ruff check .
	$(BIN)/mypy

test: lint system-test-deps $(AXE)
	$(BIN)/python -m pytest -q

bench: venv
	$(BIN)/python bench/metrics.py
	$(BIN)/python bench/ingest.py
