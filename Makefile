# cryptoflow: `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.installed-stamp
REPLAY_PORT ?= 8765
REPLAY_WS_PORT ?= 8766
REPROCESS ?= failed

.PHONY: help install run stop demo test browser migrate lint bench backfill lock clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'
	@echo "  make backfill DAG=defillama_hourly FROM=2026-11-01 TO=2026-11-03   (dates inclusive)"

$(STAMP): requirements.txt requirements.lock
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found: install Python 3.11 (or make PYTHON=...)"; exit 2; }
	@test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -r requirements.txt -c requirements.lock
	@touch $@

install: $(STAMP) ## create .venv and install the pinned packages

run: $(STAMP) ## set up PostgreSQL, migrations, connections from .env, start Airflow on :8080 and the trade stream
	$(PY) scripts/devenv.py setup
	scripts/airflow.sh start
	scripts/stream.sh start

stop: ## stop what `make run` / `make demo` started
	-scripts/stream.sh stop
	-scripts/stream.sh replay-stop
	-scripts/airflow.sh stop
	-scripts/replay.sh stop
	-$(PY) scripts/devenv.py stop-postgres

demo: $(STAMP) ## `make run` against the bundled replay server: offline, no API key needed
	scripts/replay.sh start $(REPLAY_PORT)
	scripts/stream.sh replay-start $(REPLAY_WS_PORT)
	$(PY) scripts/devenv.py setup --demo-url http://127.0.0.1:$(REPLAY_PORT) \
	  --demo-ws-url ws://127.0.0.1:$(REPLAY_WS_PORT)/api/data
	scripts/airflow.sh start
	scripts/stream.sh start

test: $(STAMP) browser ## set up and run the whole test suite (throwaway PostgreSQL, replay server, headless chromium)
	$(PY) -m pytest

browser: ## install Debian's chromium + chromedriver for the browser test (as root with apt-get; else it is skipped)
	@if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "installing chromium and chromium-driver (Debian packages) for tests/test_browser_demo.py"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null \
	    || { echo "error: apt-get could not install chromium chromium-driver"; exit 2; }; \
	else echo "note: no chromium/chromedriver and no way to install them (needs root and apt-get):" \
	  "tests/test_browser_demo.py will be skipped"; fi

migrate: $(STAMP) ## apply pending warehouse migrations (idempotent)
	$(PY) scripts/devenv.py setup

lint: $(STAMP) ## ruff, including Airflow's AIR rules
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff check --select AIR3 --preview dags/

bench: $(STAMP) ## loader and candle throughput, printed and written to .bench/results.json
	$(PY) -m bench

backfill: $(STAMP) ## backfill DAG=<dag_id> FROM=<date> TO=<date> [REPROCESS=none|failed|completed]
	@test -n "$(DAG)" -a -n "$(FROM)" -a -n "$(TO)" || { echo "usage: make backfill DAG=<dag_id> FROM=YYYY-MM-DD TO=YYYY-MM-DD"; exit 2; }
	source $${CRYPTOFLOW_LOCAL:-.local}/airflow.env && $(VENV)/bin/airflow dags unpause $(DAG) && \
	  $(VENV)/bin/airflow backfill create --dag-id $(DAG) --from-date $(FROM) --to-date $(TO) --reprocess-behavior $(REPROCESS)

lock: ## regenerate requirements.lock from requirements.txt in a clean virtualenv
	rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv
	.lock-venv/bin/pip install --quiet -r requirements.txt
	.lock-venv/bin/pip freeze --exclude-editable | sort > requirements.lock
	rm -rf .lock-venv

clean: stop ## stop everything and delete .local (the local cluster, its data and Airflow's home)
	rm -rf .local .bench
