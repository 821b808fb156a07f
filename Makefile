# csms — the two commands: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# The interop tests drive an independent OCPP implementation (npm ocpp-rpc) under Node.js.
INTEROP := tests/interop/node_modules/.package-lock.json

.PHONY: run test lint types fmt bench install clean generate check

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# npm ci when npm is there; without it the interop tests fail and say how to install Node.js.
$(INTEROP): tests/interop/package-lock.json
	@if command -v npm >/dev/null 2>&1; then \
		cd tests/interop && npm ci --no-audit --no-fund --loglevel=error; \
	else \
		echo "npm not found: the interop tests need Node.js and npm (.ci/run installs them)"; \
	fi

run: $(STAMP)
	$(BIN)/csms db upgrade
	exec $(BIN)/csms serve

test: $(STAMP) $(INTEROP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# Lint, types and the unit tests (no database, process or socket: tests/conftest.py marks
# them), in under a minute; `make test` runs the whole suite.
check: lint types
	$(BIN)/python -m pytest -m unit $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

fmt: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

types: $(STAMP)
	$(BIN)/mypy

# The typed OCPP messages (protocol/messages/v16.py, v201.py) from the ocpp package's schemas.
generate: $(STAMP)
	$(BIN)/python -m protocol.messages.generate

bench: $(STAMP)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
