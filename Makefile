# Every target sets up .venv first (python3.11 + pip; torch comes from the local wheel cache).
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test test-fast lint bench clean-venv

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --disable-pip-version-check -q -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/resnet-tui

lint: $(STAMP)
	$(BIN)/ruff check engine resnet_tui tests bench
	$(BIN)/ruff format --check engine resnet_tui tests bench
	$(BIN)/mypy engine resnet_tui
	$(BIN)/lint-imports

# The whole suite (CI). test-fast: the inner loop, without the tests marked slow (real
# training, trainers killed, torchrun, the console waiting on its helper, walks over every
# view or field); under 90 s here.
# Three workers on two cores: the slow tests spend much of their time waiting on the processes
# they start (trainers, torchrun, the console's helper), so a third worker fills those waits.
test: lint
	$(BIN)/python -m pytest -n 3 --dist loadgroup

test-fast: lint
	$(BIN)/python -m pytest -n 2 --dist loadgroup -m "not slow"

bench: $(STAMP)
	$(BIN)/python -m bench

clean-venv:
	rm -rf $(VENV)
