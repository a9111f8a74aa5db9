# The two commands: `make run` starts the whole embedded stack, `make test` runs every test.
# Both bootstrap .venv from nothing when it is missing or older than pyproject.toml.
PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.installed

.PHONY: run test test-alone mutation lint bench clean-data

$(STAMP): pyproject.toml
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(VENV)/bin/sjukfall run

test: $(STAMP)
	$(VENV)/bin/python -m pytest

# Every test file on its own (order independence); `make test` already runs in random order.
test-alone: $(STAMP)
	scripts/each-file-alone.sh

# Mutation testing (not part of `make test`): see TESTING.md for the last score.
mutation: $(STAMP)
	scripts/mutation.sh $(MUTATE)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy --strict domain/

bench: $(STAMP)
	$(VENV)/bin/pip install --quiet -e '.[dev,bench]'
	$(VENV)/bin/python bench/eventstore.py

clean-data:
	rm -rf .data
