# Entry points for a new machine. See README.md.
VENV ?= .venv
PY := $(VENV)/bin/python
PYTEST_ARGS ?=

.PHONY: setup demo test clean-venv

setup:
	bash tools/setup_env.sh

# The main job on a built-in tiny example (sets up first if needed).
demo: setup
	$(PY) tools/demo/run_demo.py

# The test suite (sets up first if needed).
test: setup
	$(PY) -m pytest tests $(PYTEST_ARGS)

clean-venv:
	rm -rf $(VENV)
