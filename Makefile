# Career Notes: every command a newcomer needs. `make help` lists them.
# Each target creates .venv and installs what it needs, so a fresh clone works.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PORT   ?= 8000
export PORT

.DEFAULT_GOAL := help
.PHONY: help install serve serve-prod test html publish rollback newpost backup restore bench lint system-packages clean

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

# Which mode each target runs in: comments_service/config.py decides the rest
# (settings file, output folder, database, origin, secret) from BLOG_ENV.
DEV  := BLOG_ENV=development
PROD := BLOG_ENV=production

install: $(VENV)/.runtime-installed ## Create .venv and install the pinned dependencies (every target does it first)

serve: $(VENV)/.runtime-installed ## Build the site and serve site + comments at http://127.0.0.1:$(PORT), rebuilding on change
	$(DEV) $(BIN)/python -m comments_service.serve

serve-prod: $(VENV)/.runtime-installed ## Production server (gunicorn, several workers) on 127.0.0.1:$(PORT); needs SITE_URL and SECRET_KEY
	@# The gunicorn master checks the settings, builds the live release, then forks the workers.
	$(PROD) $(BIN)/gunicorn --config comments_service/gunicorn_conf.py 'comments_service:create_app()'

test: $(VENV)/.dev-installed system-packages ## Run the whole test suite (browser tests included)
	$(BIN)/python -m pytest

html: $(VENV)/.runtime-installed ## Build the development preview into output/ with pelicanconf.py
	$(DEV) $(BIN)/python -m comments_service.publish

publish: $(VENV)/.runtime-installed ## Build a new production release with publishconf.py and put it live (needs SITE_URL)
	$(PROD) $(BIN)/python -m comments_service.publish

rollback: $(VENV)/.runtime-installed ## Put the previous production release live again
	$(PROD) $(BIN)/python -m comments_service.publish --rollback

newpost: $(VENV)/.runtime-installed ## Create a dated post skeleton: make newpost TITLE="How to ..." [CATEGORY="Job Search"]
	@test -n "$(TITLE)" || { echo 'Usage: make newpost TITLE="How to meet potential mentors" [CATEGORY="Networking"]' >&2; exit 2; }
	$(DEV) $(BIN)/python -m comments_service.newpost $(if $(CATEGORY),--category "$(CATEGORY)") "$(TITLE)"

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

# Debian packages the tests need, each as "file it installs:package".
# Browser tests drive Debian's chromium (Playwright cannot download browsers
# here); the deployment test runs Debian's nginx (with its brotli module) and
# makes a certificate with openssl.
SYSTEM_PACKAGES := /usr/bin/chromium:chromium /usr/sbin/nginx:nginx \
  /usr/lib/nginx/modules/ngx_http_brotli_filter_module.so:libnginx-mod-http-brotli-filter \
  /usr/bin/openssl:openssl
system-packages:
	@missing=""; for pair in $(SYSTEM_PACKAGES); do \
	  [ -e "$${pair%%:*}" ] || missing="$$missing $${pair##*:}"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else \
	    echo "The tests need Debian's$$missing: sudo apt-get install$$missing" >&2; exit 1; \
	  fi; fi

clean: ## Remove build output and caches (keeps var/ and its database)
	rm -rf output cache .pytest_cache .ruff_cache
