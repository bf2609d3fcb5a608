# Zektor Portal — `make run` serves the portal with demo data; `make test` runs every test.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

# Under CI the portal's own test database is the machine's PostgreSQL.
ifeq ($(CI),true)
export DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/test
endif

.PHONY: run test lint check-docker system-deps-run system-deps-test venv clean

$(BIN)/.installed: requirements-dev.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.lock
	touch $@

venv: $(BIN)/.installed

system-deps-run:
	@bash scripts/system-deps.sh run

system-deps-test:
	@bash scripts/system-deps.sh test

run: venv system-deps-run
	ZEKTOR_DEBUG=true $(BIN)/python manage.py migrate --noinput
	ZEKTOR_DEBUG=true $(BIN)/python manage.py load_demo --url http://$(HOST):$(PORT)/
	ZEKTOR_DEBUG=true $(BIN)/python manage.py runserver $(HOST):$(PORT)

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/hadolint Dockerfile

test: venv system-deps-test lint
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) .data staticfiles .pytest_cache .ruff_cache test-artifacts tests/node/node_modules tests/e2e/node_modules
