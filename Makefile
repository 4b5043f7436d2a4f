# casportal: `make run` for the portal, the Microsoft 365 simulator, a worker and beat; `make test` for the suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
export SIM_PORT ?= 8001
# The portal's own address: the simulator registers its redirect URIs from it.
export PORTAL_BASE_URL ?= http://127.0.0.1:$(PORT)

.PHONY: run test lint audit format bench bench-many prod-check loadtest clean

$(BIN)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -c 'import sys; sys.exit("casportal needs Python 3.11 or newer") if sys.version_info < (3, 11) else None'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@

run: $(BIN)/.installed
	mkdir -p var
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py migrate --database m365sim --noinput
	{ $(BIN)/python manage.py seed_demo && \
	  $(BIN)/python manage.py m365sim_seed --tenant contoso --users 300 --groups 40 --members-per-group 15; \
	} > var/make-run-accounts.txt
	PORTAL_PORT=$(PORT) $(BIN)/honcho -f Procfile.dev start

test: $(BIN)/.installed
	$(BIN)/pytest $(PYTEST_ARGS)

# Ruff, mypy, bandit, and the hygiene hooks and djlint of .pre-commit-config.yaml (local hooks: no network).
# bandit fails on medium and high findings (config in pyproject.toml); an accepted one carries `# nosec BXXX` and why.
# bandit 1.9.4 warns "nosec encountered (B608), but no failed test" on accepted f-strings: its own known false alarm.
lint: $(BIN)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .
	$(BIN)/bandit -c pyproject.toml -r . --severity-level medium --quiet
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/pre-commit run --all-files --show-diff-on-failure

# Known vulnerabilities in what requirements.txt and requirements-dev.txt install, their dependencies included:
# pip-audit resolves both files in a throw-away environment and asks PyPI's advisory data about every package.
# It needs the network: offline it stops at once, auditing nothing. --strict: a package it cannot check fails the run.
AUDIT_VULNERABILITY_URL := https://pypi.org/pypi/pip/json
audit: $(BIN)/.installed
	@$(BIN)/python -c 'import urllib.request; urllib.request.urlopen("$(AUDIT_VULNERABILITY_URL)", timeout=10)' 2>/dev/null || \
	  { echo "make audit: PyPI's vulnerability data ($(AUDIT_VULNERABILITY_URL)) cannot be reached: nothing was audited (pip-audit needs the network)." >&2; exit 1; }
	$(BIN)/pip-audit --strict --progress-spinner off --timeout 15 -r requirements.txt -r requirements-dev.txt

# Directory sync figures on PostgreSQL (BENCH_DATABASE_URL, default postgres://postgres@127.0.0.1:5432/casportal_bench, dropped and re-created);
# the full syncs run with delta pages of 999/999 and with Microsoft's caps, 200 users and 500 members@delta a page.
# Then the coverage verification's figures (BENCH_COVERAGE_DATABASE_URL, default .../casportal_bench_coverage):
# 100,000 mailboxes and a smaller tenant's OneDrives at 300 ms a request, and the re-verification after 500 changes;
# last, the daily dispatcher's queries and rows per tick at 10, 100 and 1,000 organizations (benchmarks/dispatch.py).
bench: $(BIN)/.installed
	DEBUG=0 $(BIN)/python -m benchmarks.sync $(BENCH_ARGS)
	DEBUG=0 $(BIN)/python -m benchmarks.coverage $(BENCH_COVERAGE_ARGS)
	DEBUG=0 $(BIN)/python -m benchmarks.dispatch

# 200 organizations (20 to 20,000 users, log-uniform, fixed seed) through the daily dispatcher and 2 workers at
# 300 ms a request: about 22 minutes.
bench-many: $(BIN)/.installed
	DEBUG=0 $(BIN)/python -m benchmarks.dispatch many

# gunicorn, a worker and beat with production settings against local PostgreSQL and Redis (scripts/prod-check).
prod-check: $(BIN)/.installed
	BIN=$(BIN) scripts/prod-check

# Load held (README "Reliability"): gunicorn with 2 workers, PostgreSQL and Redis on one core, wrk on the other for
# the throughput of /healthz, the front door and Service Status, locust for the mixed phase; see scripts/loadtest.
loadtest: $(BIN)/.installed
	scripts/loadtest

format: $(BIN)/.installed
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf var/ .pytest_cache .mypy_cache .ruff_cache
