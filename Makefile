# dspops: two commands to know. `make run` starts everything; `make test` runs the suite.
SHELL := /bin/bash
PY ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat requirements.lock pyproject.toml | cksum | cut -d' ' -f1)
MANAGE := $(BIN)/python manage.py

.PHONY: run test bench install migrate lock check-python env

check-python:
	@$(PY) -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else "dspops needs Python 3.11; set PY=/path/to/python3.11")'

$(STAMP): requirements.lock pyproject.toml | check-python
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --disable-pip-version-check -q -r requirements.lock
	@rm -f $(VENV)/.installed-*
	@touch $(STAMP)

install: $(STAMP)

# A development .env with its own secret key, written once and never overwritten.
env:
	@test -f .env || { sed "s|^SECRET_KEY=.*|SECRET_KEY=$$($(PY) -c 'import secrets; print(secrets.token_urlsafe(50))')|" .env.example > .env; echo "wrote .env (development settings; edit it to change them)"; }
	@! grep -Eq '^(SECURE_SSL_REDIRECT|SESSION_COOKIE_SECURE|CSRF_COOKIE_SECURE)=False|^SECURE_HSTS_SECONDS=0' .env || echo "note: .env turns the HTTPS hardening off (SECURE_*, *_COOKIE_SECURE); harmless with DEBUG=True, but delete those lines before running with DEBUG=False (README, Deployment)"

migrate: install env
	$(MANAGE) migrate --noinput -v 0

run: migrate
	@mode=$$($(BIN)/python -c 'import os,django; os.environ.setdefault("DJANGO_SETTINGS_MODULE","dspops.settings"); django.setup(); from django.conf import settings; print(settings.IB_MODE)'); \
	if [ "$$mode" = live ]; then $(MANAGE) bootstrap || exit 1; else $(MANAGE) bootstrap --demo || exit 1; fi; \
	procfile=Procfile; [ "$$mode" = live ] && procfile=Procfile.live; \
	echo ""; echo "dspops is starting (IB_MODE=$$mode, $$procfile). Log in at http://127.0.0.1:8000/admin/ — Ctrl-C stops everything."; echo ""; \
	exec $(BIN)/honcho -f $$procfile start

# The import rule first (.importlinter, docs/architecture.md): a floor imports only the floors below it.
test: install env
	$(BIN)/lint-imports --no-cache
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: migrate
	@for script in bench/bench_*.py; do $(BIN)/python $$script || exit 1; done

lock: install
	$(BIN)/python -m pip freeze --exclude-editable | sed '1i # Exact versions CI tested. Regenerate with: make lock' > requirements.lock
