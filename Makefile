# `make demo` and `make test` work on a fresh machine: they create (or reuse) .venv and
# install the project into it first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: install demo test test-fast test-dates lint bench clean postgres

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(BIN)/connector demo

# The whole suite, slow tests included (CI runs this).
test: install
	$(BIN)/ruff check .
	$(BIN)/pytest -q -p no:cacheprovider

# The end-to-end tests and the demo again on other dates, under a shifted machine clock
# (libfaketime; installs the Debian package `faketime` when run as root). CI runs it.
test-dates: install
	bash scripts/ci-dates.sh

# Everything but the suites marked slow.
test-fast: install
	$(BIN)/pytest -q -m "not slow"

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# A local PostgreSQL server for the state-store tests (Debian, as root), as CI starts it:
#   export CONNECTOR_TEST_POSTGRES_URL=$$(make -s postgres)
postgres:
	@bash scripts/ci-postgres.sh

bench: install
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) demo-out .pytest_cache .ruff_cache
