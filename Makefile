# Entry points for a new machine. See README.md.
VENV ?= .venv
PY := $(VENV)/bin/python
PYTEST_ARGS ?=
# pytest-xdist workers (one per core; `make test TEST_WORKERS=0` runs in one process).
# Whole test modules go to one worker (--dist loadfile): their shared exports and trained toy models
# are made once.
TEST_WORKERS ?= auto

.PHONY: setup demo test clean-venv

setup:
	bash tools/setup_env.sh

# The main job on a built-in tiny example (sets up first if needed).
demo: setup
	$(PY) tools/demo/run_demo.py

# The test suite (sets up first if needed).
test: setup
	$(PY) -m pytest tests -n $(TEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

clean-venv:
	rm -rf $(VENV)
