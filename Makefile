# Career Notes: every command a newcomer needs. `make help` lists them.
# Each target creates .venv and installs what it needs, so a fresh clone works.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PORT   ?= 8000
export PORT

.DEFAULT_GOAL := help
.PHONY: help serve serve-prod test html publish newpost backup restore bench lint browser clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-11s %s\n", $$1, $$2}'

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Stamp files: reinstall only when pyproject.toml changes.
$(VENV)/.runtime-installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e .
	@touch $@

$(VENV)/.dev-installed: pyproject.toml $(VENV)/.runtime-installed
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $@

serve: $(VENV)/.runtime-installed ## Build the site and serve site + comments at http://127.0.0.1:$(PORT), rebuilding on change
	FLASK_DEVELOPMENT=1 $(BIN)/python -m comments_service.serve

serve-prod: $(VENV)/.runtime-installed ## Production server (gunicorn, several workers) on 127.0.0.1:$(PORT); needs SECRET_KEY
	@test -n "$$SECRET_KEY" || { echo 'make serve-prod needs SECRET_KEY (e.g. SECRET_KEY=$$(python3 -c "import secrets; print(secrets.token_hex(32))"))' >&2; exit 2; }
	@# The gunicorn master builds the site, then forks the workers (gunicorn_conf.py).
	$(BIN)/gunicorn --config comments_service/gunicorn_conf.py 'comments_service:create_app()'

test: $(VENV)/.dev-installed browser ## Run the whole test suite (browser tests included)
	$(BIN)/python -m pytest

html: $(VENV)/.runtime-installed ## Build the site into output/ with pelicanconf.py
	$(BIN)/python -m comments_service.publish --settings pelicanconf.py --output output

publish: $(VENV)/.runtime-installed ## Build the production site into output/ with publishconf.py (needs SITE_URL)
	$(BIN)/python -m comments_service.publish --settings publishconf.py --output output

newpost: $(VENV)/.runtime-installed ## Create a dated post skeleton: make newpost TITLE="How to ..."
	@test -n "$(TITLE)" || { echo 'Usage: make newpost TITLE="How to meet potential mentors"' >&2; exit 2; }
	$(BIN)/python -m comments_service.newpost "$(TITLE)"

backup: $(VENV)/.runtime-installed ## Online backup of the database into backups/ beside it (keeps the last 14)
	$(BIN)/flask --app comments_service db backup

restore: $(VENV)/.runtime-installed ## Restore the database from a backup: make restore FILE=var/backups/comments-....db
	@test -n "$(FILE)" || { echo 'Usage: make restore FILE=var/backups/comments-20260101T030000Z.db' >&2; exit 2; }
	$(BIN)/flask --app comments_service db restore "$(FILE)"

bench: $(VENV)/.dev-installed ## Run the benchmarks (BENCH_QUICK=1 for a fast smoke run); writes bench/RESULTS.md
	$(BIN)/python bench/run.py

lint: $(VENV)/.dev-installed ## Run ruff (lint and format check)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# Browser tests drive Debian's chromium (Playwright cannot download browsers here).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else \
	    echo "Browser tests need Debian's chromium: sudo apt-get install chromium" >&2; exit 1; \
	  fi; }

clean: ## Remove build output and caches (keeps var/ and its database)
	rm -rf output cache .pytest_cache .ruff_cache
