"""The emulator as a tool: its control API over HTTP and its checks of every AWS call's input.

Wrong control requests answer 400 naming the field; kinds are the registry's keys (former
names still work); AWS calls are checked against botocore's model of their operation, with
client-side validation off so that only the emulator can refuse them.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from airflow_querystatus.emulator import KINDS, EmulatorServer
from airflow_querystatus.emulator.catalogue import CATALOGUE
from airflow_querystatus.emulator.model import KIND_ALIASES
from airflow_querystatus.status import SPECS

pytestmark = pytest.mark.line_independent


def call(server: EmulatorServer, method: str, path: str, body: Any = None, raw: bytes | None = None) -> tuple[int, Any]:
    data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    request = urllib.request.Request(server.url + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def unchecked_client(server: EmulatorServer, service: str) -> Any:
    """A client that sends whatever it is given: botocore's own validation is off."""
    return boto3.client(service, endpoint_url=server.url, region_name="us-east-1", aws_access_key_id="a",
                        aws_secret_access_key="b",
                        config=Config(parameter_validation=False, retries={"total_max_attempts": 1}))


def test_kinds_are_the_registry_keys() -> None:
    assert set(KINDS) == set(CATALOGUE) <= set(SPECS)
    assert KIND_ALIASES["athena_calculation"] == "athena_calculation_execution"


@pytest.mark.parametrize(("body", "status", "field", "words"), [
    ({}, 400, "kind", "missing field kind"),
    ({"kind": "athena"}, 400, "kind", "unknown kind 'athena'"),
    ({"kind": "athena_calculation_execution", "stepz": []}, 400, "stepz", "unknown field 'stepz'"),
    ({"kind": "internet_monitor_query"}, 400, "identifiers.monitor_name", "'monitor_name' is missing"),
    ({"kind": "internet_monitor_query", "identifiers": {"monitor_name": "a/b"}}, 400,
     "identifiers.monitor_name", "does not match the pattern"),
    ({"kind": "internet_monitor_query", "identifiers": {"monitor_name": "m", "query_id": "q"}}, 400,
     "identifiers.query_id", "give it as query_id"),
    ({"kind": "internet_monitor_query", "identifiers": {"monitor_nam": "m"}}, 400,
     "identifiers.monitor_nam", "unknown field 'monitor_nam'"),
    ({"kind": "athena_calculation_execution", "query_id": "x" * 37}, 400, "query_id", "at most 36"),
    ({"kind": "athena_calculation_execution", "steps": []}, 400, "steps", "must not be empty"),
    ({"kind": "athena_calculation_execution", "steps": [{"state": "RUNNING", "pols": 2}]}, 400,
     "steps[0].pols", "unknown field 'pols'"),
    ({"kind": "athena_calculation_execution", "steps": [["RUNNING", "two"]]}, 400, "steps[0].polls", "integer"),
    ({"kind": "athena_calculation_execution", "faults": [{"eror": "ThrottlingException"}]}, 400,
     "faults[0].eror", "unknown field 'eror'"),
    ({"kind": "athena_calculation_execution", "faults": [{"error": "ThrottlingException",
                                                           "operations": ["get_status"]}]}, 400,
     "faults[0].operations", "unknown operation 'get_status'"),
    ({"kind": "athena_calculation_execution", "text": "# emulator-script: [RUNNING]"}, 400, "text",
     "not a JSON list"),
])
def test_wrong_plant_requests_name_the_field(emulator_server, body, status, field, words) -> None:
    before = len(emulator_server.emulator.queries())
    code, answer = call(emulator_server, "POST", "/_emulator/queries", body)
    assert (code, answer["field"]) == (status, field), answer
    assert words in answer["error"]
    assert len(emulator_server.emulator.queries()) == before


def test_unknown_kinds_list_the_valid_ones(emulator_server) -> None:
    code, answer = call(emulator_server, "PUT", "/_emulator/defaults/athena", {"steps": ["RUNNING"]})
    assert code == 400 and answer["kinds"] == list(KINDS)
    code, answer = call(emulator_server, "GET", "/_emulator/queries?kind=athena")
    assert code == 400 and answer["kinds"] == list(KINDS)


def test_a_batch_is_planted_whole_or_not_at_all(emulator_server) -> None:
    good = {"kind": "athena_calculation_execution", "query_id": "batch-ok"}
    code, answer = call(emulator_server, "POST", "/_emulator/queries",
                        {"queries": [good, {"kind": "internet_monitor_query"}]})
    assert (code, answer["field"]) == (400, "queries[1].identifiers.monitor_name")
    assert call(emulator_server, "GET", "/_emulator/queries/batch-ok")[0] == 404


def test_bodies_that_are_not_json_objects(emulator_server) -> None:
    assert call(emulator_server, "POST", "/_emulator/queries", raw=b"{kind")[1]["field"] == "body"
    assert call(emulator_server, "POST", "/_emulator/queries", ["x"])[1]["field"] == "body"
    assert call(emulator_server, "POST", "/_emulator/faults", {})[1]["field"] == "faults"
    assert call(emulator_server, "PUT", "/_emulator/defaults/athena_calculation_execution", {})[1]["field"] == "steps"


def test_former_kind_names_still_work(emulator_server) -> None:
    code, answer = call(emulator_server, "POST", "/_emulator/queries",
                        {"kind": "internet_monitor", "identifiers": {"MonitorName": "m"}, "steps": ["RUNNING"]})
    assert code == 200
    query = call(emulator_server, "GET", f"/_emulator/queries/{answer['query_id']}")[1]
    assert query["kind"] == "internet_monitor_query" and query["identifiers"] == {"monitor_name": "m"}
    listed = call(emulator_server, "GET", "/_emulator/queries?kind=internet_monitor")[1]["queries"]
    assert answer["query_id"] in {q["query_id"] for q in listed}


def test_defaults_script_the_queries_started_through_the_api(emulator_server, emulator) -> None:
    code, answer = call(emulator_server, "PUT", "/_emulator/defaults/athena_calculation",
                        {"steps": [["RUNNING", 1], {"state": "FAILED", "reason": "boom"}]})
    assert (code, answer) == (200, {"kind": "athena_calculation_execution",
                                    "steps": [{"state": "RUNNING", "polls": 1}, {"state": "FAILED", "reason": "boom"}]})
    athena = unchecked_client(emulator_server, "athena")
    session = athena.start_session(WorkGroup="primary", EngineConfiguration={"MaxConcurrentDpus": 2})["SessionId"]
    calc = athena.start_calculation_execution(SessionId=session, CodeBlock="1")["CalculationExecutionId"]
    states = [athena.get_calculation_execution_status(CalculationExecutionId=calc)["Status"] for _ in range(2)]
    assert [s["State"] for s in states] == ["RUNNING", "FAILED"] and states[1]["StateChangeReason"] == "boom"


def test_a_planted_query_is_found_by_its_status_call(emulator_server, emulator) -> None:
    code, answer = call(emulator_server, "POST", "/_emulator/queries", {
        "kind": "network_flow_monitor_top_contributors_query", "identifiers": {"monitor_name": "vpc"},
        "steps": [["RUNNING", 1], "SUCCEEDED"]})
    assert code == 200
    nfm = unchecked_client(emulator_server, "networkflowmonitor")
    calls = [nfm.get_query_status_monitor_top_contributors(monitorName="vpc", queryId=answer["query_id"])["status"]
             for _ in range(2)]
    assert calls == ["RUNNING", "SUCCEEDED"]


@pytest.mark.parametrize(("service", "call_", "code", "words"), [
    ("internetmonitor",
     lambda c: c.start_query(MonitorName="m", StartTime="2024-01-01T00:00:00Z", EndTime="2024-01-02T00:00:00Z",
                             QueryType="MEASURMENTS"),
     "ValidationException", "Value 'MEASURMENTS' at 'queryType' failed to satisfy constraint: "
                            "Member must satisfy enum value set: [MEASUREMENTS, "),
    ("internetmonitor", lambda c: c.start_query(MonitorName="m", QueryType="MEASUREMENTS"),
     "ValidationException", "2 validation errors detected: Value null at 'startTime' failed to satisfy "
                            "constraint: Member must not be null; Value null at 'endTime'"),
    ("internetmonitor", lambda c: c.get_query_results(MonitorName="m", QueryId="q", MaxResults=5000),
     "ValidationException", "Value '5000' at 'maxResults' failed to satisfy constraint: Member must have value "
                            "less than or equal to 1000"),
    ("networkflowmonitor",
     lambda c: c.start_query_monitor_top_contributors(
         monitorName="m" * 256, startTime="2024-01-01T00:00:00Z", endTime="2024-01-02T00:00:00Z",
         metricName="TIMEOUTS", destinationCategory="INTER_AZ", limit=501),
     "ValidationException", "at 'monitorName' failed to satisfy constraint: Member must have length less than or "
                            "equal to 255; Value '501' at 'limit'"),
    ("athena", lambda c: c.get_calculation_execution_status(CalculationExecutionId="x" * 37),
     "InvalidRequestException", "at 'calculationExecutionId' failed to satisfy constraint: Member must have "
                                "length less than or equal to 36"),
    ("athena", lambda c: c.start_session(WorkGroup="primary", EngineConfiguration={"MaxConcurrentDpus": 1}),
     "InvalidRequestException", "Value '1' at 'engineConfiguration.maxConcurrentDpus' failed to satisfy "
                                "constraint: Member must have value greater than or equal to 2"),
    ("athena", lambda c: c.start_session(WorkGroup="no spaces", EngineConfiguration={"MaxConcurrentDpus": 2}),
     "InvalidRequestException", "Member must satisfy regular expression pattern: [a-zA-Z0-9._-]{1,128}"),
    ("athena", lambda c: c.start_calculation_execution(SessionId=7, CodeBlock="1"),
     "InvalidRequestException", "Value '7' at 'sessionId' failed to satisfy constraint: Member must be a string"),
    ("neptunedata", lambda c: c.execute_open_cypher_query(), "MissingParameterException", None),
    ("neptunedata", lambda c: c.list_open_cypher_queries(includeWaiting="maybe"), "BadRequestException", None),
])
def test_calls_aws_refuses_are_refused(emulator_server, service, call_, code, words) -> None:
    client = unchecked_client(emulator_server, service)
    with pytest.raises(ClientError) as err:
        call_(client)
    assert err.value.response["Error"]["Code"] == code
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    if words is not None:
        assert words in err.value.response["Error"]["Message"]


def test_raw_requests_are_checked_too(emulator_server) -> None:
    """What no botocore client sends (it parses timestamps itself) is refused all the same."""
    code, answer = call(emulator_server, "POST", "/workloadInsights/s/topContributorsQueries", {
        "startTime": "yesterday", "endTime": "2024-01-02T00:00:00Z", "metricName": "ROUND_TRIP_TIME",
        "destinationCategory": "INTER_AZ"})
    assert code == 400 and answer["message"] == (
        "2 validation errors detected: Value 'yesterday' at 'startTime' failed to satisfy constraint: Member must "
        "be a timestamp; Value 'ROUND_TRIP_TIME' at 'metricName' failed to satisfy constraint: Member must "
        "satisfy enum value set: [TIMEOUTS, RETRANSMISSIONS, DATA_TRANSFERRED]")
    code, answer = call(emulator_server, "POST", "/workloadInsights/s/topContributorsQueries", raw=b"{oops")
    assert code == 400 and "not valid JSON" in answer["message"]


def test_valid_calls_still_pass_the_checks(emulator_server) -> None:
    im = unchecked_client(emulator_server, "internetmonitor")
    query_id = im.start_query(MonitorName="m", StartTime="2024-01-01T00:00:00Z", EndTime="2024-01-02T00:00:00Z",
                              QueryType="TOP_LOCATIONS", FilterParameters=[{"Field": "city", "Operator": "EQUALS",
                                                                            "Values": ["x"]}])["QueryId"]
    assert im.get_query_status(MonitorName="m", QueryId=query_id)["Status"] == "QUEUED"
    athena = unchecked_client(emulator_server, "athena")
    session = athena.start_session(WorkGroup="primary", EngineConfiguration={"MaxConcurrentDpus": 2})["SessionId"]
    assert athena.start_calculation_execution(SessionId=session, CodeBlock="1 + 1")["State"] == "CREATING"


def test_a_broken_script_line_in_a_started_query_is_an_aws_error(emulator_server) -> None:
    athena = unchecked_client(emulator_server, "athena")
    session = athena.start_session(WorkGroup="primary", EngineConfiguration={"MaxConcurrentDpus": 2})["SessionId"]
    with pytest.raises(athena.exceptions.InvalidRequestException, match="emulator cannot play"):
        athena.start_calculation_execution(SessionId=session, CodeBlock="# emulator-script: [RUNNING\n1")

