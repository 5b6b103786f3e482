# The two commands of the README. Both create .venv/ from requirements.txt when it is missing or
# older than requirements.txt, so they work the same on a fresh clone and on a working copy.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: book test test-fast lint chromium postgresql setup clean

setup: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -r requirements.txt
	touch $(STAMP)

# Build the HTML book; chapters execute at build time, cached in _build/.jupyter_cache.
book: $(STAMP)
	$(BIN)/jupyter-book build . -W -n --keep-going
	@echo "The book is built: open _build/html/index.html in a browser."

# The browser tests use Debian's Chromium (Playwright cannot download its own browser here). It is
# installed by its own target, which `make test` depends on only when no Chromium is found, so a
# machine that has one never runs apt-get (nor sudo).
# The path that tests/test_browser.py launches.
CHROMIUM := $(wildcard /usr/bin/chromium)
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

chromium:
	$(SUDO) apt-get update
	$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y chromium

# ruff, configured in pyproject.toml.
lint: $(STAMP)
	$(BIN)/ruff check .

# The PostgreSQL gradebook test starts its own server from Debian's binaries (initdb, pg_ctl),
# whose folder carries the major version: the target is whichever initdb is there, else a path
# that never exists, so that apt runs only when none is installed.
INITDB := $(firstword $(wildcard /usr/lib/postgresql/*/bin/initdb))
POSTGRESQL := $(or $(INITDB),/usr/lib/postgresql/none/bin/initdb)

postgresql: $(POSTGRESQL)

$(POSTGRESQL):
	$(SUDO) apt-get update
	$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y postgresql

# Every test, the strict book build, the browser tests and the PostgreSQL tests included: what CI
# runs. pytest-xdist runs them on every core (-n auto), keeping each xdist group on one worker
# (--dist loadgroup, set in pyproject.toml; tests/conftest.py says what joins a group), and names
# the ten slowest at the end.
test: lint $(STAMP) $(if $(CHROMIUM),,chromium) $(POSTGRESQL)
	$(BIN)/python -m pytest tests -n auto --durations=10

# For development: the linter, the unit tests and the quick checks, under 30 s on 2 cores. On
# every core: with 399 tests, one process took 27.5-28.2 s of pytest and two workers 19.2-20.8 s
# (wall, quiet 2-core machine, 2026-12-07).
test-fast: lint $(STAMP)
	$(BIN)/python -m pytest tests -m "not slow and not browser" -n auto

clean:
	rm -rf _build
