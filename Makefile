# The two commands a new user needs: `make demo` and `make test`. Both set up .venv first (once).
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.setup-done
PYTEST_ARGS ?=

.PHONY: setup demo test lint format docs clean
setup: $(STAMP)

$(STAMP): pyproject.toml ros2_ws/src/rstack/setup.py docker/apt-packages.txt docker/setup_host.sh
	bash docker/setup_host.sh $(VENV)
	@touch $@

demo: setup
	$(BIN)/rstack demo

test: setup
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: setup
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

docs: setup
	$(BIN)/rstack graph --markdown > docs/interfaces.md

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
