# The two commands of the README. Both create .venv/ from requirements.txt when it is missing or
# older than requirements.txt, so they work the same on a fresh clone and on a working copy.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: book test setup clean postgresql

setup: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -r requirements.txt
	touch $(STAMP)

# Build the HTML book; chapters execute at build time, cached in _build/.jupyter_cache.
book: $(STAMP)
	$(BIN)/jupyter-book build . -W -n --keep-going
	@echo "The book is built: open _build/html/index.html in a browser."

# The browser test uses Debian's Chromium (Playwright cannot download its own browser here).
CHROMIUM := /usr/bin/chromium
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

$(CHROMIUM):
	$(SUDO) apt-get update
	$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y chromium

# The PostgreSQL gradebook test starts its own server from Debian's binaries (initdb, pg_ctl),
# whose folder carries the major version: the target is whichever initdb is there, else a path
# that never exists, so that apt runs only when none is installed.
INITDB := $(firstword $(wildcard /usr/lib/postgresql/*/bin/initdb))
POSTGRESQL := $(or $(INITDB),/usr/lib/postgresql/none/bin/initdb)

postgresql: $(POSTGRESQL)

$(POSTGRESQL):
	$(SUDO) apt-get update
	$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y postgresql

# Every test, the strict book build, the browser test and the PostgreSQL test included.
test: $(STAMP) $(CHROMIUM) $(POSTGRESQL)
	$(BIN)/python -m pytest tests

clean:
	rm -rf _build
