# Everything a fresh machine needs: `make run` (the main job) and `make test` (checks and the whole suite).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: install run test check bench clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

install: $(VENV)/.installed

run: install
	$(VENV)/bin/dmaengine test

check: install
	$(VENV)/bin/ruff check
	$(VENV)/bin/mypy

test: check
	$(PY) -m pytest

bench: install
	$(PY) benchmarks/run.py

clean:
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache .mypy_cache .ruff_cache
