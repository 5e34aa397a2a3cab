"""What AWS refuses on start and stop, the emulator refuses, with AWS's error codes and shapes:
CloudWatch Logs' StartQuery (log groups that must exist, time order, empty and malformed queries)
and StopQuery of a finished query, Neptune's loader (its format and mode, and the status answer's
``feedCount`` and ``errors``), and injected faults applied to the next call each one names."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from airflow_querystatus.emulator import EmulatorServer
from airflow_querystatus.emulator.examples import EXAMPLES, plant_examples
from airflow_querystatus.emulator.model import Emulator
from airflow_querystatus.emulator.pytest_plugin import EmulatorHandle
from tests.test_emulator_api import call

pytestmark = pytest.mark.line_independent

HOUR = {"startTime": 1_700_000_000, "endTime": 1_700_003_600}
ROLE = "arn:aws:iam::123456789012:role/NeptuneLoadFromS3"


@pytest.fixture
def server() -> Iterator[EmulatorServer]:
    """An emulator of the test's own (the log groups a test creates stay out of the others')."""
    with EmulatorServer() as running:
        yield running


def client(server: EmulatorServer, service: str) -> Any:
    return boto3.client(service, endpoint_url=server.url, region_name="us-east-1", aws_access_key_id="a",
                        aws_secret_access_key="b", config=Config(retries={"total_max_attempts": 1}))


def refusal(err: pytest.ExceptionInfo[ClientError]) -> tuple[str, str]:
    return err.value.response["Error"]["Code"], err.value.response["Error"]["Message"]


@pytest.mark.parametrize(("start", "code", "words"), [
    ({"logGroupName": "/nope"}, "ResourceNotFoundException", "'/nope' does not exist"),
    ({"logGroupNames": ["/app", "/nope"]}, "ResourceNotFoundException", "'/nope' does not exist"),
    ({"logGroupIdentifiers": ["arn:aws:logs:us-east-1:123456789012:log-group:/nope"]}, "ResourceNotFoundException",
     "'/nope' does not exist"),
    ({}, "InvalidParameterException", "Give the log groups to query"),
    ({"logGroupName": "/app", "logGroupNames": ["/app"]}, "InvalidParameterException", "exactly one of"),
    ({"logGroupName": "/app", "startTime": 1_700_003_600, "endTime": 1_700_000_000}, "InvalidParameterException",
     "endTime (1700000000) is before startTime (1700003600)"),
    ({"logGroupName": "/app", "queryString": ""}, "MalformedQueryException", "The query is empty"),
    ({"logGroupName": "/app", "queryString": "# a comment and nothing else\n"}, "MalformedQueryException",
     "The query is empty"),
    ({"logGroupName": "/app", "queryString": "fields @x | frobnicate"}, "MalformedQueryException",
     "Unknown command 'frobnicate'"),
    ({"logGroupName": "/app", "queryString": "frobnicate @x | limit 5"}, "MalformedQueryException",
     "Unknown command 'frobnicate'"),
    ({"logGroupName": "/app", "queryString": "fields @x | | limit 5"}, "MalformedQueryException",
     "Expected a command after '|'"),
])
def test_start_query_refuses_what_aws_refuses(server, start, code, words) -> None:
    server.emulator.create_log_group("/app")
    logs = client(server, "logs")
    with pytest.raises(ClientError) as err:
        logs.start_query(**{"queryString": "fields @message", **HOUR, **start})
    assert isinstance(err.value, getattr(logs.exceptions, code))
    assert refusal(err)[0] == code and words in refusal(err)[1]
    assert server.emulator.queries() == []


def test_a_malformed_query_says_where_in_its_compile_error(server) -> None:
    server.emulator.create_log_group("/app")
    with pytest.raises(ClientError) as err:
        client(server, "logs").start_query(logGroupName="/app", queryString="fields @x | frobnicate", **HOUR)
    assert err.value.response["queryCompileError"]["location"] == {"startCharOffset": 12, "endCharOffset": 22}
    assert "frobnicate" in err.value.response["queryCompileError"]["message"]


@pytest.mark.parametrize(("groups", "query"), [
    ({"logGroupName": "/app"}, "fields @message | filter @message like /ERROR|WARN/ | sort @timestamp desc"),
    ({"logGroupNames": ["/app"]}, 'filter @message = "a | b" | stats count(*) by bin(5m)'),
    ({"logGroupIdentifiers": ["arn:aws:logs:us-east-1:123456789012:log-group:/app"]},
     "parse @message /(?<level>INFO|ERROR) (?<text>.*)/ | display level, text"),
    ({"logGroupName": "/app"}, "# emulator-script: [\"Complete\"]\nfields @message | LIMIT 5"),
    ({"logGroupName": "/app"}, "stats sum(bytes) / count(*) as mean | sort mean desc"),
    ({}, "SOURCE logGroups(namePrefix: ['/app']) | fields @message"),
])
def test_start_query_accepts_what_it_cannot_be_sure_aws_refuses(server, groups, query) -> None:
    server.emulator.create_log_group("/app")
    query_id = client(server, "logs").start_query(queryString=query, **HOUR, **groups)["queryId"]
    assert server.emulator.query(query_id).kind == "logs_insights_query"


def test_log_groups_made_with_the_aws_calls_answer_their_events_as_rows(server) -> None:
    """What code written for AWS or moto does: CreateLogGroup, CreateLogStream, PutLogEvents."""
    logs = client(server, "logs")
    logs.create_log_group(logGroupName="/app/web")
    logs.create_log_stream(logGroupName="/app/web", logStreamName="web-1")
    start_ms = HOUR["startTime"] * 1000
    logs.put_log_events(logGroupName="/app/web", logStreamName="web-1", logEvents=[
        {"timestamp": start_ms + 1000, "message": "ERROR one"}, {"timestamp": start_ms + 2000, "message": "ERROR two"},
        {"timestamp": start_ms - 1, "message": "before the range"}])
    server.emulator.set_default_steps("logs_insights_query", ["Complete"])
    query_id = logs.start_query(logGroupName="/app/web", queryString="fields @message", **HOUR)["queryId"]
    answer = logs.get_query_results(queryId=query_id)
    assert [[cell["value"] for cell in row if cell["field"] == "@message"] for row in answer["results"]] == [
        ["ERROR two"], ["ERROR one"]]  # newest first, only the query's time range
    assert answer["statistics"]["recordsMatched"] == 2.0
    with pytest.raises(logs.exceptions.ResourceAlreadyExistsException):
        logs.create_log_group(logGroupName="/app/web")
    with pytest.raises(logs.exceptions.ResourceNotFoundException):
        logs.put_log_events(logGroupName="/app/web", logStreamName="no-such-stream",
                            logEvents=[{"timestamp": start_ms, "message": "x"}])
    with pytest.raises(logs.exceptions.ResourceNotFoundException):
        logs.create_log_stream(logGroupName="/no/such/group", logStreamName="s")


def test_the_control_api_creates_log_groups_with_events(server) -> None:
    start_ms = HOUR["startTime"] * 1000
    assert call(server, "POST", "/_emulator/log-groups", {"name": "/demo/app", "events": [
        {"message": "ERROR disk full", "timestamp": start_ms + 5}]}) == (200, {"name": "/demo/app", "events": 1})
    assert call(server, "POST", "/_emulator/log-groups", {"name": "/demo/app"}) == (200, {"name": "/demo/app",
                                                                                          "events": 1})
    assert call(server, "GET", "/_emulator/log-groups") == (200, {"log_groups": [{"name": "/demo/app", "events": 1}]})
    server.emulator.set_default_steps("logs_insights_query", ["Complete"])
    logs = client(server, "logs")
    query_id = logs.start_query(logGroupIdentifiers=["/demo/app"], queryString="fields @message", **HOUR)["queryId"]
    (row,) = logs.get_query_results(queryId=query_id)["results"]
    assert {"field": "@message", "value": "ERROR disk full"} in row


@pytest.mark.parametrize(("body", "field", "words"), [
    ({}, "name", "missing field 'name'"),
    ({"name": "bad name!"}, "name", "regular expression pattern"),
    ({"name": 7}, "name", "must be a string"),
    ({"name": "/a", "events": [{"msg": "x"}]}, "events[0]", "must be an object with message"),
    ({"name": "/a", "events": [{"message": ""}]}, "events[0].message", "non-empty string"),
    ({"name": "/a", "events": [{"message": "x", "timestamp": "today"}]}, "events[0].timestamp", "milliseconds"),
    ({"name": "/a", "stream": "s"}, "stream", "unknown field 'stream'"),
])
def test_wrong_log_group_requests_name_the_field(server, body, field, words) -> None:
    status, answer = call(server, "POST", "/_emulator/log-groups", body)
    assert (status, answer["field"]) == (400, field) and words in answer["error"]
    assert server.emulator.all_log_groups() == []


def test_the_plugin_handle_creates_log_groups(querystatus_private_emulator: EmulatorHandle) -> None:
    group = querystatus_private_emulator.create_log_group("/my/app", events=[{"message": "hello"}])
    assert (group.name, [e.message for e in group.events]) == ("/my/app", ["hello"])
    logs = client(querystatus_private_emulator.server, "logs")
    assert logs.start_query(logGroupName="/my/app", queryString="fields @message", **HOUR)["queryId"]


def test_the_examples_log_groups_are_planted() -> None:
    """``example_logs_insights`` queries its ``params.log_group`` (default ``/demo/app``): the
    emulator started on its own has it."""
    emulator = Emulator()
    plant_examples(emulator)
    assert [g.name for g in emulator.all_log_groups()] == ["/demo/app"]
    assert EXAMPLES["logs_insights_query"].log_groups == ("/demo/app",)
    dag_file = Path(__file__).resolve().parent.parent / "dags" / "example_logs_insights.py"
    assert 'Param("/demo/app"' in dag_file.read_text()


def test_stopping_a_finished_logs_query_is_an_error_and_a_running_one_is_not(server) -> None:
    server.emulator.create_log_group("/app")
    logs = client(server, "logs")
    server.emulator.set_default_steps("logs_insights_query", ["Complete"])
    done = logs.start_query(logGroupName="/app", queryString="fields @message", **HOUR)["queryId"]
    with pytest.raises(logs.exceptions.InvalidParameterException) as err:
        logs.stop_query(queryId=done)
    assert refusal(err) == ("InvalidParameterException", f"Query {done} is Complete: only a running query can be "
                                                         "stopped.")
    assert not server.emulator.query(done).stopped
    server.emulator.set_default_steps("logs_insights_query", ["Running"])
    running = logs.start_query(logGroupName="/app", queryString="fields @message", **HOUR)["queryId"]
    assert logs.stop_query(queryId=running)["success"] is True
    assert logs.get_query_results(queryId=running)["status"] == "Cancelled"


def test_other_stops_of_a_finished_query_succeed_and_change_nothing(server) -> None:
    """Athena documents it ("succeeds but has no effect"); Internet Monitor documents nothing."""
    emulator = server.emulator
    calc = emulator.add_query("athena_calculation_execution", steps=["COMPLETED"])
    assert client(server, "athena").stop_calculation_execution(
        CalculationExecutionId=calc.query_id)["State"] == "COMPLETED"
    monitor = emulator.add_query("internet_monitor_query", {"monitor_name": "m"}, steps=["SUCCEEDED"])
    internet_monitor = client(server, "internetmonitor")
    internet_monitor.stop_query(MonitorName="m", QueryId=monitor.query_id)
    assert internet_monitor.get_query_status(MonitorName="m", QueryId=monitor.query_id)["Status"] == "SUCCEEDED"


def start_load(server: EmulatorServer, **arguments: Any) -> Any:
    return client(server, "neptunedata").start_loader_job(**{
        "source": "s3://bucket/graph/", "format": "csv", "s3BucketRegion": "us-east-1", "iamRoleArn": ROLE,
        **arguments})


@pytest.mark.parametrize(("argument", "words"), [
    ({"format": "CSV"}, "Value 'CSV' at 'format'"), ({"format": "parquet"}, "Value 'parquet' at 'format'"),
    ({"mode": "new"}, "Value 'new' at 'mode'"),
])
def test_a_bad_loader_format_or_mode_is_a_bad_request_in_neptunes_shape(server, argument, words) -> None:
    nep = client(server, "neptunedata")
    with pytest.raises(nep.exceptions.BadRequestException) as err:
        start_load(server, **argument)
    body = err.value.response
    assert (body["Error"]["Code"], body["code"]) == ("BadRequestException", "BadRequestException")
    assert words in body["detailedMessage"] and body["requestId"]
    assert server.emulator.queries() == []


def test_a_load_status_carries_feed_counts_and_with_errors_the_scripts_reason(server) -> None:
    nep = client(server, "neptunedata")
    server.emulator.set_default_steps("neptune_loader_job", [
        ("LOAD_IN_PROGRESS", 1), {"state": "LOAD_FAILED", "reason": "Invalid vertex id on line 3"}])
    load_id = start_load(server)["payload"]["loadId"]
    running = nep.get_loader_job_status(loadId=load_id)["payload"]
    assert running["feedCount"] == [{"LOAD_IN_PROGRESS": 1}] and "errors" not in running
    assert running["overallStatus"]["fullUri"] == "s3://bucket/graph/"
    failed = nep.get_loader_job_status(loadId=load_id, errors=True)["payload"]
    assert failed["feedCount"] == [{"LOAD_FAILED": 1}]
    assert failed["overallStatus"]["status"] == "LOAD_FAILED"
    assert [feed["status"] for feed in failed["failedFeeds"]] == ["LOAD_FAILED"]
    assert failed["errors"] == {"startIndex": 1, "endIndex": 1, "loadId": load_id, "errorLogs": [
        {"errorCode": "UNKNOWN_ERROR", "errorMessage": "Invalid vertex id on line 3", "fileName": "s3://bucket/graph/",
         "recordNum": 0}]}
    later_page = nep.get_loader_job_status(loadId=load_id, errors=True, page=2, errorsPerPage=1)["payload"]["errors"]
    assert later_page == {"startIndex": 0, "endIndex": 0, "loadId": load_id, "errorLogs": []}


def test_a_completed_load_counts_its_feed_and_has_no_errors(server) -> None:
    nep = client(server, "neptunedata")
    server.emulator.set_default_steps("neptune_loader_job", ["LOAD_COMPLETED"])
    payload = nep.get_loader_job_status(loadId=start_load(server)["payload"]["loadId"], errors=True)["payload"]
    assert payload["feedCount"] == [{"LOAD_COMPLETED": 1}] and "failedFeeds" not in payload
    assert payload["errors"]["errorLogs"] == [] and payload["overallStatus"]["totalRecords"] == 3


def test_each_fault_applies_to_the_next_call_it_names_in_order(server) -> None:
    """The issue's example, through the control API: the stop fault is not held up behind the
    spent results fault."""
    server.emulator.create_log_group("/app")
    logs = client(server, "logs")
    query_id = logs.start_query(logGroupName="/app", queryString="fields @message", **HOUR)["queryId"]
    assert call(server, "POST", "/_emulator/faults", {"faults": [
        {"error": "AccessDeniedException", "operations": ["get_query_results"]},
        {"error": "InvalidParameterException", "operations": ["stop_query"]}]}) == (200, {})
    answers = []
    for attempt in (lambda: logs.get_query_results(queryId=query_id), lambda: logs.stop_query(queryId=query_id)):
        try:
            attempt()
            answers.append("ok")
        except ClientError as err:
            answers.append(err.response["Error"]["Code"])
    assert answers == ["AccessDeniedException", "InvalidParameterException"]
    assert logs.get_query_results(queryId=query_id)["status"] == "Scheduled"  # both spent


def test_a_fault_for_a_later_call_waits_and_a_spent_one_is_removed(server) -> None:
    query = server.emulator.add_query("internet_monitor_query", {"monitor_name": "m"}, steps=["RUNNING"])
    server.emulator.add_global_faults([{"error": "AccessDeniedException", "operations": ["stop_query"]},
                                       {"error": "ThrottlingException", "count": 2, "operations": ["get_query_status"]},
                                       {"error": "ValidationException", "operations": ["get_query_status"]}])
    internet_monitor = client(server, "internetmonitor")
    codes = []
    for _ in range(4):
        try:
            internet_monitor.get_query_status(MonitorName="m", QueryId=query.query_id)
            codes.append("ok")
        except ClientError as err:
            codes.append(err.response["Error"]["Code"])
    assert codes == ["ThrottlingException", "ThrottlingException", "ValidationException", "ok"]
    with pytest.raises(internet_monitor.exceptions.AccessDeniedException):
        internet_monitor.stop_query(MonitorName="m", QueryId=query.query_id)


def emulator_command(*arguments: str) -> list[str]:
    return [sys.executable, "-m", "airflow_querystatus.emulator", "--no-examples", *arguments]


def test_a_busy_port_is_one_line_naming_the_port_and_the_option() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = subprocess.run(emulator_command("--port", str(port)), capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"emulator: cannot listen on 127.0.0.1 port {port} (--port {port}): it is in use; give another port, or "
        "--port 0 for any free one"]


def test_port_zero_prints_the_url_it_got() -> None:
    process = subprocess.Popen(emulator_command("--port", "0"), stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        match = re.fullmatch(r"emulator listening on (http://127\.0\.0\.1:(\d+))\n", line)
        assert match and int(match[2]) > 0, line
        assert call(SimpleNamespace(url=match[1]), "GET", "/_emulator/log-groups") == (200, {"log_groups": []})
    finally:
        process.terminate()
        process.wait(timeout=30)
