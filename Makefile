# Comptoir — the two commands a newcomer needs: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
FLASK  := $(BIN)/flask --app wsgi
HOST   ?= 127.0.0.1
PORT   ?= 5000
TEST_WORKERS ?= 2

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
	$(BIN)/python -m pytest -n $(TEST_WORKERS)

migrate: export COMPTOIR_ENV = development
migrate: install
	$(FLASK) db upgrade

bench: install-dev
	$(BIN)/python -m bench

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

## make translations: extract UI strings into messages.pot, create/update each catalogue (no
## fuzzy guesses), compile the .mo files the app loads. Then translate the empty msgstr in
## comptoir/translations/<lang>/LC_MESSAGES/messages.po and run it again (tests/test_i18n.py
## fails while a string is untranslated or a .mo is stale).
I18N_DIR     := comptoir/translations
I18N_LOCALES ?= fr
translations: install-dev
	mkdir -p $(I18N_DIR)
	$(BIN)/pybabel extract -F babel.cfg -k _l -k lazy_gettext -k lazy_ngettext:1,2 \
		--add-location=file --project=Comptoir --copyright-holder="Comptoir contributors" \
		-o $(I18N_DIR)/messages.pot .
	for lang in $(I18N_LOCALES); do \
		$(BIN)/pybabel update -i $(I18N_DIR)/messages.pot -d $(I18N_DIR) -l $$lang --init-missing \
			--no-fuzzy-matching --ignore-obsolete --ignore-pot-creation-date || exit 1; \
	done
	$(BIN)/pybabel compile -d $(I18N_DIR) --statistics

clean:
	rm -rf $(VENV) .pytest_cache
