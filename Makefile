# Casino Club: the two commands are `make run` and `make test`; `make lint` checks the code.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
HOST ?= 127.0.0.1
PORT ?= 8000
# pytest-xdist workers for `make test`: one per core by default, 0 runs the suite in one process.
PYTEST_WORKERS ?= auto

.PHONY: run check-port test install install-dev install-lint services services-down schema lint audit browsers clean bench bench-quick bench-cpu bench-sockets

$(VENV)/.installed: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -r requirements.txt
	touch $@

$(VENV)/.installed-dev: requirements.txt requirements-dev.txt requirements-bench.txt requirements-lint.txt $(VENV)/.installed
	$(PIP) install --quiet -r requirements-dev.txt
	touch $@

install: $(VENV)/.installed

install-dev: $(VENV)/.installed-dev

# The lint tools only, on top of the runtime packages (the mypy plugins import the settings and
# apps); none of the test or bench stack (playwright, schemathesis, locust, matplotlib).
$(VENV)/.installed-lint: requirements.txt requirements-lint.txt $(VENV)/.installed
	$(PIP) install --quiet -r requirements-lint.txt
	touch $@

install-lint: $(VENV)/.installed-lint

## make check-port: fail at once when HOST:PORT is taken (runserver would not serve there).
check-port:
	@$(PYTHON) -c 'import socket, sys; s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind((sys.argv[1], int(sys.argv[2])))' \
		'$(HOST)' '$(PORT)' 2>/dev/null || { \
		echo "make run: $(HOST):$(PORT) is already in use (another server, or an earlier make run?)." >&2; \
		echo "make run: pick another port, e.g. make run PORT=$$(( $(PORT) + 1 )) (HOST=... changes the address)." >&2; \
		exit 1; }

## make run: embedded mode (SQLite, in-memory everything), no services needed.
run: check-port install
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
	env_lines="$$(scripts/services.sh up)" && eval "$$env_lines" && \
		PATH="$(CURDIR)/var/tools/bin:$$PATH" $(PY) -m pytest -n $(PYTEST_WORKERS) --dist loadfile --no-loadscope-reorder $(PYTEST_ARGS)

services:
	scripts/services.sh up

services-down:
	scripts/services.sh down

## make schema: regenerate the committed OpenAPI snapshot.
schema: install
	$(PY) manage.py spectacular --file openapi.yaml --validate --fail-on-warn

## make lint: ruff (rules, then formatting), mypy (django + DRF plugins; strict for services,
## selectors and casino/), the import contracts (pyproject's [tool.importlinter]) and the service
## signature check. Every step runs even when an earlier one fails, so one run shows all problems;
## the target fails if any step did.
LINT_STEPS := \
	"$(VENV)/bin/ruff check ." \
	"$(VENV)/bin/ruff format --check ." \
	"$(VENV)/bin/mypy" \
	"$(VENV)/bin/lint-imports" \
	"$(PY) scripts/check_service_signatures.py"

lint: $(VENV)/.installed-lint
	@failed=(); \
	for step in $(LINT_STEPS); do \
		echo "==> $$step"; \
		$$step || failed+=("$$step"); \
	done; \
	if [ $${#failed[@]} -ne 0 ]; then \
		printf 'make lint: failed: %s\n' "$${failed[@]}" >&2; \
		exit 1; \
	fi

## make audit: known vulnerabilities (pip-audit) in every package installed in the project venv
## (runtime, dev, lint, bench). It needs PyPI's per-release JSON API (or, with AUDIT_SERVICE=osv,
## api.osv.dev); where that is out of reach it stops with exit 2 and says so, instead of passing
## with nothing checked. Exit 1: a vulnerability was found. AUDIT_ARGS adds pip-audit options
## (e.g. AUDIT_ARGS="--ignore-vuln GHSA-...", or "-r requirements.txt" for the image's packages).
AUDIT_SERVICE ?= pypi
# One request that answers only where the service pip-audit will use is reachable (POST when data is given).
AUDIT_PROBE_pypi := https://pypi.org/pypi/pip-audit/2.10.1/json
AUDIT_PROBE_osv := https://api.osv.dev/v1/query
AUDIT_PROBE_DATA_osv := {"version": "2.10.1", "package": {"name": "pip-audit", "ecosystem": "PyPI"}}

$(VENV)/.installed-audit: requirements-audit.txt $(VENV)/.installed
	$(PIP) install --quiet -r requirements-audit.txt
	touch $@

audit: $(VENV)/.installed-audit
	@$(PY) -c 'import sys, urllib.request as u; u.urlopen(u.Request(sys.argv[1], sys.argv[2].encode() or None), timeout=15)' \
		"$(AUDIT_PROBE_$(AUDIT_SERVICE))" '$(AUDIT_PROBE_DATA_$(AUDIT_SERVICE))' 2>/dev/null || { \
		echo "make audit: cannot reach the $(AUDIT_SERVICE) vulnerability database ($(AUDIT_PROBE_$(AUDIT_SERVICE)))" >&2; \
		echo "make audit: nothing was audited. Run it where that service is reachable (CI with internet access," >&2; \
		echo "make audit: a developer machine), or try AUDIT_SERVICE=osv / AUDIT_SERVICE=pypi." >&2; \
		exit 2; }
	$(VENV)/bin/pip-audit --strict --progress-spinner off --vulnerability-service $(AUDIT_SERVICE) $(AUDIT_ARGS)

$(VENV)/.installed-bench: requirements-bench.txt $(VENV)/.installed
	$(PIP) install --quiet -r requirements-bench.txt
	touch $@

## make bench: the project's benchmark against the targets in docs/architecture.md (bench/README.md), then the
## realtime tier's (bench/sockets.py: 10,000 idle sockets, storms of 2,000 handshakes, a mass close, pushes at
## 50-200 events/s; ~3 minutes more); BENCH_ARGS="--profile buy_gems" etc., BENCH_SOCKETS_ARGS for the second.
##
## Each of bench, bench-quick and bench-cpu also measures the in-process table of the code as the
## performance work found it (BENCH_AGAINST: the commit before its first change) and prints both side by
## side; BENCH_AGAINST=<rev> for another version, BENCH_AGAINST= for none. About a minute more.
BENCH_AGAINST ?= 3f47df6
BENCH_AGAINST_ARG = $(if $(BENCH_AGAINST),--against $(BENCH_AGAINST))

bench: $(VENV)/.installed-bench
	$(PY) bench/run.py $(BENCH_AGAINST_ARG) $(BENCH_ARGS)
	$(PY) bench/run.py sockets $(BENCH_SOCKETS_ARGS)

## make bench-quick: the same, smaller and shorter (~5 minutes).
bench-quick: $(VENV)/.installed-bench
	$(PY) bench/run.py --quick $(BENCH_AGAINST_ARG) $(BENCH_ARGS)
	$(PY) bench/run.py sockets --quick $(BENCH_SOCKETS_ARGS)

## make bench-cpu: only the in-process cost per request against the bare-framework reference (no server,
## no load; a few minutes); BENCH_AGAINST=HEAD to see what the working tree changes against the last commit.
bench-cpu: $(VENV)/.installed-bench
	$(PY) bench/run.py --cpu-only $(BENCH_AGAINST_ARG) $(BENCH_ARGS)

## make bench-sockets: one ASGI process under WebSocket load: capacity, handshake storm, mass close, push
## latency and loss at several rates (bench/sockets.py; BENCH_ARGS="--help" lists the knobs).
bench-sockets: $(VENV)/.installed-bench
	$(PY) bench/run.py sockets $(BENCH_ARGS)

clean:
	rm -rf var/db.sqlite3 .pytest_cache
