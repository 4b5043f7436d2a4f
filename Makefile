# casportal: `make run` for the portal, the Microsoft 365 simulator, a worker and beat; `make test` for the suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
export SIM_PORT ?= 8001
# The portal's own address: the simulator registers its redirect URIs from it.
export PORTAL_BASE_URL ?= http://127.0.0.1:$(PORT)

.PHONY: run test lint format bench prod-check loadtest clean

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

# Ruff, mypy, and the hygiene hooks and djlint of .pre-commit-config.yaml (local hooks: no network).
lint: $(BIN)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/pre-commit run --all-files --show-diff-on-failure

# Directory sync figures on PostgreSQL (BENCH_DATABASE_URL, default postgres://postgres@127.0.0.1:5432/casportal_bench, dropped and re-created);
# the full syncs run with delta pages of 999/999 and with Microsoft's caps, 200 users and 500 members@delta a page.
bench: $(BIN)/.installed
	DEBUG=0 $(BIN)/python -m benchmarks.sync $(BENCH_ARGS)

# gunicorn, a worker and beat with production settings against local PostgreSQL and Redis (scripts/prod-check).
prod-check: $(BIN)/.installed
	BIN=$(BIN) scripts/prod-check

# Load held (README "Reliability"): gunicorn with 2 workers, PostgreSQL and Redis; see scripts/loadtest.
loadtest: $(BIN)/.installed
	scripts/loadtest

format: $(BIN)/.installed
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf var/ .pytest_cache .mypy_cache .ruff_cache
