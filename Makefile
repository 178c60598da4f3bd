# Everyday commands.  `make help` lists them.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
TEST_DATABASE_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/test

.PHONY: demo-payout demo-settle help install demo test test-sqlite test-postgres browser lint translations screenshots bench

help:  ## show this help
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "} {printf "  make %-14s %s\n", $$1, $$2}'

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

install: $(BIN)/python  ## install the service and its tools into .venv
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	$(BIN)/pybabel compile -d app/translations >/dev/null

demo: install  ## install, then run the demo (SQLite, localstripe, a worker, the web app)
	$(BIN)/python -m devtools.demo

demo-payout:  ## while the demo runs: localstripe pays out what it holds (UNMATCHED=1 adds a charge we never recorded)
	$(BIN)/python -m devtools.demo_payout $(if $(UNMATCHED),--unmatched)

demo-settle:  ## while the demo runs: the bank answers pending SEPA debits (FAIL=1: it refuses them all)
	$(BIN)/python -m devtools.demo_settle $(if $(FAIL),--fail)

browser:  ## install Debian's Chromium (as root) and axe-core (npm ci) for the browser tests
	@command -v chromium >/dev/null || { apt-get update -qq && apt-get install -y -qq chromium >/dev/null; }
	@command -v npm >/dev/null || { apt-get update -qq && apt-get install -y -qq npm >/dev/null; }
	npm ci --silent --no-audit --no-fund

test: install browser  ## install, then run the whole suite on SQLite and on PostgreSQL
	$(MAKE) --no-print-directory test-sqlite
	$(MAKE) --no-print-directory test-postgres

# tests/fault (outages of PostgreSQL, the broker and SMTP, on servers of their own) runs once, in the PostgreSQL pass;
# tests/e2e (headless Chromium: flows, axe-core, screenshots, 3G) runs once, in the SQLite pass.
test-sqlite:
	env -u TEST_DATABASE_URL $(BIN)/pytest -q -p no:cacheprovider --ignore=tests/fault

test-postgres:
	TEST_DATABASE_URL='$(TEST_DATABASE_URL)' $(BIN)/pytest -q -p no:cacheprovider --ignore=tests/e2e

lint:  ## ruff (unused noqa too), ruff format --check, mypy (unused ignores too), the layout rules
	$(BIN)/ruff check --extend-select RUF100 app workers devtools tests bench
	$(BIN)/ruff format --check app workers devtools tests bench
	$(BIN)/mypy --warn-unused-ignores app workers tests/stripe_events.py
	$(BIN)/python -m devtools.check_layout

screenshots: install browser  ## take the pages' screenshots again into docs/screenshots/ (tracked)
	env -u TEST_DATABASE_URL SCREENSHOT_DIR=docs/screenshots $(BIN)/pytest -q -p no:cacheprovider tests/e2e/test_reach.py

translations:  ## extract strings, update both catalogs, compile
	$(BIN)/flask --app app translate update
	$(BIN)/flask --app app translate compile

bench: install  ## install wrk (as root), then run every benchmark in bench/ (minutes; see docs/PERFORMANCE.md)
	@command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
	-$(BIN)/python bench/support_page.py
	-$(BIN)/python bench/page_weight.py
	-$(BIN)/python bench/webhooks.py
	-$(BIN)/python bench/receipts.py
	-$(BIN)/python bench/dashboard.py
	-$(BIN)/python bench/fault_storm.py --outage
