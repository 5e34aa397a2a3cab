"""A retried operator re-attaches to the query an earlier try started (Airflow >= 3.3).

An earlier try that died (worker killed, trigger error) leaves the query's ids in Airflow's
``task_state_store``; the retry polls that query once and waits on it, takes its result, or
starts anew, saying which and why. Below 3.3 there is no such store: a retry warns once.
"""

from __future__ import annotations

import warnings
from typing import Any

import pytest

from airflow_querystatus import compat
from airflow_querystatus.operators.base import QUERY_MEMORY_KEY
from airflow_querystatus.operators.internet_monitor import InternetMonitorQueryOperator
from tests.cases import DEFERRABLE_OR_NOT
from tests.harness import TaskStateStore, run_task

needs_store = pytest.mark.skipif(not compat.REATTACH.available, reason="re-attach needs Airflow >= 3.3")
FAST: dict[str, Any] = {"poll_interval": 0.05, "max_poll_interval": 0.1, "wait_timeout": 30}
MONITOR = "retry-monitor"


def operator(**kwargs: Any) -> InternetMonitorQueryOperator:
    return InternetMonitorQueryOperator(
        task_id="measure", monitor_name=MONITOR, query_type="MEASUREMENTS",
        start_time="2026-11-01T00:00:00Z", end_time="2026-11-02T00:00:00Z", **{**FAST, **kwargs})


def left_by_an_earlier_try(emulator, steps: list[Any]) -> TaskStateStore:
    query = emulator.add_query("internet_monitor", {"monitor_name": MONITOR}, steps=steps)
    return TaskStateStore({QUERY_MEMORY_KEY: {"monitor_name": MONITOR, "query_id": query.query_id}})


def starts(emulator) -> int:
    return emulator.requests.get("start_query", 0)


@needs_store
@pytest.mark.parametrize("deferrable", DEFERRABLE_OR_NOT)
def test_a_retry_waits_on_the_query_that_still_runs(emulator, logs, deferrable: bool) -> None:
    store = left_by_an_earlier_try(emulator, [("RUNNING", 3), "SUCCEEDED"])
    before = starts(emulator)
    run = run_task(operator(deferrable=deferrable), try_number=2, task_state_store=store)
    assert run.outcome == "success", run.error
    assert starts(emulator) == before  # no second query
    assert "Re-attached to Internet Monitor query" in logs() and "still RUNNING" in logs()
    assert len(run.value) == 3  # its rows
    assert QUERY_MEMORY_KEY not in store  # done: a later clear starts anew


@needs_store
def test_a_retry_takes_the_result_of_a_query_that_already_finished(emulator, logs) -> None:
    store = left_by_an_earlier_try(emulator, ["SUCCEEDED"])
    before = starts(emulator)
    run = run_task(operator(deferrable=True), try_number=2, task_state_store=store)
    assert run.outcome == "success" and run.deferrals == 0, run.error
    assert starts(emulator) == before
    assert "already finished (SUCCEEDED): taking its result" in logs()


@needs_store
@pytest.mark.parametrize(("steps", "why"), [(["FAILED"], "it ended FAILED"), (["CANCELED"], "it ended CANCELED")])
def test_a_retry_starts_anew_when_the_earlier_query_failed(emulator, logs, steps, why) -> None:
    emulator.set_default_steps("internet_monitor", ["SUCCEEDED"])
    store = left_by_an_earlier_try(emulator, steps)
    before = starts(emulator)
    run = run_task(operator(), try_number=2, task_state_store=store)
    assert run.outcome == "success", run.error
    assert starts(emulator) == before + 1
    assert why in logs() and "Starting a new query" in logs()


@needs_store
def test_a_retry_starts_anew_when_the_earlier_query_is_gone(emulator, logs) -> None:
    emulator.set_default_steps("internet_monitor", ["SUCCEEDED"])
    store = TaskStateStore({QUERY_MEMORY_KEY: {"monitor_name": MONITOR, "query_id": "expired-long-ago"}})
    before = starts(emulator)
    run = run_task(operator(), try_number=2, task_state_store=store)
    assert run.outcome == "success", run.error
    assert starts(emulator) == before + 1
    text = logs()
    assert "can no longer be read (get_query_status" in text and "ValidationException" in text


@needs_store
def test_reattach_can_be_turned_off_per_task(emulator) -> None:
    emulator.set_default_steps("internet_monitor", ["SUCCEEDED"])
    store = left_by_an_earlier_try(emulator, [("RUNNING", 100)])
    before = starts(emulator)
    run = run_task(operator(reattach=False), try_number=2, task_state_store=store)
    assert run.outcome == "success" and starts(emulator) == before + 1


@needs_store
@pytest.mark.prepared_sensitive
def test_the_started_query_is_remembered_before_the_wait(emulator) -> None:
    """So that a try killed while it waits leaves the ids for its retry."""
    emulator.set_default_steps("internet_monitor", [("RUNNING", 2), "FAILED"])
    store = TaskStateStore()
    run = run_task(operator(deferrable=True), task_state_store=store)
    assert run.outcome == "failed"  # the query failed: the ids stay, and the retry will see FAILED
    assert store[QUERY_MEMORY_KEY]["monitor_name"] == MONITOR
    assert emulator.query(store[QUERY_MEMORY_KEY]["query_id"])


@pytest.mark.skipif(compat.REATTACH.available, reason="this Airflow has task_state_store")
def test_below_3_3_a_retry_warns_once_and_starts_anew(emulator, monkeypatch) -> None:
    monkeypatch.setattr(compat, "_warned", set())
    emulator.set_default_steps("internet_monitor", ["SUCCEEDED"])
    before = starts(emulator)
    with pytest.warns(UserWarning, match=r"`re-attach on retry` needs Airflow >= 3\.3\.0"):
        assert run_task(operator(), try_number=2).outcome == "success"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert run_task(operator(), try_number=2).outcome == "success"  # once per process
        assert run_task(operator(), try_number=1).outcome == "success"  # a first try has nothing to say
    assert starts(emulator) == before + 3


def _neptune_operators() -> list[Any]:
    from airflow_querystatus.operators.neptune import NeptuneGremlinQueryOperator, NeptuneOpenCypherQueryOperator

    return [pytest.param(NeptuneOpenCypherQueryOperator, "MATCH (n) RETURN n", id="openCypher"),
            pytest.param(NeptuneGremlinQueryOperator, "g.V().limit(1)", id="Gremlin")]


@needs_store
@pytest.mark.parametrize(("operator_class", "text"), _neptune_operators())
def test_a_neptune_retry_lets_the_earlier_query_end_instead_of_running_it_twice(operator_class, text, emulator,
                                                                                logs) -> None:
    spec = operator_class.spec
    query = emulator.add_query(spec.key, steps=[("RUNNING", 3), "FINISHED"], text=text)
    store = TaskStateStore({QUERY_MEMORY_KEY: {"query_id": query.query_id}})
    executions = emulator.requests.get(spec.start_operation, 0)
    run = run_task(operator_class(task_id="load", query=text, **FAST), try_number=2, task_state_store=store)
    assert run.outcome == "success", run.error
    assert emulator.requests.get(spec.start_operation, 0) == executions  # not run twice
    assert run.value == {"query_id": query.query_id, "results": None, "outcomeReported": False}
    assert f"Re-attached to {spec.title}" in logs()


@needs_store
@pytest.mark.parametrize(("operator_class", "text"), _neptune_operators())
def test_a_neptune_query_is_remembered_while_it_runs_and_forgotten_when_it_ends(operator_class, text,
                                                                                 emulator) -> None:
    emulator.set_default_steps(operator_class.spec.key, [("RUNNING", 2), "FINISHED"])
    store = TaskStateStore()
    seen: list[Any] = []
    original_set = store.set

    def spy(key: str, value: Any, **kwargs: Any) -> None:
        seen.append(value)
        original_set(key, value, **kwargs)

    store.set = spy  # type: ignore[method-assign]
    run = run_task(operator_class(task_id="q", query=text, **FAST), task_state_store=store)
    assert run.outcome == "success", run.error
    assert seen == [{"query_id": run.value["query_id"]}]
    assert QUERY_MEMORY_KEY not in store
