# Each target sets up its own environment (uv, then the locked dependencies) on a fresh machine.
# Bytecode is compiled at install: where PYTHONDONTWRITEBYTECODE is set (as on our CI machines),
# Python never caches it, and every process (a run worker, a code server, a command) compiled
# every module it imports again: 4.6 s to import prodline.definitions, 2.1 s with it compiled.
SHELL := /bin/bash
UV := $(shell command -v uv 2>/dev/null || echo python3 -m uv)
export PRODLINE_HOME ?= $(CURDIR)/.prodline
export DAGSTER_HOME ?= $(PRODLINE_HOME)/dagster
# Write the per-partition events of a range run in batches (see src/prodline/event_log.py).
export DAGSTER_EVENT_BATCH_SIZE ?= 1000

.PHONY: setup triage demo dev serve test test-end-to-end lint bench clean

setup: .venv/.synced

.venv/.synced: pyproject.toml uv.lock
	@command -v uv >/dev/null 2>&1 || python3 -m uv --version >/dev/null 2>&1 || python3 -m pip install --quiet uv
	$(UV) sync --frozen --compile-bytecode
	$(UV) run python -m compileall -q src
	@touch $@

# Triage 6.0.0 in a virtual environment of its own, for the differential tests (triage_side/).
TRIAGE_VENV := .triage-venv
triage: $(TRIAGE_VENV)/.ready

$(TRIAGE_VENV)/.ready: triage_side/requirements.txt
	python3 -m venv $(TRIAGE_VENV)
	$(TRIAGE_VENV)/bin/pip install --quiet --no-deps -r triage_side/requirements.txt
	@touch $@

demo: setup  ## generate two years of data and load every raw partition
	$(UV) run prodline demo

dev: setup  ## the Dagster UI on http://127.0.0.1:3000, with the daemon (sensor, schedules)
	$(UV) run prodline init
	$(UV) run dg dev --host 127.0.0.1 --port 3000

serve: setup  ## the prediction API and web page on http://127.0.0.1:8000 (after make demo)
	$(UV) run prodline serve

test: setup triage  ## the test suite (tests of a missing service skip, unless PRODLINE_REQUIRE_SERVICES=1)
	$(UV) run pytest -m "not end_to_end" --durations=25

test-end-to-end: setup triage  ## whole processes (daemon, Celery) and Triage's tutorial projects end to end, beside Triage itself
	$(UV) run pytest -m end_to_end

lint: setup
	$(UV) run ruff check src tests bench triage_side examples

bench: setup triage  ## benchmarks; figures go in the README
	$(UV) run python bench/ingest.py
	$(UV) run python bench/features.py
	$(UV) run python bench/features.py --sizes
	$(UV) run python bench/grid.py
	$(UV) run python bench/matrices.py
	$(UV) run python bench/serve.py
	$(UV) run python bench/startup.py
	$(UV) run python bench/soak.py

clean:
	rm -rf .prodline
