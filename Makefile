# Everything a fresh machine needs: `make run` (the main job) and `make test` (checks and the whole suite).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: install run test check bench clean

NATIVE_SRC := setup.py $(wildcard src/native/*.c src/native/*.h)

# Which Python made the venv: a venv made by another one (an upgrade, another PYTHON=) is rebuilt.
PY_ID_CODE := import platform, sys; print(platform.python_implementation(), platform.python_version(), sys.base_prefix)
PY_ID := $(shell $(PYTHON) -c '$(PY_ID_CODE)' 2>/dev/null)
PY_MIN := 3.11

.PHONY: FORCE
$(VENV)/.python-id: FORCE
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < tuple(map(int, "$(PY_MIN)".split("."))))' 2>/dev/null || { \
	    echo "make: dmaengine needs Python $(PY_MIN) or newer; '$(PYTHON)' is $$($(PYTHON) -V 2>&1 || echo missing)." >&2; \
	    echo "make: run 'make PYTHON=python3.12' (or any python$(PY_MIN)+ on your PATH); no venv was made." >&2; \
	    exit 1; }
	@if [ -d $(VENV) ] && [ "$$($(VENV)/bin/python -c '$(PY_ID_CODE)' 2>/dev/null)" != "$(PY_ID)" ]; then \
	    echo "make: $(VENV) was made by another Python; rebuilding it with $(PYTHON) ($(PY_ID))" >&2; \
	    rm -rf $(VENV); fi
	@if [ "$$(cat $@ 2>/dev/null)" != "$(PY_ID)" ]; then mkdir -p $(VENV) && echo "$(PY_ID)" > $@; fi

$(VENV)/.installed: pyproject.toml $(NATIVE_SRC) $(VENV)/.python-id
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
