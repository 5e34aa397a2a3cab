"""The list calls AWS has for many queries at once, answered as AWS does: CloudWatch Logs'
DescribeQueries, Athena's ListCalculationExecutions, Neptune's ListOpenCypherQueries and
ListGremlinQueries. Each answer is checked against botocore's output shape as it comes off the
wire, and against what the single status call answers at the same moment.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Callable
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from airflow_querystatus.emulator import validation
from airflow_querystatus.emulator.pytest_plugin import ACCESS_KEY, SECRET_KEY, EmulatorHandle
from airflow_querystatus.emulator.wire import operation_model, service_model

pytestmark = pytest.mark.line_independent

NEVER = 1e-6


def client(emulator: EmulatorHandle, service: str, secret: str = SECRET_KEY) -> Any:
    """A client signing with the plugin's key, whose signatures the emulator verifies."""
    return boto3.client(service, endpoint_url=emulator.url, region_name="us-east-1", aws_access_key_id=ACCESS_KEY,
                        aws_secret_access_key=secret, config=Config(retries={"total_max_attempts": 1}))


def unknown_members(shape: Any, value: Any, path: str = "") -> list[str]:
    """Members of ``value`` that ``shape`` does not have (botocore would drop them silently)."""
    if shape.type_name == "structure" and isinstance(value, dict) and shape.name != "Document":
        found = [f"{path}.{k}" for k in value if k not in shape.members]
        return found + [p for k, v in value.items() if k in shape.members
                        for p in unknown_members(shape.members[k], v, f"{path}.{k}")]
    if shape.type_name == "list" and isinstance(value, list):
        return [p for i, v in enumerate(value) for p in unknown_members(shape.member, v, f"{path}[{i}]")]
    return []


def raw(emulator: EmulatorHandle, service: str, operation: str, body: dict[str, Any] | None = None,
        query: str = "") -> Any:
    """The answer as it comes off the wire (unsigned: the emulator checks only keys it knows)."""
    model = operation_model(service, operation)
    if service_model(service).metadata["protocol"] == "json":
        metadata = service_model(service).metadata
        request = urllib.request.Request(emulator.url + "/", data=json.dumps(body or {}).encode(), method="POST",
                                         headers={"X-Amz-Target": f"{metadata['targetPrefix']}.{model.name}"})
    else:
        request = urllib.request.Request(emulator.url + model.http["requestUri"] + query)
    with urllib.request.urlopen(request, timeout=10) as answer:
        return json.loads(answer.read())


def assert_shaped(service: str, operation: str, answer: Any) -> None:
    shape = operation_model(service, operation).output_shape
    assert validation.problems(shape, answer) == []
    assert unknown_members(shape, answer) == []


# -- CloudWatch Logs DescribeQueries ----------------------------------------------------------

def start_logs_queries(emulator: EmulatorHandle, groups: list[str], **start: Any) -> list[str]:
    logs = client(emulator, "logs")
    for group in sorted(set(groups)):
        emulator.create_log_group(group)
    return [logs.start_query(logGroupName=group, queryString=f"fields @message | limit {i + 1}", startTime=0,
                             endTime=60, **start)["queryId"] for i, group in enumerate(groups)]


def test_describe_queries_lists_every_query_newest_first_in_the_models_shape(
        querystatus_emulator: EmulatorHandle) -> None:
    started = start_logs_queries(querystatus_emulator, ["/app/a", "/app/b", "/app/a"])
    planted = querystatus_emulator.create("logs_insights_query", text="fields @x", steps=["Complete"]).query_id
    answer = raw(querystatus_emulator, "logs", "describe_queries")
    assert_shaped("logs", "describe_queries", answer)
    assert [q["queryId"] for q in answer["queries"]] == [planted, *reversed(started)]
    assert "nextToken" not in answer
    first = answer["queries"][-1]
    query = querystatus_emulator.emulator.query(started[0])
    assert first == {"queryLanguage": "CWLI", "queryId": started[0], "queryString": "fields @message | limit 1",
                     "status": "Scheduled", "createTime": int(query.created_at * 1000), "logGroupName": "/app/a"}
    assert answer["queries"][0]["queryString"] == "fields @x" and "logGroupName" not in answer["queries"][0]


def test_describe_queries_pages_by_max_results_and_next_token(querystatus_emulator: EmulatorHandle) -> None:
    started = start_logs_queries(querystatus_emulator, ["/app/a"] * 5)
    logs = client(querystatus_emulator, "logs")
    pages, token = [], None
    while True:
        page = logs.describe_queries(maxResults=2, **({"nextToken": token} if token else {}))
        pages.append([q["queryId"] for q in page["queries"]])
        token = page.get("nextToken")
        if token is None:
            break
        start_logs_queries(querystatus_emulator, ["/app/a"])  # started between pages: not in the later ones
    assert [len(p) for p in pages] == [2, 2, 1]
    assert [q for p in pages for q in p] == list(reversed(started))
    with pytest.raises(logs.exceptions.InvalidParameterException, match="token"):
        logs.describe_queries(nextToken="not-a-token")
    with pytest.raises(logs.exceptions.InvalidParameterException, match="less than or equal to 1000"):
        logs.describe_queries(maxResults=1001)


def test_describe_queries_filters_by_log_group_status_and_language(querystatus_emulator: EmulatorHandle) -> None:
    a1, _b1, a2 = start_logs_queries(querystatus_emulator, ["/app/a", "/app/b", "/app/a"])
    logs = client(querystatus_emulator, "logs")
    (ppl,) = start_logs_queries(querystatus_emulator, ["/app/c"], queryLanguage="PPL")
    logs.stop_query(queryId=a1)

    def ids(**filters: Any) -> list[str]:
        return [q["queryId"] for q in logs.describe_queries(**filters)["queries"]]

    assert ids(logGroupName="/app/a") == [a2, a1]
    assert ids(status="Cancelled") == [a1]
    assert ids(status="Scheduled", logGroupName="/app/a") == [a2]
    assert ids(queryLanguage="PPL") == [ppl]
    assert ids(logGroupName="/no/such/group") == []


def test_describe_queries_answers_the_status_get_query_results_answers_and_is_no_poll(
        querystatus_emulator: EmulatorHandle) -> None:
    (query_id,) = start_logs_queries(querystatus_emulator, ["/app/a"])
    logs = client(querystatus_emulator, "logs")
    seen = []
    for _ in range(4):
        listed = logs.describe_queries()["queries"][0]["status"]
        assert querystatus_emulator.emulator.query(query_id).status_calls == len(seen)
        status = logs.get_query_results(queryId=query_id)["status"]
        seen.append((listed, status))
    assert seen == [("Scheduled", "Scheduled"), ("Running", "Running"), ("Running", "Running"),
                    ("Complete", "Complete")]


# -- Athena ListCalculationExecutions ---------------------------------------------------------

def test_list_calculation_executions_lists_a_sessions_calculations_newest_first(
        querystatus_emulator: EmulatorHandle) -> None:
    athena = client(querystatus_emulator, "athena")
    session, other = querystatus_emulator.create_athena_session(), querystatus_emulator.create_athena_session()
    started = [athena.start_calculation_execution(SessionId=session, CodeBlock="print(1)", Description=f"step {i}")[
        "CalculationExecutionId"] for i in range(3)]
    planted = querystatus_emulator.create("athena_calculation_execution", session_id=session,
                                          steps=[{"state": "FAILED", "reason": "OutOfMemoryError"}]).query_id
    athena.start_calculation_execution(SessionId=other, CodeBlock="print(2)")
    answer = raw(querystatus_emulator, "athena", "list_calculation_executions", {"SessionId": session})
    assert_shaped("athena", "list_calculation_executions", answer)
    assert [c["CalculationExecutionId"] for c in answer["Calculations"]] == [planted, *reversed(started)]
    assert answer["Calculations"][-1]["Description"] == "step 0"
    assert answer["Calculations"][0]["Status"]["StateChangeReason"] == "OutOfMemoryError"
    assert "Description" not in answer["Calculations"][0] and "NextToken" not in answer


def test_list_calculation_executions_pages_filters_and_refuses_an_unknown_session(
        querystatus_emulator: EmulatorHandle) -> None:
    athena = client(querystatus_emulator, "athena")
    session = querystatus_emulator.create_athena_session()
    running = [querystatus_emulator.create("athena_calculation_execution", session_id=session,
                                           steps=["RUNNING"]).query_id for _ in range(3)]
    done = querystatus_emulator.create("athena_calculation_execution", session_id=session, steps=["COMPLETED"]).query_id
    first = athena.list_calculation_executions(SessionId=session, MaxResults=3)
    second = athena.list_calculation_executions(SessionId=session, MaxResults=3, NextToken=first["NextToken"])
    assert [c["CalculationExecutionId"] for c in first["Calculations"] + second["Calculations"]] == [
        done, *reversed(running)]
    assert "NextToken" not in second
    listed = athena.list_calculation_executions(SessionId=session, StateFilter="COMPLETED")["Calculations"]
    assert [c["CalculationExecutionId"] for c in listed] == [done]
    with pytest.raises(athena.exceptions.InvalidRequestException, match="not found"):
        athena.list_calculation_executions(SessionId="no-such-session")
    with pytest.raises(athena.exceptions.InvalidRequestException, match="less than or equal to 100"):
        athena.list_calculation_executions(SessionId=session, MaxResults=101)
    with pytest.raises(ValueError, match="session_id"):
        querystatus_emulator.create("athena_calculation_execution", session_id="no-such-session")


def test_list_calculation_executions_answers_the_status_the_status_call_answers_and_is_no_poll(
        querystatus_emulator: EmulatorHandle) -> None:
    athena = client(querystatus_emulator, "athena")
    session = querystatus_emulator.create_athena_session()
    query = querystatus_emulator.create("athena_calculation_execution", session_id=session,
                                        steps=[("RUNNING", 2), {"state": "FAILED", "reason": "ZeroDivisionError"}])
    for polls in range(3):
        (listed,) = athena.list_calculation_executions(SessionId=session)["Calculations"]
        assert query.status_calls == polls
        status = athena.get_calculation_execution_status(CalculationExecutionId=query.query_id)["Status"]
        assert listed["Status"] == status
    assert status["State"] == "FAILED" and "CompletionDateTime" in status


# -- Neptune ListOpenCypherQueries / ListGremlinQueries ---------------------------------------

@pytest.mark.parametrize("language", ["open_cypher", "gremlin"])
def test_neptune_lists_running_queries_waiting_ones_on_request_and_never_a_finished_one(
        querystatus_emulator: EmulatorHandle, language: str) -> None:
    kind, operation = f"neptune_{language}_query", f"list_{language}_queries"
    running = querystatus_emulator.create(kind, text="running", steps=["RUNNING"]).query_id
    waiting = querystatus_emulator.create(kind, text="waiting", steps=["WAITING"]).query_id
    finished = querystatus_emulator.create(kind, text="finished", steps=[("RUNNING", 1), "FINISHED"]).query_id
    neptune = client(querystatus_emulator, "neptunedata")
    getattr(neptune, f"get_{language}_query_status")(queryId=finished)  # its last poll: it finishes
    answer = raw(querystatus_emulator, "neptunedata", operation)
    assert_shaped("neptunedata", operation, answer)
    assert [q["queryId"] for q in answer["queries"]] == [running]
    assert (answer["acceptedQueryCount"], answer["runningQueryCount"]) == (2, 1)
    listing = getattr(neptune, operation)(includeWaiting=True)
    assert {q["queryId"] for q in listing["queries"]} == {running, waiting}
    assert {q["queryString"] for q in listing["queries"]} == {"running", "waiting"}
    status = getattr(neptune, f"get_{language}_query_status")(queryId=running)
    (listed,) = [q for q in listing["queries"] if q["queryId"] == running]
    assert listed["queryEvalStats"]["cancelled"] == status["queryEvalStats"]["cancelled"] is False


# -- what every list call shares --------------------------------------------------------------

LIST_CALLS: dict[str, tuple[str, Callable[[Any, EmulatorHandle], Any]]] = {
    "DescribeQueries": ("logs", lambda c, _: c.describe_queries()),
    "ListCalculationExecutions": ("athena", lambda c, e: c.list_calculation_executions(
        SessionId=e.create_athena_session())),
    "ListOpenCypherQueries": ("neptunedata", lambda c, _: c.list_open_cypher_queries()),
    "ListGremlinQueries": ("neptunedata", lambda c, _: c.list_gremlin_queries(includeWaiting=True)),
}


@pytest.mark.parametrize("operation", LIST_CALLS)
def test_a_list_call_meets_its_own_quota(querystatus_emulator: EmulatorHandle, operation: str) -> None:
    service, call = LIST_CALLS[operation]
    c = client(querystatus_emulator, service)
    querystatus_emulator.set_quota(operation, NEVER, burst=1)
    call(c, querystatus_emulator)
    with pytest.raises(ClientError) as err:
        call(c, querystatus_emulator)
    assert err.value.response["Error"]["Code"] == "ThrottlingException"
    assert querystatus_emulator.quota_counters()[operation] == {"served": 1, "throttled": 1}


@pytest.mark.parametrize("operation", LIST_CALLS)
def test_a_list_call_signed_with_a_wrong_secret_is_refused(querystatus_emulator: EmulatorHandle,
                                                           operation: str) -> None:
    service, call = LIST_CALLS[operation]
    with pytest.raises(ClientError) as err:
        call(client(querystatus_emulator, service, secret="wrong"), querystatus_emulator)
    assert err.value.response["Error"]["Code"] == "InvalidSignatureException"
    assert querystatus_emulator.quota_counters() == {}  # refused before the quota: not counted
