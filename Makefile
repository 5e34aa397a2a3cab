# Everything a fresh machine needs: only python3 and make are assumed.
#
# AIRFLOW picks the Airflow release line (2.11, 3.0, 3.1, 3.2, 3.3): each has its own pinned
# lock, requirements/airflow-$(AIRFLOW).txt, and its own venv, .venvs/airflow-$(AIRFLOW).
PYTHON ?= python3
AIRFLOW ?= 3.3
LINES := 2.11 3.0 3.1 3.2 3.3
VENV ?= .venvs/airflow-$(AIRFLOW)
LOCK := requirements/airflow-$(AIRFLOW).txt
BIN := $(VENV)/bin
UV_VERSION := 0.13.9
export AIRFLOW_HOME ?= $(CURDIR)/.airflow
## PREPARED=off turns prepared status calls off ([querystatus] prepared_status_calls) and runs
## only the tests that option can change, those marked prepared_sensitive (tests/conftest.py
## fails a test that polls through a trigger without the mark); CI runs those both ways on
## every line.
PREPARED ?= on
export AIRFLOW__QUERYSTATUS__PREPARED_STATUS_CALLS := $(if $(filter off,$(PREPARED)),False,True)
ONLY_PREPARED_SENSITIVE := $(if $(filter off,$(PREPARED)), and prepared_sensitive)
## LINE_INDEPENDENT=skip leaves out the tests marked line_independent (code below Airflow, which
## every lock pins alike): make ci runs them on 2.11 and 3.3 only.
LINE_INDEPENDENT ?= run
ifeq ($(filter $(LINE_INDEPENDENT),run skip),)
$(error LINE_INDEPENDENT=$(LINE_INDEPENDENT): choose run or skip)
endif
MARKS := $(ONLY_PREPARED_SENSITIVE)$(if $(filter skip,$(LINE_INDEPENDENT)), and not line_independent)
## DAGS_TEST=fresh leaves tests/e2e/test_dags_test.py (every example under `airflow dags test`)
## out of test-e2e: make ci runs that module once per line in check-install's fresh install (a
## user's environment, the newest packages the line's small constraints allow) instead of in the
## lock's venv.
DAGS_TEST ?= locked
ifeq ($(filter $(DAGS_TEST),locked fresh),)
$(error DAGS_TEST=$(DAGS_TEST): choose locked or fresh)
endif
E2E_ARGS := $(if $(filter fresh,$(DAGS_TEST)),--ignore=tests/e2e/test_dags_test.py)
## Fast-suite workers: the prepared_sensitive tests mostly wait (on emulated queries and
## deadlines), so four workers share two cores well there (measured on 3.3: 92 s with two,
## 59 s with four); the whole fast suite is CPU-bound and keeps two.
FAST_WORKERS ?= $(if $(filter off,$(PREPARED)),4,2)

ifeq ($(filter $(PREPARED),on off),)
$(error PREPARED=$(PREPARED): choose on or off)
endif
ifeq ($(filter $(AIRFLOW),$(LINES)),)
$(error AIRFLOW=$(AIRFLOW) is not a supported line; choose one of: $(LINES))
endif

.PHONY: venv lint test test-fast test-e2e fast-and-install ci demo benchmark benchmark-quota benchmark-triggerer lock clean check-dist check-install docs

$(BIN)/.installed: setup.cfg pyproject.toml $(LOCK)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check "uv==$(UV_VERSION)"
	$(BIN)/uv pip install -q --compile-bytecode -p $(BIN)/python -r $(LOCK)
	$(BIN)/uv pip install -q -p $(BIN)/python --no-deps -e .
	touch $@

venv: $(BIN)/.installed

lint: venv
	$(BIN)/ruff check .
	$(BIN)/mypy airflow_querystatus

## The whole suite on one line: lint, type check, the fast tests on both cores, then the
## end-to-end tests (real Airflow processes, PostgreSQL) on their own, so they do not compete.
test: lint test-fast test-e2e

## Without the slow end-to-end tests.
test-fast: venv
	$(BIN)/pytest -m "not e2e$(MARKS)" -n $(FAST_WORKERS) --dist loadfile

## One module per worker, two at a time: the stacks mostly wait (on emulated queries, on
## failover thresholds), so two overlap well on two cores.
test-e2e: venv
	$(BIN)/pytest -m "e2e$(MARKS)" -n 2 --dist loadfile $(E2E_ARGS)

## What CI runs (.ci/run, in a fresh clone inside a 0700 directory). On every line: the fast
## suite and the end-to-end suite, less the line_independent tests everywhere but 3.3 (code
## below Airflow, pinned alike by every lock: tests/test_locks.py). The tests that prepared
## status calls can change (prepared_sensitive) run again with them off, fast, on 2.11 and 3.3:
## one per triggerer design (Airflow 2's in-process loop, Airflow 3's trigger runner). On every
## line, check-install beside the fast suite: the wheel installed as the README says into a
## fresh Airflow of that line changes no other package, and every example passes `airflow dags
## test` there (DAGS_TEST=fresh: not again in the lock's venv). Lint on 3.3, 3.0 and 2.11. Each
## step prints its time (scripts/ci_step.py); CONTRIBUTING.md ("CI") keeps the budget.
STEP := $(PYTHON) scripts/ci_step.py $(MAKE) --no-print-directory
ci:
	$(STEP) lint fast-and-install test-e2e AIRFLOW=3.3 DAGS_TEST=fresh
	$(STEP) test-fast AIRFLOW=3.3 PREPARED=off
	$(STEP) lint fast-and-install test-e2e AIRFLOW=2.11 LINE_INDEPENDENT=skip DAGS_TEST=fresh
	$(STEP) test-fast AIRFLOW=2.11 PREPARED=off
	$(STEP) lint fast-and-install test-e2e AIRFLOW=3.0 LINE_INDEPENDENT=skip DAGS_TEST=fresh
	$(STEP) fast-and-install test-e2e AIRFLOW=3.1 LINE_INDEPENDENT=skip DAGS_TEST=fresh
	$(STEP) fast-and-install test-e2e AIRFLOW=3.2 LINE_INDEPENDENT=skip DAGS_TEST=fresh
	$(STEP) check-dist docs AIRFLOW=3.3

## The fast suite and check-install at once: the fast suite keeps both cores busy, the examples
## under `airflow dags test` mostly wait on their emulated queries (CI).
fast-and-install: venv
	$(MAKE) --no-print-directory -j2 --output-sync=target test-fast check-install

benchmark: venv
	$(BIN)/python benchmarks/triggerer_scale.py

## N waits against an account-wide API quota in the emulator (200-3,000 waits, 10 and 50 calls/s,
## one process and two), the shared rate budget against each wait alone; then 1,000 Logs Insights
## waits against 5 calls/s with status lists and without; about 13 minutes.
benchmark-quota: venv
	$(BIN)/python benchmarks/quota.py
	$(BIN)/python benchmarks/quota.py --kind logs --rows 1000x5 --budgets adaptive --lists auto off

## N start_from_trigger waits of ours beside Airflow's DateTimeSensorAsync in a real deployment
## (PostgreSQL, one triggerer): per-process CPU, loop stalls, garbage collections. Needs 3.3;
## N = 1,000 and 3,000 take about 16 minutes on two cores.
benchmark-triggerer: venv
	$(BIN)/python benchmarks/real_triggerer.py

## Build the wheel and sdist, twine-check them, install the wheel alone into a fresh venv and use it.
check-dist: venv
	AIRFLOW=$(AIRFLOW) $(BIN)/python scripts/check_dist.py

## Install the built wheel as the README says into a fresh Airflow of the line (its Airflow and
## amazon[aiobotocore], everything else the newest that requirements/install-$(AIRFLOW).txt
## allows): nothing else changes, pip check is clean, and every example DAG passes under
## `airflow dags test` there (tests/e2e/test_dags_test.py with QUERYSTATUS_AIRFLOW_BIN). Self-contained
## (one temporary directory, removed); prints its time.
check-install: venv
	AIRFLOW=$(AIRFLOW) $(BIN)/python scripts/check_install.py

## The documentation site (Sphinx, in docs/): the per-operation pages are generated from the
## registry by docs/generate.py (run by docs/conf.py); any warning fails the build. Only the
## 3.3 lock holds the `docs` extra.
docs: venv
	rm -rf docs/_build docs/_generated
	$(BIN)/sphinx-build -W -b html docs docs/_build/html

demo: venv
	$(BIN)/python scripts/demo.py

.PHONY: demo-ha test-ha

## The example pipelines on two triggerers (PostgreSQL); one is killed (kill -9) mid-wait and
## the failover is measured.
demo-ha: venv
	$(BIN)/python scripts/demo_ha.py

## Only the high-availability end-to-end test (also part of test-e2e), with its figures printed.
test-ha: venv
	$(BIN)/pytest -m ha -s

## Re-resolve one line's pins after changing setup.cfg (the command is also at the top of
## requirements/constraints-$(AIRFLOW).in). Only 3.3 also locks the `docs` extra.
lock:
	$(BIN)/uv pip compile setup.cfg requirements/extras.in --extra test $(if $(filter 3.3,$(AIRFLOW)),--extra docs) -c requirements/constraints-$(AIRFLOW).in \
		-p 3.11 -q --no-header -o $(LOCK)

clean:
	rm -rf .venvs .venv .airflow .pytest_cache .mypy_cache .ruff_cache
