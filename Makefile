# Two entry points a newcomer needs: `make run` and `make test`. Both create .venv themselves.
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 5000
STAMP := $(VENV)/.installed

.PHONY: run test venv lint types translations clean

$(STAMP): setup.cfg
	@command -v $(PY) >/dev/null 2>&1 || { echo "Python 3.11 is required ($(PY) not found)"; exit 1; }
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

translations: $(STAMP)
	$(BIN)/pybabel compile -f -d lti_tool/translations -D messages >/dev/null

run: $(STAMP) translations
	$(BIN)/flask --app wsgi db upgrade
	BOTTEGA_DEMO=$${BOTTEGA_DEMO:-1} PUBLIC_URL=$${PUBLIC_URL:-http://127.0.0.1:$(PORT)} \
		$(BIN)/flask --app wsgi run --host 127.0.0.1 --port $(PORT)

lint: $(STAMP)
	$(BIN)/ruff check lti_tool tests scripts bench wsgi.py
	$(BIN)/ruff format --check lti_tool tests scripts bench wsgi.py
	$(BIN)/python scripts/i18n.py --check
	$(BIN)/lint-imports
	$(BIN)/mypy

test: $(STAMP) translations lint
	bash scripts/browser-deps.sh
	$(BIN)/pytest -n auto

clean:
	rm -rf $(VENV) instance .pytest_cache .mypy_cache .ruff_cache
