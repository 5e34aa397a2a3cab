"""A deferred task finishes from its trigger's event alone, and still from what older releases left.

``airflow dags test`` (``dag.test()``) on Airflow 2.11 to 3.3 resumes a deferred task with the
trigger's event and drops the ``kwargs`` given to ``defer()``; the triggerer keeps them. A task
deferred by 0.1.0 resumes after an upgrade with that release's ``identifiers`` kwarg.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from airflow_querystatus.compat import AirflowException
from airflow_querystatus.exceptions import QueryExecutionFailedError
from airflow_querystatus.operators.athena import AthenaCalculationExecutionOperator
from airflow_querystatus.operators.base import QueryOperator
from airflow_querystatus.operators.internet_monitor import InternetMonitorQueryOperator
from airflow_querystatus.operators.network_flow_monitor import (
    NetworkFlowMonitorTopContributorsQueryOperator,
    NetworkFlowMonitorWorkloadInsightsTopContributorsDataQueryOperator,
    NetworkFlowMonitorWorkloadInsightsTopContributorsQueryOperator,
)
from airflow_querystatus.sensors.athena import AthenaCalculationExecutionSensor
from airflow_querystatus.sensors.internet_monitor import InternetMonitorQuerySensor
from tests.harness import run_task

#: These tests poll through triggers: CI runs them with prepared status calls on and off.
pytestmark = pytest.mark.prepared_sensitive

FAST: dict[str, Any] = {"poll_interval": 0.05, "max_poll_interval": 0.1, "wait_timeout": 30, "deferrable": True}
WINDOW = {"start_time": "2026-11-01T00:00:00Z", "end_time": "2026-11-02T00:00:00Z"}
NFM = {"destination_category": "INTRA_AZ", **WINDOW, **FAST}


def _athena(emulator: Any) -> QueryOperator:
    emulator.sessions["resume-session"] = {"State": "IDLE", "WorkGroup": "wg"}
    return AthenaCalculationExecutionOperator(task_id="t", session_id="resume-session", code_block="x", **FAST)


#: Every operator that defers (the Neptune operators run on the worker and never do).
DEFERRING: dict[str, Callable[[Any], QueryOperator]] = {
    "internet_monitor": lambda _: InternetMonitorQueryOperator(
        task_id="t", monitor_name="web", query_type="MEASUREMENTS", **WINDOW, **FAST),
    "nfm_top_contributors": lambda _: NetworkFlowMonitorTopContributorsQueryOperator(
        task_id="t", monitor_name="vpc", metric_name="TIMEOUTS", **NFM),
    "nfm_workload_insights_data": lambda _: NetworkFlowMonitorWorkloadInsightsTopContributorsDataQueryOperator(
        task_id="t", scope_id="scope-1", metric_name="TIMEOUTS", **NFM),
    "nfm_workload_insights": lambda _: NetworkFlowMonitorWorkloadInsightsTopContributorsQueryOperator(
        task_id="t", scope_id="scope-1", metric_name="TIMEOUTS", **NFM),
    "athena": _athena,
}


@pytest.mark.parametrize("make", DEFERRING.values(), ids=DEFERRING.keys())
def test_operator_finishes_from_the_event_alone(make: Callable[[Any], QueryOperator], emulator) -> None:
    """As under ``airflow dags test``: the task resumes without the kwargs it deferred with."""
    kept = run_task(make(emulator))
    dropped = run_task(make(emulator), keep_defer_kwargs=False)
    assert dropped.deferrals == 1
    assert dropped.outcome == "success", dropped.error
    assert kept.outcome == "success", kept.error
    # The same results, read from the query the event names.
    assert type(dropped.value) is type(kept.value) and dropped.value, dropped.value
    assert set(dropped.events[0]) >= set(dropped.ti.xcom["identifiers"])


def test_a_failed_query_fails_the_task_from_the_event_alone(emulator) -> None:
    emulator.set_default_steps("internet_monitor", [("RUNNING", 1), "FAILED"])
    run = run_task(DEFERRING["internet_monitor"](emulator), keep_defer_kwargs=False)
    assert isinstance(run.error, QueryExecutionFailedError) and "FAILED" in str(run.error)


def test_a_timed_out_wait_stops_the_query_the_event_names(emulator) -> None:
    """Stopping needs the identifiers too: they come from the event."""
    emulator.set_default_steps("athena_calculation", ["RUNNING"])
    operator = _athena(emulator)
    operator.wait_timeout = 0.5
    run = run_task(operator, keep_defer_kwargs=False)
    assert isinstance(run.error, AirflowException) and "wait_timeout" in str(run.error)
    assert emulator.query(run.ti.xcom["identifiers"]["calculation_execution_id"]).stopped


def _query_and_event(emulator: Any) -> tuple[QueryOperator, dict[str, str], dict[str, Any]]:
    """A finished Internet Monitor query, an operator, and the event its trigger sent."""
    query = emulator.add_query("internet_monitor", {"monitor_name": "web"}, steps=["SUCCEEDED"])
    identifiers = {"monitor_name": "web", "query_id": query.query_id}
    event = {"status": "success", "state": "SUCCEEDED", "message": "done", "retryable": False, "response": {},
             **identifiers}
    return DEFERRING["internet_monitor"](emulator), identifiers, event


def test_a_task_deferred_by_the_previous_release_resumes_with_its_identifiers_kwarg(emulator) -> None:
    """0.1.0 deferred with ``kwargs={"identifiers": ...}``; the triggerer resumes with them."""
    operator, identifiers, event = _query_and_event(emulator)
    rows = operator.resume_execution("execute_complete", {"identifiers": identifiers, "event": event}, {})
    assert len(rows) == 3
    # An event without identifiers (none of ours sends one) is read with the kwarg's.
    bare = {k: v for k, v in event.items() if k not in identifiers}
    assert operator.resume_execution("execute_complete", {"identifiers": identifiers, "event": bare}, {}) == rows


def test_an_event_naming_no_query_fails_with_a_reason(emulator) -> None:
    operator, identifiers, event = _query_and_event(emulator)
    bare = {k: v for k, v in event.items() if k not in identifiers}
    with pytest.raises(AirflowException, match="names no Internet Monitor query"):
        operator.resume_execution("execute_complete", {"event": bare}, {})


def test_this_release_still_defers_with_the_identifiers_kwarg(emulator) -> None:
    """So that a worker still on the previous release can resume a task this one deferred."""
    from airflow.providers.common.compat.sdk import TaskDeferred

    operator = DEFERRING["internet_monitor"](emulator)
    ti = type("TI", (), {"xcom_push": lambda self, key, value: None})()
    with pytest.raises(TaskDeferred) as deferred:
        operator.execute({"ti": ti})
    assert set(deferred.value.kwargs["identifiers"]) == {"monitor_name", "query_id"}


_SENSOR: dict[str, Any] = {"poll_interval": 0.05, "max_poll_interval": 0.1, "timeout": 30, "deferrable": True}
#: kind, scope, final state, and the sensor waiting on a query of that kind.
SENSORS: dict[str, tuple[str, dict[str, str], str, Callable[[str], Any]]] = {
    "internet_monitor": ("internet_monitor", {"monitor_name": "web"}, "SUCCEEDED", lambda query_id:
                         InternetMonitorQuerySensor(task_id="s", monitor_name="web", query_id=query_id, **_SENSOR)),
    "athena": ("athena_calculation", {}, "COMPLETED", lambda query_id:
               AthenaCalculationExecutionSensor(task_id="s", calculation_execution_id=query_id, **_SENSOR)),
}


@pytest.mark.parametrize(("kind", "scope", "done", "sensor"), SENSORS.values(), ids=SENSORS.keys())
def test_sensor_finishes_from_the_event_alone(kind: str, scope: dict[str, str], done: str,
                                              sensor: Callable[[str], Any], emulator) -> None:
    query = emulator.add_query(kind, scope, steps=[("RUNNING", 1), done])
    run = run_task(sensor(query.query_id), keep_defer_kwargs=False)
    assert run.deferrals == 1 and run.outcome == "success", run.error
    assert run.value is not None
