"""How operators start and fail: every call they make (start, status, results, stop) under one
error policy, truthful stop reports, and arguments checked as rendered before any AWS call.

Against the emulator, through the public operator classes; faults are the emulator's own
(``emulator.add_global_faults``), so what botocore raises is what it would raise against AWS.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from airflow_querystatus.compat import AirflowFailException
from airflow_querystatus.exceptions import (
    QueryArgumentError,
    QueryCallerError,
    QueryError,
    QueryStartUncertainError,
    QueryWaitTimeoutError,
)
from airflow_querystatus.operators.athena import AthenaCalculationExecutionOperator
from airflow_querystatus.operators.network_flow_monitor import NetworkFlowMonitorTopContributorsQueryOperator
from tests.cases import DEFERRABLE_OR_NOT
from tests.harness import run_task
from tests.test_operators import FAST, LOG_GROUP, WINDOW, athena_session_id, im_operator, loader, logs_operator

#: One operator per start call the policy covers: (its start operation, a factory).
STARTS: dict[str, tuple[str, Callable[..., Any]]] = {
    "internet_monitor": ("start_query", im_operator),
    "logs_insights": ("start_query", logs_operator),
    "nfm": ("start_query_monitor_top_contributors", lambda **kw: NetworkFlowMonitorTopContributorsQueryOperator(
        task_id="nfm", monitor_name="vpc", metric_name="DATA_TRANSFERRED", destination_category="INTER_AZ",
        **WINDOW, **{**FAST, **kw})),
    "neptune_loader": ("start_loader_job", loader),
}


@pytest.fixture(autouse=True)
def _log_group(emulator_server) -> None:
    """The log group ``logs_operator`` queries: StartQuery refuses one that does not exist, as AWS does."""
    emulator_server.emulator.create_log_group(LOG_GROUP)


def calls(emulator: Any, operation: str) -> int:
    return int(emulator.requests.get(operation, 0))


@pytest.mark.parametrize("name", sorted(STARTS))
def test_a_start_refused_for_a_caller_mistake_fails_once_naming_task_operation_and_reason(name: str,
                                                                                         emulator) -> None:
    operation, make = STARTS[name]
    emulator.add_global_faults([{"error": "AccessDeniedException", "message": "User is not authorized.",
                                 "operations": [operation]}])
    before, operator = calls(emulator, operation), make()
    run = run_task(operator)
    assert isinstance(run.error, QueryCallerError) and isinstance(run.error, AirflowFailException), run.error
    text = str(run.error)
    assert f"Task {operator.task_id!r}" in text and operation in text and "AccessDeniedException" in text
    assert "is allowed `" in text and ".." not in text  # the IAM action, once each full stop
    assert run.error.operation == operation
    assert calls(emulator, operation) - before == 1  # no botocore retry, no Airflow retry


def test_a_bulk_load_refused_by_neptune_names_its_detailed_message(emulator) -> None:
    emulator.add_global_faults([{"error": "BadRequestException", "message": "Invalid format: CSV.",
                                 "operations": ["start_loader_job"]}])
    run = run_task(loader())
    assert isinstance(run.error, QueryCallerError), run.error
    assert "BadRequestException: Invalid format: CSV." in str(run.error) and ".." not in str(run.error)


def test_a_throttled_start_is_waited_out_and_starts_one_query(emulator) -> None:
    emulator.add_global_faults([{"error": "ThrottlingException", "count": 2, "operations": ["start_query"]}])
    before, queries = calls(emulator, "start_query"), len(emulator.queries("internet_monitor_query"))
    run = run_task(im_operator())
    assert run.outcome == "success", run.error
    assert calls(emulator, "start_query") - before == 3
    assert len(emulator.queries("internet_monitor_query")) - queries == 1


def test_a_5xx_on_a_start_without_idempotency_token_is_not_repeated(emulator) -> None:
    emulator.add_global_faults([{"error": "InternalServerException", "http_status": 500,
                                 "operations": ["start_query"]}])
    before = calls(emulator, "start_query")
    run = run_task(im_operator())
    assert isinstance(run.error, QueryStartUncertainError), run.error
    assert not isinstance(run.error, AirflowFailException)  # Airflow's retries decide
    assert "may have started it anyway" in str(run.error) and "idempotency token" in str(run.error)
    assert calls(emulator, "start_query") - before == 1  # botocore's own retries are off for it


def test_a_5xx_on_an_athena_start_is_repeated_with_the_same_token_and_starts_one_calculation(emulator) -> None:
    emulator.set_default_steps("athena_calculation", ["COMPLETED"])
    emulator.add_global_faults([{"error": "InternalServerException", "http_status": 500, "count": 1,
                                 "operations": ["start_calculation_execution"]}])
    before = len(emulator.queries("athena_calculation_execution"))
    run = run_task(AthenaCalculationExecutionOperator(task_id="spark", session_id=athena_session_id(emulator),
                                                      code_block="print(1)", **FAST))
    assert run.outcome == "success", run.error
    assert len(emulator.queries("athena_calculation_execution")) - before == 1


@pytest.mark.parametrize("deferrable", DEFERRABLE_OR_NOT)
def test_access_denied_while_an_operator_waits_fails_once_as_a_caller_error_with_its_fields(deferrable: bool,
                                                                                          emulator) -> None:
    emulator.set_default_steps("internet_monitor", ["RUNNING"])
    emulator.add_global_faults([{"error": "AccessDeniedException", "count": 100, "operations": ["get_query_status"]}])
    before = calls(emulator, "start_query")
    run = run_task(im_operator(deferrable=deferrable))
    emulator.clear_global_faults()
    assert isinstance(run.error, QueryCallerError) and isinstance(run.error, QueryError), run.error
    assert run.error.operation == "get_query_status" and set(run.error.identifiers) == {"monitor_name", "query_id"}
    assert "internetmonitor:GetQueryStatus" in str(run.error)
    assert calls(emulator, "start_query") - before == 1
    assert "The query was stopped." in str(run.error)  # the stop call succeeded
    assert emulator.query(run.ti.xcom["identifiers"]["query_id"]).stopped


def test_a_stop_that_fails_is_not_reported_as_a_stop(emulator) -> None:
    emulator.set_default_steps("internet_monitor", ["RUNNING"])
    emulator.add_global_faults([{"error": "AccessDeniedException", "count": 100,
                                 "operations": ["get_query_status", "stop_query"]}])
    run = run_task(im_operator())
    emulator.clear_global_faults()
    assert isinstance(run.error, QueryCallerError), run.error
    text = str(run.error)
    assert "The query was stopped" not in text
    assert "NOT stopped" in text and "may still be running" in text and "stop_query(MonitorName='web'" in text
    assert not emulator.query(run.ti.xcom["identifiers"]["query_id"]).stopped


def test_a_stop_refused_because_the_query_had_ended_says_so(emulator) -> None:
    # The first status poll is refused; the stop is refused (the query has ended); one more status
    # call shows it SUCCEEDED. Each fault waits for the call it names, in order.
    emulator.set_default_steps("internet_monitor", ["SUCCEEDED"])
    emulator.add_global_faults([{"error": "AccessDeniedException", "operations": ["get_query_status"]},
                                {"error": "ValidationException", "message": "The query has already finished.",
                                 "operations": ["stop_query"]}])
    run = run_task(im_operator())
    assert isinstance(run.error, QueryCallerError), run.error
    assert "had already ended (SUCCEEDED)" in str(run.error) and "NOT stopped" not in str(run.error)


def test_the_wait_timeout_is_a_query_error_saying_whether_the_query_was_stopped(emulator) -> None:
    emulator.set_default_steps("internet_monitor", ["RUNNING"])
    run = run_task(im_operator(wait_timeout=0.3))
    assert isinstance(run.error, QueryWaitTimeoutError) and not isinstance(run.error, AirflowFailException)
    assert "The query was stopped." in str(run.error) and "wait_timeout" in str(run.error)


@pytest.mark.parametrize(("arguments", "named"), [
    ({"start_time": ""}, "`start_time`"),
    ({"end_time": "yesterday"}, "`end_time`"),
    ({"start_time": "2026-11-02T00:00:00+00:00", "end_time": "2026-11-01T00:00:00+00:00"}, "`end_time`"),
    ({"query_string": "  "}, "`query_string`"),
    ({"log_groups": [""]}, "the task's `log_groups`"),
    ({"limit": 0}, "the task's `limit`"),
])
def test_logs_insights_arguments_are_checked_as_rendered_before_any_aws_call(arguments: dict[str, Any], named: str,
                                                                            emulator) -> None:
    before = calls(emulator, "start_query")
    run = run_task(logs_operator(**arguments))
    assert isinstance(run.error, QueryArgumentError) and isinstance(run.error, ValueError), run.error
    assert named in str(run.error) and "Task 'insights'" in str(run.error) and "Nothing was sent" in str(run.error)
    assert calls(emulator, "start_query") == before


def test_a_start_member_refused_by_botocores_model_is_named_by_its_argument(emulator) -> None:
    before = calls(emulator, "start_query_monitor_top_contributors")
    run = run_task(STARTS["nfm"][1](limit=0))  # botocore checks minimums
    assert isinstance(run.error, QueryArgumentError), run.error
    assert "parameter limit (the task's `limit`)" in str(run.error)
    assert calls(emulator, "start_query_monitor_top_contributors") == before


def test_an_aws_message_ending_in_a_full_stop_is_not_doubled(emulator) -> None:
    emulator.add_global_faults([{"error": "ResourceNotFoundException", "message": "Log group does not exist.",
                                 "operations": ["start_query"]}])
    run = run_task(logs_operator())
    assert isinstance(run.error, QueryCallerError), run.error
    assert "does not exist. Check the task's arguments" in str(run.error) and ".." not in str(run.error)


def test_reschedule_mode_with_deferrable_warns_that_deferrable_wins(logs) -> None:
    from airflow_querystatus.sensors.internet_monitor import InternetMonitorQuerySensor

    sensor = InternetMonitorQuerySensor(task_id="both", monitor_name="web", query_id="q", mode="reschedule",
                                        deferrable=True)
    assert sensor.deferrable
    assert "`mode='reschedule'` is ignored because `deferrable=True`" in logs()


def test_a_neptune_query_refused_for_access_fails_once_as_a_caller_error(emulator) -> None:
    from airflow_querystatus.operators.neptune import NeptuneOpenCypherQueryOperator

    emulator.add_global_faults([{"error": "AccessDeniedException", "message": "Not allowed.",
                                 "operations": ["execute_open_cypher_query"]}])
    run = run_task(NeptuneOpenCypherQueryOperator(task_id="cypher", query="MATCH (n) RETURN n", **FAST))
    assert isinstance(run.error, QueryCallerError), run.error
    assert "AccessDeniedException: Not allowed" in str(run.error) and ".." not in str(run.error)


def test_a_failed_load_quotes_neptunes_error_log_when_status_flags_ask_for_errors(emulator) -> None:
    emulator.set_default_steps("neptune_loader_job", [
        ("LOAD_IN_PROGRESS", 1), {"state": "LOAD_FAILED", "reason": "Bad header in people.csv."}])
    run = run_task(loader(status_flags={"errors": True}))
    assert "Neptune's error log:" in str(run.error) and "Bad header in people.csv" in str(run.error), run.error
    assert ".." not in str(run.error)
    without = run_task(loader())
    assert "Neptune's error log" not in str(without.error)
