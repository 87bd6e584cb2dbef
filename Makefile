# Everything a fresh machine needs: `make run` (the main job) and `make test` (checks and the whole suite).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: install run test check bench clean

NATIVE_SRC := setup.py $(wildcard src/native/*.c src/native/*.h)

$(VENV)/.installed: pyproject.toml $(NATIVE_SRC)
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

# The suite runs twice: with the compiled core (when it built) and with it forced off (pure Python, the oracle).
test: check
	$(PY) -m pytest
	DMAENGINE_PURE_PYTHON=1 $(PY) -m pytest -q

bench: install
	$(PY) benchmarks/run.py

clean:
	rm -rf $(VENV) build dist src/*.egg-info src/dmaengine/_cnative*.so .pytest_cache .mypy_cache .ruff_cache
