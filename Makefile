# Developer shortcuts; each uses the .venv that scripts/test.sh creates.
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: lint typecheck test check demo

lint:
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck:
	$(BIN)/mypy

test:
	$(BIN)/python -m pytest -p no:cacheprovider

check: lint typecheck test

demo:
	bash scripts/demo.sh
