# One obvious command per action. Every target sets up .venv first when needed.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SERVER_STAMP := $(VENV)/.installed-server
HOST ?= 127.0.0.1
PORT ?= 8000

export KALMANAC_DATABASE_URL ?= sqlite:///./var/kalmanac.db

.PHONY: install run migrate worker test lint audit bench clean

# `make run` installs what the server needs; `make install` (and test, lint, bench) the rest.
$(SERVER_STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[server]'
	touch $(SERVER_STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[server,dev,bench,client]'
	touch $(STAMP) $(SERVER_STAMP)

install: $(STAMP)

migrate: $(SERVER_STAMP)
	$(BIN)/alembic upgrade head

run: migrate
	$(BIN)/kalmanac serve --host $(HOST) --port $(PORT)

worker: $(SERVER_STAMP)
	$(BIN)/celery -A workers.celery_app worker -B -Q cpu,gpu --loglevel INFO

test: $(STAMP)
	sh tests/browser/ensure-chromium.sh
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

audit: $(STAMP)
	$(BIN)/python .ci/audit.py constraints.txt

bench: $(STAMP)
	$(BIN)/python bench/forecast_speed.py
	$(BIN)/python bench/ensemble_training.py
	$(BIN)/python bench/observer_training.py
	$(BIN)/python bench/assimilation.py
	$(BIN)/python bench/stream_throughput.py
	$(BIN)/python bench/observer.py
	$(BIN)/python bench/sensor_faults.py
	$(BIN)/python bench/inflation.py
	$(BIN)/python bench/load.py
	$(BIN)/python bench/chaos.py
	$(BIN)/python bench/analog_api.py
	$(BIN)/python bench/real_series.py
	$(BIN)/python bench/missing_data.py
	$(BIN)/python bench/long_series.py
	$(BIN)/python bench/anomalies.py
	$(BIN)/python bench/covariates.py
	$(BIN)/python bench/seasons.py

clean:
	rm -rf $(VENV) var .pytest_cache
