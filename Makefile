# Comptoir — the two commands a newcomer needs: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
FLASK  := $(BIN)/flask --app wsgi
HOST   ?= 127.0.0.1
PORT   ?= 5000

.PHONY: run test install install-dev migrate seed bench lint translations clean

# Runtime dependencies (re-installed whenever requirements.txt changes).
$(VENV)/.installed: requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	touch $@

# Test and tooling dependencies on top.
$(VENV)/.installed-dev: $(VENV)/.installed requirements-dev.txt
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

## make run: the whole shop on SQLite with demo data, on http://127.0.0.1:5000
run: export COMPTOIR_ENV = development
run: install
	$(FLASK) db upgrade
	$(FLASK) seed-demo
	@echo "Comptoir is starting on http://$(HOST):$(PORT)"
	$(FLASK) run --host $(HOST) --port $(PORT) --reload --with-threads

## make test: the whole suite (SQLite always; PostgreSQL too when TEST_DATABASE_URL is set)
test: install-dev
	$(BIN)/python -m pytest

migrate: export COMPTOIR_ENV = development
migrate: install
	$(FLASK) db upgrade

bench: install-dev
	$(BIN)/python -m bench

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

## Extract UI strings, update the catalogues, compile them.
translations: install-dev
	$(BIN)/pybabel extract -F babel.cfg -k _l -k lazy_gettext -o comptoir/translations/messages.pot .
	$(BIN)/pybabel update -i comptoir/translations/messages.pot -d comptoir/translations --no-fuzzy-matching
	$(BIN)/pybabel compile -d comptoir/translations

clean:
	rm -rf $(VENV) .pytest_cache
