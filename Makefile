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

.PHONY: run stop-demo test lint check-docker system-deps-run system-deps-test venv clean

$(BIN)/.installed: requirements-dev.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.lock
	touch $@

venv: $(BIN)/.installed

system-deps-run:
	@bash scripts/system-deps.sh run

system-deps-test:
	@bash scripts/system-deps.sh test

# The demo servers (TLS PostgreSQL and Valkey on localhost, data in .data/demo) keep
# running after runserver stops; `make stop-demo` stops them, `make clean` also deletes
# their data (wherever it is: see demo/stack.py). They listen on loopback, which
# connection tests refuse by default, so the portal runs here with
# ZEKTOR_CHECK_ALLOW_LOOPBACK=true (development only: never in production).

run: venv system-deps-run
	ZEKTOR_DEBUG=true $(BIN)/python manage.py migrate --noinput
	ZEKTOR_DEBUG=true $(BIN)/python manage.py load_demo --url http://$(HOST):$(PORT)/
	ZEKTOR_DEBUG=true ZEKTOR_CHECK_ALLOW_LOOPBACK=true \
		$(BIN)/python manage.py runserver $(HOST):$(PORT)

stop-demo: venv
	ZEKTOR_DEBUG=true $(BIN)/python manage.py load_demo --stop

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/hadolint Dockerfile

test: venv system-deps-test lint
	$(BIN)/python -m pytest

clean:
	-test ! -x $(BIN)/python || ZEKTOR_DEBUG=true $(BIN)/python manage.py load_demo --remove
	rm -rf $(VENV) .data staticfiles .pytest_cache .ruff_cache .mypy_cache test-artifacts tests/node/node_modules tests/e2e/node_modules tests/oidc/node_modules
