# Everything a fresh machine needs: only python3 and make are assumed.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
UV_VERSION := 0.13.9
export AIRFLOW_HOME ?= $(CURDIR)/.airflow

.PHONY: venv lint test test-fast demo benchmark lock clean

$(BIN)/.installed: setup.cfg pyproject.toml requirements/lock.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check "uv==$(UV_VERSION)"
	$(BIN)/uv pip install -q --compile-bytecode -p $(BIN)/python -r requirements/lock.txt
	$(BIN)/uv pip install -q -p $(BIN)/python --no-deps -e .
	touch $@

venv: $(BIN)/.installed

lint: venv
	$(BIN)/ruff check .
	$(BIN)/mypy airflow_querystatus

## The whole suite: lint, type check, then the fast tests on both cores and the
## end-to-end tests (real Airflow processes) on their own, so they do not compete.
test: lint
	$(BIN)/pytest -m "not e2e" -n 2 --dist loadfile
	$(BIN)/pytest -m e2e

## Without the slow end-to-end tests.
test-fast: venv
	$(BIN)/pytest -m "not e2e" -n 2 --dist loadfile

benchmark: venv
	$(BIN)/python benchmarks/triggerer_scale.py

demo: venv
	$(BIN)/python scripts/demo.py

## Re-resolve pinned dependencies after changing setup.cfg.
lock:
	$(BIN)/uv pip compile setup.cfg --extra test -p 3.11 -q --no-header -o requirements/lock.txt

clean:
	rm -rf $(VENV) .airflow .pytest_cache .mypy_cache .ruff_cache
