# One command to run the bot, one to run the tests; both set up .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint bench clean messages

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/python -m bot

test: $(STAMP)
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/python tools/lengths.py

# The bot's words: re-extract the message ids from the code into the template and merge them
# into every catalog (bot/i18n/locales/<lang>/LC_MESSAGES/messages.po), then translate what is new.
# The .po files are read at run time (bot/i18n.py): there is nothing to compile.
messages: $(STAMP)
	$(BIN)/pybabel extract -F babel.cfg --no-location --sort-output -w 100 \
		--project=voxgram --copyright-holder=Voxgram -o bot/i18n/locales/messages.pot .
	$(BIN)/pybabel update -D messages -i bot/i18n/locales/messages.pot -d bot/i18n/locales -w 100 \
		--ignore-pot-creation-date

bench: $(STAMP)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV)
