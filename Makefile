# casportal: `make run` for the portal, the Microsoft 365 simulator, a worker and beat; `make test` for the suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
export SIM_PORT ?= 8001

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
	$(BIN)/python manage.py seed_demo
	$(BIN)/python manage.py m365sim_seed --tenant contoso --users 300 --groups 40 --members-per-group 15
	@echo "casportal: http://127.0.0.1:$(PORT)/   Microsoft 365 simulator: http://localhost:$(SIM_PORT)/   (Ctrl-C stops all)"
	@trap 'kill 0' INT TERM; \
	$(BIN)/python manage.py m365sim_serve --port $(SIM_PORT) & \
	$(BIN)/celery -A casportal worker --concurrency 2 --loglevel INFO & \
	$(BIN)/celery -A casportal beat --loglevel INFO & \
	$(BIN)/python manage.py runserver 127.0.0.1:$(PORT) & \
	wait

test: $(BIN)/.installed
	$(BIN)/pytest $(PYTEST_ARGS)

# Ruff, mypy, and the hygiene hooks and djlint of .pre-commit-config.yaml (local hooks: no network).
lint: $(BIN)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/pre-commit run --all-files --show-diff-on-failure

# Directory sync figures on PostgreSQL (BENCH_DATABASE_URL, default postgres://postgres@127.0.0.1:5432/casportal_bench, dropped and re-created).
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
