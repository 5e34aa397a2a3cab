"""Start-and-wait operators against the emulator: results, failures, timeouts, kills."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from airflow_querystatus import compat
from airflow_querystatus.compat import AirflowException, AirflowFailException
from airflow_querystatus.exceptions import QueryExecutionFailedError
from airflow_querystatus.operators.athena import AthenaCalculationExecutionOperator
from airflow_querystatus.operators.base import QUERY_MEMORY_KEY
from airflow_querystatus.operators.internet_monitor import InternetMonitorQueryOperator
from airflow_querystatus.operators.neptune import (
    MARKER_PREFIX,
    NeptuneGremlinQueryOperator,
    NeptuneLoaderJobOperator,
    NeptuneOpenCypherQueryOperator,
)
from airflow_querystatus.operators.network_flow_monitor import (
    NetworkFlowMonitorTopContributorsQueryOperator,
    NetworkFlowMonitorWorkloadInsightsTopContributorsDataQueryOperator,
    NetworkFlowMonitorWorkloadInsightsTopContributorsQueryOperator,
)
from tests.cases import DEFERRABLE_OR_NOT
from tests.harness import TaskStateStore, rebuild_trigger, run_task

FAST: dict[str, Any] = {"poll_interval": 0.05, "max_poll_interval": 0.1, "wait_timeout": 30}
WINDOW = {"start_time": "2026-11-01T00:00:00Z", "end_time": "2026-11-02T00:00:00Z"}


def im_operator(**kwargs: Any) -> InternetMonitorQueryOperator:
    return InternetMonitorQueryOperator(
        task_id="im", monitor_name="web", query_type="MEASUREMENTS", **WINDOW, **{**FAST, **kwargs}
    )


def athena_session(emulator_server) -> str:
    import boto3

    client = boto3.client("athena", endpoint_url=emulator_server.url, region_name="us-east-1",
                          aws_access_key_id="a", aws_secret_access_key="b")
    return client.start_session(WorkGroup="wg", EngineConfiguration={"MaxConcurrentDpus": 2})["SessionId"]


@pytest.mark.parametrize("deferrable", DEFERRABLE_OR_NOT)
def test_internet_monitor_operator_returns_all_rows_keyed_by_field(deferrable: bool, emulator) -> None:
    emulator.set_default_steps("internet_monitor", [("QUEUED", 1), ("RUNNING", 1), "SUCCEEDED"])
    run = run_task(im_operator(deferrable=deferrable))
    assert run.outcome == "success", run.error
    assert run.value == [{"city": "city-0", "availability_score": "99.0"},
                         {"city": "city-1", "availability_score": "98.5"},
                         {"city": "city-2", "availability_score": "98.0"}]
    assert run.deferrals == (1 if deferrable else 0)
    assert run.ti.xcom["identifiers"]["monitor_name"] == "web"


@pytest.mark.parametrize("deferrable", DEFERRABLE_OR_NOT)
def test_network_flow_monitor_operators_fetch_every_page(deferrable: bool, emulator) -> None:
    top = run_task(NetworkFlowMonitorTopContributorsQueryOperator(
        task_id="nfm", monitor_name="vpc", metric_name="DATA_TRANSFERRED", destination_category="INTER_AZ",
        limit=50, deferrable=deferrable, **WINDOW, **FAST))
    assert top.outcome == "success", top.error
    assert top.value["unit"] == "Bytes" and len(top.value["topContributors"]) == 3
    data = run_task(NetworkFlowMonitorWorkloadInsightsTopContributorsDataQueryOperator(
        task_id="wi", scope_id="scope-1", metric_name="TIMEOUTS", destination_category="INTRA_AZ",
        deferrable=deferrable, **WINDOW, **FAST))
    assert data.outcome == "success", data.error
    assert data.value["datapoints"][0]["label"] == "use1-az0"


@pytest.mark.parametrize("deferrable", DEFERRABLE_OR_NOT)
def test_workload_insights_top_contributors_operator_starts_with_limit_and_stops(deferrable: bool, emulator) -> None:
    run = run_task(NetworkFlowMonitorWorkloadInsightsTopContributorsQueryOperator(
        task_id="wit", scope_id="scope-2", metric_name="RETRANSMISSIONS", destination_category="INTER_VPC",
        limit=7, deferrable=deferrable, **WINDOW, **FAST))
    assert run.outcome == "success", run.error
    assert len(run.value["topContributors"]) == 3 and run.value["topContributors"][0]["value"] == 1000
    query = emulator.query(run.ti.xcom["identifiers"]["query_id"])
    assert '"limit": 7' in (query.text or "") and query.identifiers == {"scope_id": "scope-2"}
    emulator.set_default_steps("network_flow_monitor_workload_insights", ["RUNNING"])
    stopped = run_task(NetworkFlowMonitorWorkloadInsightsTopContributorsQueryOperator(
        task_id="wit", scope_id="scope-2", metric_name="TIMEOUTS", destination_category="INTRA_AZ",
        deferrable=deferrable, **WINDOW, **{**FAST, "wait_timeout": 0.5}))
    assert isinstance(stopped.error, AirflowException) and "wait_timeout" in str(stopped.error)
    assert emulator.query(stopped.ti.xcom["identifiers"]["query_id"]).stopped


@pytest.mark.parametrize("deferrable", DEFERRABLE_OR_NOT)
def test_athena_operator_returns_result_uris(deferrable: bool, emulator, emulator_server) -> None:
    session = athena_session(emulator_server)
    run = run_task(AthenaCalculationExecutionOperator(
        task_id="spark", session_id=session, code_block="print(spark.range(10).count())",
        deferrable=deferrable, **FAST))
    assert run.outcome == "success", run.error
    assert run.value["state"] == "COMPLETED"
    assert run.value["result"]["ResultS3Uri"].startswith("s3://")
    assert ".py" in AthenaCalculationExecutionOperator.template_ext


@pytest.mark.parametrize("deferrable", DEFERRABLE_OR_NOT)
def test_failed_query_fails_the_task_so_that_retries_start_a_new_one(deferrable: bool, emulator) -> None:
    emulator.set_default_steps("internet_monitor", [("RUNNING", 1), "FAILED"])
    run = run_task(im_operator(deferrable=deferrable))
    assert isinstance(run.error, QueryExecutionFailedError)
    assert not isinstance(run.error, AirflowFailException)  # retryable
    assert "FAILED" in str(run.error)
    assert run.error.operation == "get_query_status" and run.error.state == "FAILED"
    assert set(run.error.identifiers) == {"monitor_name", "query_id"} and run.error.last_answer is not None


@pytest.mark.parametrize("deferrable", DEFERRABLE_OR_NOT)
def test_wait_timeout_stops_the_query(deferrable: bool, emulator) -> None:
    emulator.set_default_steps("athena_calculation", ["RUNNING"])
    run = run_task(AthenaCalculationExecutionOperator(
        task_id="spark", session_id=athena_session_id(emulator), code_block="x", deferrable=deferrable,
        **{**FAST, "wait_timeout": 0.5}))
    assert isinstance(run.error, AirflowException) and "wait_timeout" in str(run.error)
    calc = emulator.query(run.ti.xcom["identifiers"]["calculation_execution_id"])
    assert calc.stopped and emulator.peek(calc).state in {"CANCELING", "CANCELED"}


def athena_session_id(emulator) -> str:
    session_id = f"session-{time.time_ns()}"
    emulator.sessions[session_id] = {"State": "IDLE", "WorkGroup": "wg"}
    return session_id


def run_killed_once(operator: Any, ready: Callable[[], object]) -> Any:
    """Run ``operator`` on this thread and, from another one, call its ``on_kill`` as soon as
    ``ready()`` is truthy (10 s at the latest). The operator runs on the main thread (Airflow 2's
    ExecutorSafeguard allows no other); the kill arrives from elsewhere, as the task runner's
    SIGTERM handler does."""
    def kill_once_ready() -> None:
        for _ in range(200):
            if ready():
                break
            time.sleep(0.05)
        operator.on_kill()

    killer = threading.Thread(target=kill_once_ready, daemon=True)
    killer.start()
    run = run_task(operator)
    killer.join(10)
    return run


def test_killing_the_worker_task_stops_the_query(emulator) -> None:
    emulator.set_default_steps("network_flow_monitor_top_contributors", ["RUNNING"])
    operator = NetworkFlowMonitorTopContributorsQueryOperator(
        task_id="nfm", monitor_name="kill-me", metric_name="TIMEOUTS", destination_category="INTRA_AZ",
        deferrable=False, **WINDOW, **FAST)

    def started() -> list[Any]:
        return [q for q in emulator.queries("network_flow_monitor_top_contributors")
                if q.identifiers.get("monitor_name") == "kill-me"]

    run = run_killed_once(operator, lambda: any(q.status_calls for q in started()))  # ends on CANCELED
    (query,) = started()
    assert query.stopped and emulator.peek(query).state == "CANCELED"
    assert run.outcome == "failed" and isinstance(run.error, QueryExecutionFailedError)


def test_results_too_big_for_xcom_become_a_summary(emulator, tmp_path) -> None:
    emulator.set_default_steps("internet_monitor", ["SUCCEEDED"])
    original = emulator.add_query  # every started query gets 500 rows

    def with_rows(*args: Any, **kwargs: Any):
        kwargs.setdefault("result_rows", 500)
        return original(*args, **kwargs)

    emulator.add_query = with_rows  # type: ignore[method-assign]
    try:
        summary = run_task(im_operator(max_xcom_bytes=2000)).value
        stored = run_task(im_operator(max_xcom_bytes=2000, results_path=f"file://{tmp_path}")).value
    finally:
        emulator.add_query = original  # type: ignore[method-assign]
    assert summary["truncated"] and summary["row_count"] == 500 and len(summary["preview"]) == 10
    assert "results_path" not in summary
    written = json.loads(Path(stored["results_path"].removeprefix("file://")).read_text())
    assert len(written) == 500 and written[0] == {"city": "city-0", "availability_score": "99.0"}


#: Each Neptune query language: its operator, a query, and an argument only it takes.
NEPTUNE = [
    pytest.param(NeptuneOpenCypherQueryOperator, "MATCH (n) RETURN n LIMIT 3", {"parameters": {"x": 1}},
                 id="openCypher"),
    pytest.param(NeptuneGremlinQueryOperator, "g.V().limit(3)", {}, id="Gremlin"),
]


@pytest.mark.parametrize(("operator_class", "text", "own"), NEPTUNE)
def test_neptune_operator_runs_the_query_and_finds_its_id(operator_class, text, own, emulator) -> None:
    kind = operator_class.spec.key
    emulator.set_default_steps(kind, [("RUNNING", 2), "FINISHED"])
    run = run_task(operator_class(task_id="q", query=text, **own, **FAST))
    assert run.outcome == "success", run.error
    query = emulator.query(run.value["query_id"])
    assert query in emulator.queries(kind)
    assert run.value["results"] == [{"n": 0}, {"n": 1}, {"n": 2}]
    assert query.text.startswith(f"// {MARKER_PREFIX}") and text in query.text


@pytest.mark.parametrize(("operator_class", "text", "own"), NEPTUNE)
def test_neptune_operator_cancels_its_query_at_the_wait_timeout(operator_class, text, own, emulator) -> None:
    kind = operator_class.spec.key
    emulator.set_default_steps(kind, [{"state": "RUNNING", "seconds": 30}, "FINISHED"])
    run = run_task(operator_class(task_id="q", query=f"{text} // timeout-me", **own, **{**FAST, "wait_timeout": 0.8}))
    assert isinstance(run.error, QueryExecutionFailedError) and "cancelled" in str(run.error)
    (query,) = [q for q in emulator.queries(kind) if "timeout-me" in (q.text or "")]
    assert query.stopped


@pytest.mark.parametrize(("operator_class", "text", "own"), NEPTUNE)
def test_killing_a_neptune_task_cancels_its_query(operator_class, text, own, emulator) -> None:
    kind = operator_class.spec.key
    emulator.set_default_steps(kind, [{"state": "RUNNING", "seconds": 30}, "FINISHED"])
    operator = operator_class(task_id="q", query=f"{text} // kill-me", **own, **FAST)
    # the execute call answers CancelledByUserException
    run = run_killed_once(operator, lambda: operator._started is not None)
    (query,) = [q for q in emulator.queries(kind) if "kill-me" in (q.text or "")]
    assert query.stopped and run.value is None
    assert isinstance(run.error, QueryExecutionFailedError) and "CancelledByUserException" in str(run.error)


@pytest.mark.parametrize(("operator_class", "text", "own"), NEPTUNE)
def test_neptune_operator_reports_a_query_cancelled_by_someone_else(operator_class, text, own, emulator,
                                                                    emulator_server) -> None:
    import boto3

    spec = operator_class.spec
    emulator.set_default_steps(spec.key, [{"state": "RUNNING", "seconds": 30}, "FINISHED"])
    client = boto3.client("neptunedata", endpoint_url=emulator_server.url, region_name="us-east-1",
                          aws_access_key_id="a", aws_secret_access_key="b")

    def cancel_soon() -> None:
        """Another client cancels the query once it is listed (however slowly it starts)."""
        for _ in range(200):
            time.sleep(0.1)
            for q in getattr(client, spec.list_operation)()["queries"]:
                if "cancel-me" in q["queryString"]:
                    getattr(client, spec.stop_operation)(queryId=q["queryId"])
                    return

    threading.Thread(target=cancel_soon, daemon=True).start()
    run = run_task(operator_class(task_id="q", query=f"{text} // cancel-me", **own, **FAST))
    assert isinstance(run.error, QueryExecutionFailedError)
    assert "CancelledByUserException" in str(run.error)


#: A bulk load's required arguments.
LOAD: dict[str, Any] = {"source": "s3://graph-bucket/people/", "format": "csv", "s3_bucket_region": "us-east-1",
                        "iam_role_arn": "arn:aws:iam::123456789012:role/NeptuneLoadFromS3"}
LOADER = "neptune_loader_job"


def loader(**kwargs: Any) -> NeptuneLoaderJobOperator:
    return NeptuneLoaderJobOperator(task_id="load", **LOAD, **{**FAST, **kwargs})


@pytest.mark.parametrize("deferrable", DEFERRABLE_OR_NOT)
def test_neptune_loader_operator_starts_the_load_and_returns_its_final_payload(deferrable: bool, emulator) -> None:
    run = run_task(loader(mode="RESUME", load_options={"parallelism": "HIGH", "failOnError": False},
                          status_flags={"details": True, "errors": True}, deferrable=deferrable))
    assert run.outcome == "success", run.error
    assert "status" not in run.value  # the payload, without the envelope's "status"
    assert run.value["overallStatus"]["status"] == "LOAD_COMPLETED"
    assert run.value["feedCount"] == [{"LOAD_COMPLETED": 1}]
    assert run.value["errors"]["errorLogs"] == []  # status_flags asked for them
    assert run.deferrals == (1 if deferrable else 0)
    load = emulator.query(run.ti.xcom["identifiers"]["load_id"])
    # StartLoaderJob's body as the model names it (s3BucketRegion travels as "region").
    assert json.loads(str(load.text)) == {
        "source": "s3://graph-bucket/people/", "format": "csv", "region": "us-east-1",
        "iamRoleArn": LOAD["iam_role_arn"], "mode": "RESUME", "parallelism": "HIGH", "failOnError": False}
    assert set(NeptuneLoaderJobOperator.template_fields) >= {"source", "iam_role_arn", "load_options", "endpoint_url"}


def test_a_load_committed_with_write_conflicts_fails_advising_to_resume_it(emulator) -> None:
    emulator.set_default_steps(LOADER, [("LOAD_IN_PROGRESS", 1), "LOAD_COMMITTED_W_WRITE_CONFLICTS"])
    run = run_task(loader())
    assert isinstance(run.error, QueryExecutionFailedError)  # retryable: a retry starts the load again
    assert "LOAD_COMMITTED_W_WRITE_CONFLICTS" in str(run.error) and "resuming" in str(run.error)


@pytest.mark.parametrize("deferrable", DEFERRABLE_OR_NOT)
def test_the_wait_timeout_cancels_the_load(deferrable: bool, emulator) -> None:
    emulator.set_default_steps(LOADER, ["LOAD_IN_PROGRESS"])
    run = run_task(loader(deferrable=deferrable, wait_timeout=0.5))
    assert isinstance(run.error, AirflowException) and "wait_timeout" in str(run.error)
    load = emulator.query(run.ti.xcom["identifiers"]["load_id"])
    assert load.stopped and emulator.peek(load).state == "LOAD_CANCELLED_BY_USER"


def test_killing_the_worker_task_cancels_the_load(emulator) -> None:
    emulator.set_default_steps(LOADER, ["LOAD_IN_PROGRESS"])
    operator = loader(deferrable=False)
    run = run_killed_once(  # ends when the wait sees LOAD_CANCELLED_BY_USER
        operator, lambda: operator._started and emulator.query(operator._started["load_id"]).status_calls)
    load = emulator.query(run.ti.xcom["identifiers"]["load_id"])
    assert load.stopped and isinstance(run.error, QueryExecutionFailedError)
    assert "LOAD_CANCELLED_BY_USER" in str(run.error)


@pytest.mark.prepared_sensitive
def test_killing_a_deferred_load_cancels_it(emulator, monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow_querystatus.triggers.neptune import NeptuneLoaderJobTrigger
    from tests.test_kill_safety import cancel_like_the_triggerer

    async def killed_by_a_user(ti: object) -> str:
        return "failed"

    monkeypatch.setattr(compat, "_read_state", killed_by_a_user)
    load = emulator.add_query(LOADER, steps=["LOAD_IN_PROGRESS"])
    trigger = rebuild_trigger(NeptuneLoaderJobTrigger(load_id=load.query_id, stop_on_kill=True, poll_interval=0.05))
    trigger.task_instance = SimpleNamespace(dag_id="d", task_id="t", run_id="r", map_index=-1)
    asyncio.run(cancel_like_the_triggerer(trigger, load))  # type: ignore[arg-type]
    assert load.stopped and emulator.peek(load).state == "LOAD_CANCELLED_BY_USER"


@pytest.mark.skipif(not compat.REATTACH.available, reason="re-attach needs Airflow >= 3.3")
def test_a_retried_load_task_reattaches_to_the_load_that_still_runs(emulator) -> None:
    load = emulator.add_query(LOADER, steps=[("LOAD_IN_PROGRESS", 2), "LOAD_COMPLETED"])
    store = TaskStateStore({QUERY_MEMORY_KEY: {"load_id": load.query_id}})
    starts = emulator.requests.get("start_loader_job", 0)
    run = run_task(loader(), try_number=2, task_state_store=store)
    assert run.outcome == "success", run.error
    assert emulator.requests.get("start_loader_job", 0) == starts and load.status_calls >= 3  # no second load
    assert run.value["overallStatus"]["status"] == "LOAD_COMPLETED"


# -- CloudWatch Logs Insights: GetQueryResults is both the status call and the results ---------------
LOG_GROUP = "/app/web"


@pytest.fixture(autouse=True)
def _log_group(emulator_server) -> None:
    """The log group ``logs_operator`` queries: StartQuery refuses one that does not exist, as AWS does."""
    emulator_server.emulator.create_log_group(LOG_GROUP)


def logs_operator(**kwargs: Any) -> Any:
    from airflow_querystatus.operators.logs import CloudWatchLogsInsightsQueryOperator

    args = {"task_id": "insights", "log_groups": LOG_GROUP, "query_string": "fields @timestamp, @message | limit 5",
            "start_time": "2026-11-01T00:00:00+00:00", "end_time": 1793577600, "limit": 5, **FAST}
    return CloudWatchLogsInsightsQueryOperator(**{**args, **kwargs})


@pytest.mark.parametrize("deferrable", DEFERRABLE_OR_NOT)
def test_logs_insights_operator_returns_rows_as_dicts_and_statistics(deferrable: bool, emulator) -> None:
    emulator.set_default_steps("logs_insights_query", [("Scheduled", 1), ("Running", 1), "Complete"])
    run = run_task(logs_operator(deferrable=deferrable))
    assert run.outcome == "success", run.error
    query = emulator.query(run.ti.xcom["identifiers"]["query_id"])
    assert "fields @timestamp, @message" in (query.text or "")
    assert run.value["query_id"] == query.query_id and run.value["status"] == "Complete"
    assert [row["@message"] for row in run.value["rows"]] == ["ERROR 0", "ERROR 1", "ERROR 2"]
    assert all(set(row) == {"@timestamp", "@message"} for row in run.value["rows"])  # @ptr dropped
    assert run.value["statistics"]["recordsMatched"] == 3.0
    assert run.deferrals == (1 if deferrable else 0)
    for event in run.events:  # the trigger's event carries the status, never the rows
        assert event["response"]["status"] == "Complete" and "results" not in event["response"]


def test_logs_insights_rows_too_big_for_xcom_become_a_summary(emulator, tmp_path) -> None:
    emulator.set_default_steps("logs_insights_query", ["Complete"])
    original = emulator.add_query

    def with_rows(*args: Any, **kwargs: Any):
        kwargs.setdefault("result_rows", 400)
        return original(*args, **kwargs)

    emulator.add_query = with_rows  # type: ignore[method-assign]
    try:
        summary = run_task(logs_operator(max_xcom_bytes=2000)).value
        stored = run_task(logs_operator(max_xcom_bytes=2000, results_path=f"file://{tmp_path}")).value
    finally:
        emulator.add_query = original  # type: ignore[method-assign]
    assert summary["truncated"] and summary["row_count"] == 400 and len(summary["preview"]) == 10
    written = json.loads(Path(stored["results_path"].removeprefix("file://")).read_text())
    assert len(written["rows"]) == 400 and written["statistics"]["recordsMatched"] == 400.0


@pytest.mark.parametrize("deferrable", DEFERRABLE_OR_NOT)
def test_logs_insights_status_polls_stay_small_however_many_rows_the_query_found(
        deferrable: bool, emulator, monkeypatch) -> None:
    """GetQueryResults is the status call and answers with the rows: polled with a page size of
    one, a query of 2,000 rows (about 200 KB) passes a 4 KiB status-answer cap; the operator
    still reads every row with its own results calls."""
    monkeypatch.setenv("AIRFLOW__QUERYSTATUS__MAX_ANSWER_BYTES", "4096")
    emulator.set_default_steps("logs_insights_query", [("Running", 1), "Complete"])
    original = emulator.add_query

    def with_rows(*args: Any, **kwargs: Any):
        kwargs.setdefault("result_rows", 2000)
        return original(*args, **kwargs)

    monkeypatch.setattr(emulator, "add_query", with_rows)
    run = run_task(logs_operator(deferrable=deferrable, max_xcom_bytes=10_000_000))
    assert run.outcome == "success", run.error
    assert len(run.value["rows"]) == 2000


@pytest.mark.parametrize("deferrable", DEFERRABLE_OR_NOT)
def test_logs_insights_wait_timeout_stops_the_query(deferrable: bool, emulator) -> None:
    emulator.set_default_steps("logs_insights_query", ["Running"])
    run = run_task(logs_operator(deferrable=deferrable, wait_timeout=0.5))
    assert isinstance(run.error, AirflowException) and "wait_timeout" in str(run.error)
    query = emulator.query(run.ti.xcom["identifiers"]["query_id"])
    assert query.stopped and emulator.peek(query).state == "Cancelled"


def test_killing_a_logs_insights_task_stops_the_query(emulator) -> None:
    emulator.set_default_steps("logs_insights_query", ["Running"])
    operator = logs_operator(deferrable=False, query_string="fields @message | filter @message like 'kill-me'")

    def started() -> list[Any]:
        return [q for q in emulator.queries("logs_insights_query") if "kill-me" in (q.text or "")]

    run = run_killed_once(operator, lambda: any(q.status_calls for q in started()))  # ends on Cancelled
    (query,) = started()
    assert query.stopped and emulator.peek(query).state == "Cancelled"
    assert run.outcome == "failed" and isinstance(run.error, QueryExecutionFailedError)


def test_logs_insights_start_time_accepts_epoch_datetimes_and_iso_text() -> None:
    import datetime

    from airflow_querystatus.operators.logs import _epoch

    moment = datetime.datetime(2026, 11, 1, tzinfo=datetime.timezone.utc)
    assert _epoch(moment) == _epoch("2026-11-01T00:00:00+00:00") == _epoch("1793491200") == 1793491200


def test_logs_insights_operator_reads_every_next_token_page(emulator) -> None:
    """GetQueryResults pages with ``nextToken`` (botocore >= 1.40's model); the emulator answers one page."""
    from unittest import mock

    pages = {None: {"status": "Complete", "results": [[{"field": "n", "value": "1"}]], "nextToken": "t2"},
             "t2": {"status": "Complete", "results": [[{"field": "n", "value": "2"}, {"field": "@ptr", "value": "p"}]],
                    "statistics": {"recordsMatched": 2.0}}}
    client = mock.Mock()
    client.get_query_results.side_effect = lambda queryId, nextToken=None: pages[nextToken]
    operator = logs_operator()
    with mock.patch.object(type(operator.hook), "get_client_type", return_value=client):
        result = operator.fetch_results({"query_id": "q"})
    assert result == {"query_id": "q", "status": "Complete", "statistics": {"recordsMatched": 2.0},
                      "rows": [{"n": "1"}, {"n": "2"}]}
    assert client.get_query_results.call_args_list == [mock.call(queryId="q"), mock.call(queryId="q", nextToken="t2")]
