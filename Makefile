# The two commands of the README: `make serve` and `make test`. Each sets itself up.
# `make bench-smoke`: every benchmark in bench/ in its smoke mode (~1 min; PostgreSQL needed).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: serve test lint typecheck unit example install clean bench-smoke messages screenshots

$(BIN)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11) and "Python 3.11 or newer is needed")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $@

install: $(BIN)/.installed

serve: install
	$(BIN)/export-resend serve --demo

unit: install
	$(BIN)/pytest -q

# the example host service's own tests (examples/host_service), with this virtual environment
example: install
	$(BIN)/pytest -q examples/host_service

typecheck: install
	$(BIN)/mypy

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

test: unit typecheck lint

# the operator page's text: extract it from the templates and code, update every catalog
UI := src/export_resend/adapters/ui
messages: install
	cd $(UI) && $(abspath $(BIN))/pybabel extract -F babel.cfg -k N_ -k gettext:3 \
		--no-location --omit-header --sort-output -o locale/messages.pot .
	$(BIN)/pybabel update -i $(UI)/locale/messages.pot -d $(UI)/locale \
		--no-fuzzy-matching --omit-header

# docs/ui/*.png: the operator page at desktop and phone widths (Chromium needed)
screenshots: install
	$(BIN)/python -m tests.browser.screenshots

bench-smoke: install
	PYTHONDONTWRITEBYTECODE=1 $(BIN)/python -m bench.smoke

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis
