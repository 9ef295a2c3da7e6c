# The two commands for a fresh machine: `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
PG_VERSION ?= 15
TEST_POSTGRES_URL ?= postgresql://dispatch:dispatch@127.0.0.1:5432/postgres
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: run dev test lint bench postgres system-packages env seed bot widget

$(VENV)/.runtime: requirements.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt
	@touch $@

$(VENV)/.dev: $(VENV)/.runtime requirements-dev.txt
	$(PY) -m pip install -q -r requirements-dev.txt
	@touch $@

.env:
	$(PY) settings.py init-env

env: $(VENV)/.runtime .env

## make run: embedded SQLite, demo data when empty, Streamlit + voice server + Pipecat bot (honcho).
run: env
	$(PY) -m db migrate
	$(PY) -m db seed --calls 2000 --if-empty
	@echo ""
	@echo "  Streamlit app:  http://127.0.0.1:$${STREAMLIT_PORT:-8501}"
	@echo "  Voice server:   http://127.0.0.1:$${VOICE_PORT:-8000}  (docs at /docs, health at /healthz)"
	@echo "  Pipecat bot:    http://127.0.0.1:$${BOT_PORT:-7860}  (offline speech; loads its models first)"
	@echo ""
	$(VENV)/bin/honcho start

## make dev: as `make run`, but Streamlit reruns a page when its source changes.
dev: env
	$(PY) -m db migrate
	$(PY) -m db seed --calls 2000 --if-empty
	STREAMLIT_SERVER_FILE_WATCHER_TYPE=auto STREAMLIT_SERVER_RUN_ON_SAVE=true \
	  $(VENV)/bin/honcho start

## make bot: the Pipecat bot alone (offline speech, no keys needed).
bot: env
	$(VENV)/bin/honcho start bot

## make widget: rebuild the call widget's JS (ui/call_widget/build, committed) from its lockfile.
widget:
	cd ui/call_widget/frontend && npm ci --no-audit --no-fund --ignore-scripts && npm run build

## make test: everything, on SQLite and a real PostgreSQL server.
system-packages:
	@missing=""; \
	command -v pg_ctlcluster >/dev/null || missing="$$missing postgresql"; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	command -v espeak-ng >/dev/null || missing="$$missing espeak-ng"; \
	command -v npm >/dev/null || missing="$$missing npm"; \
	if [ -n "$$missing" ]; then \
	  echo "Installing Debian packages:$$missing"; \
	  $(SUDO) apt-get update -q && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing >/dev/null; \
	fi

postgres: system-packages
	@$(SUDO) pg_ctlcluster --skip-systemctl-redirect $(PG_VERSION) main status >/dev/null 2>&1 || \
	  $(SUDO) pg_ctlcluster --skip-systemctl-redirect $(PG_VERSION) main start
	@for i in $$(seq 30); do $(SUDO) su postgres -c "psql -qAtc 'select 1'" >/dev/null 2>&1 && break; sleep 1; done
	@$(SUDO) su postgres -c "psql -qAtc \"select 1 from pg_roles where rolname='dispatch'\"" | grep -q 1 || \
	  $(SUDO) su postgres -c "psql -qc \"CREATE ROLE dispatch LOGIN SUPERUSER PASSWORD 'dispatch'\""

test: $(VENV)/.dev postgres
	TEST_POSTGRES_URL=$(TEST_POSTGRES_URL) REQUIRE_POSTGRES=1 $(PY) -m pytest -q -p no:cacheprovider

lint: $(VENV)/.dev
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check .

bench: $(VENV)/.dev
	$(PY) -m bench.agent_bench
	$(PY) -m bench.db_bench
	$(PY) -m bench.observer_bench
