# Casino Club: the two commands are `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test install install-dev services services-down schema lint browsers clean bench bench-quick

$(VENV)/.installed: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -r requirements.txt
	touch $@

$(VENV)/.installed-dev: requirements.txt requirements-dev.txt requirements-bench.txt $(VENV)/.installed
	$(PIP) install --quiet -r requirements-dev.txt
	touch $@

install: $(VENV)/.installed

install-dev: $(VENV)/.installed-dev

## make run: embedded mode (SQLite, in-memory everything), no services needed.
run: install
	$(PY) manage.py migrate --noinput
	$(PY) manage.py seed_demo
	@echo ""
	@echo "  Casino Club on http://$(HOST):$(PORT)"
	@echo "  API docs   http://$(HOST):$(PORT)/api/docs/"
	@echo "  Admin      http://$(HOST):$(PORT)/admin/"
	@echo "  WebSocket  ws://$(HOST):$(PORT)/api/realtime/sync?token=<access token>"
	@echo ""
	$(PY) manage.py runserver $(HOST):$(PORT)

## make test: real PostgreSQL, Redis, Kafka (tansu) and ClickHouse.
test: install-dev
	scripts/install-system-deps.sh
	env_lines="$$(scripts/services.sh up)" && eval "$$env_lines" && $(PY) -m pytest $(PYTEST_ARGS)

services:
	scripts/services.sh up

services-down:
	scripts/services.sh down

## make schema: regenerate the committed OpenAPI snapshot.
schema: install
	$(PY) manage.py spectacular --file openapi.yaml --validate --fail-on-warn

lint: install-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

$(VENV)/.installed-bench: requirements-bench.txt $(VENV)/.installed
	$(PIP) install --quiet -r requirements-bench.txt
	touch $@

## make bench: the project's benchmark against DESIGN.md's targets (bench/README.md); BENCH_ARGS="--profile buy_gems" etc.
bench: $(VENV)/.installed-bench
	$(PY) bench/run.py $(BENCH_ARGS)

## make bench-quick: the same, smaller and shorter (~2-3 minutes).
bench-quick: $(VENV)/.installed-bench
	$(PY) bench/run.py --quick $(BENCH_ARGS)

clean:
	rm -rf var/db.sqlite3 .pytest_cache
