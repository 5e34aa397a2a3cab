"""The emulator answers in AWS's shapes, so botocore raises the production exception classes."""

from __future__ import annotations

import time
from types import SimpleNamespace

import boto3
import pytest
from botocore.exceptions import ClientError

from airflow_querystatus.emulator import EmulatorServer, ensure_loopback, model
from airflow_querystatus.emulator.catalogue import emulated_specs
from airflow_querystatus.emulator.examples import EXAMPLES
from airflow_querystatus.emulator.wire import protocol
from airflow_querystatus.status import SPECS, StatusSpec

pytestmark = pytest.mark.line_independent


def client(server: EmulatorServer, service: str):
    return boto3.client(
        service,
        endpoint_url=server.url,
        region_name="us-east-1",
        aws_access_key_id="a",
        aws_secret_access_key="b",
        config=__import__("botocore.config").config.Config(retries={"total_max_attempts": 1}),
    )


@pytest.mark.parametrize("host", ["0.0.0.0", "8.8.8.8", "192.168.1.10", "::"])
def test_refuses_non_loopback_addresses(host: str) -> None:
    with pytest.raises(ValueError, match="loopback"):
        EmulatorServer(host=host)


def test_accepts_loopback_names() -> None:
    ensure_loopback("127.0.0.1")
    ensure_loopback("localhost")


@pytest.mark.parametrize(
    ("service", "call", "code", "status"),
    [
        ("internetmonitor", lambda c: c.get_query_status(MonitorName="m", QueryId="x"), "ValidationException", 400),
        (
            "networkflowmonitor",
            lambda c: c.get_query_status_monitor_top_contributors(monitorName="m", queryId="x"),
            "ValidationException",
            400,
        ),
        ("neptunedata", lambda c: c.get_open_cypher_query_status(queryId="x"), "InvalidParameterException", 400),
        (
            "athena",
            lambda c: c.get_calculation_execution_status(CalculationExecutionId="x"),
            "InvalidRequestException",
            400,
        ),
    ],
)
def test_unknown_ids_raise_the_modelled_exception_class(emulator_server, service, call, code, status) -> None:
    c = client(emulator_server, service)
    with pytest.raises(ClientError) as err:
        call(c)
    assert err.value.response["Error"]["Code"] == code
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == status
    assert isinstance(err.value, getattr(c.exceptions, code))


def test_neptune_error_text_is_in_detailed_message(emulator_server) -> None:
    c = client(emulator_server, "neptunedata")
    with pytest.raises(c.exceptions.InvalidParameterException) as err:
        c.get_open_cypher_query_status(queryId="abc")
    assert err.value.response["detailedMessage"] == "Supplied queryId abc is invalid"


def test_stop_cancels_running_queries_and_results_page(emulator_server) -> None:
    im = client(emulator_server, "internetmonitor")
    q = im.start_query(MonitorName="m", StartTime="2024-01-01T00:00:00Z", EndTime="2024-01-02T00:00:00Z",
                       QueryType="MEASUREMENTS")["QueryId"]
    im.stop_query(MonitorName="m", QueryId=q)
    assert im.get_query_status(MonitorName="m", QueryId=q)["Status"] == "CANCELED"

    emulator_server.emulator.add_query("internet_monitor", {"monitor_name": "m"}, steps=["SUCCEEDED"],
                                       query_id="done", result_rows=5)
    first = im.get_query_results(MonitorName="m", QueryId="done", MaxResults=2)
    assert len(first["Data"]) == 2 and first["NextToken"]
    rest = im.get_query_results(MonitorName="m", QueryId="done", NextToken=first["NextToken"], MaxResults=10)
    assert len(rest["Data"]) == 3 and "NextToken" not in rest


def test_neptune_cancel_lists_cancelled_then_forgets(emulator_server, monkeypatch) -> None:
    """The emulator's clock is held still, so a slow machine cannot let the cancelled listing
    (0.3 s in Neptune's script) pass before the first status call sees it."""
    now = [time.time()]
    monkeypatch.setattr(model, "time", SimpleNamespace(time=lambda: now[0]))
    nep = client(emulator_server, "neptunedata")
    query = emulator_server.emulator.add_query("neptune_open_cypher", steps=["RUNNING"], text="MATCH (n) RETURN n")
    assert nep.cancel_open_cypher_query(queryId=query.query_id)["status"] == "200 OK"
    assert nep.get_open_cypher_query_status(queryId=query.query_id)["queryEvalStats"]["cancelled"] is True
    now[0] += 1.0  # the worker thread stops shortly after the cancel
    with pytest.raises(nep.exceptions.InvalidParameterException):
        nep.get_open_cypher_query_status(queryId=query.query_id)


@pytest.mark.parametrize("spec", emulated_specs(), ids=lambda s: s.key)
def test_a_querys_faults_apply_to_the_calls_that_name_it(emulator_server, spec: StatusSpec) -> None:
    """Whatever the spec calls its id (``QueryId``, ``queryId``, ``loadId``, ...), a fault planted
    with a query is consumed by the status calls for that query, and by no other query's."""
    scope = EXAMPLES[spec.key].scope
    pending = sorted(spec.pending_states)[0]
    emulator = emulator_server.emulator
    faulty, other = (emulator.add_query(spec.key, dict(scope), steps=[pending], faults=faults)
                     for faults in ([{"error": "AccessDeniedException", "count": 1}], []))
    c = client(emulator_server, spec.service)

    def status(query_id: str) -> dict:
        params = spec.api_params({**scope, spec.identifiers[-1].name: query_id})
        return getattr(c, spec.operation)(**params)

    assert spec.read_state(status(other.query_id)) == pending
    with pytest.raises(ClientError) as err:
        status(faulty.query_id)
    assert err.value.response["Error"]["Code"] == "AccessDeniedException"
    assert spec.read_state(status(faulty.query_id)) == pending  # spent
    assert (faulty.status_calls, other.status_calls) == (1, 1)


def test_neptune_bulk_loads_start_report_and_cancel_through_boto3(emulator_server) -> None:
    nep = client(emulator_server, "neptunedata")
    emulator_server.emulator.set_default_steps("neptune_loader_job", [("LOAD_IN_QUEUE", 1), "LOAD_IN_PROGRESS"])
    started = nep.start_loader_job(source="s3://bucket/graph/", format="opencypher", s3BucketRegion="us-east-1",
                                   iamRoleArn="arn:aws:iam::123456789012:role/NeptuneLoadFromS3", mode="AUTO")
    load_id = started["payload"]["loadId"]
    assert started["status"] == "200 OK"
    status = [nep.get_loader_job_status(loadId=load_id, details=True, errors=True, page=1, errorsPerPage=5)
              for _ in range(2)]
    assert [s["payload"]["overallStatus"]["status"] for s in status] == ["LOAD_IN_QUEUE", "LOAD_IN_PROGRESS"]
    assert nep.cancel_loader_job(loadId=load_id)["status"] == "200 OK"
    assert nep.get_loader_job_status(loadId=load_id)["payload"]["overallStatus"]["status"] == "LOAD_CANCELLED_BY_USER"
    with pytest.raises(nep.exceptions.BulkLoadIdNotFoundException) as err:
        nep.get_loader_job_status(loadId="no-such-load")
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    assert "no-such-load" in err.value.response["detailedMessage"]
    with pytest.raises(nep.exceptions.BadRequestException):  # what the model refuses, as Neptune does
        nep.start_loader_job(source="s3://bucket/graph/", format="csv", s3BucketRegion="us-east-1",
                             iamRoleArn="arn:aws:iam::123456789012:role/R", parallelism="EXTREME")


def test_json_services_are_found_by_the_target_prefix_of_their_model() -> None:
    """JSON 1.1 services come from botocore's model metadata, not from a table of prefixes."""
    import botocore.session

    from airflow_querystatus.emulator import json_1_1

    served = json_1_1.services(model.Emulator(), SPECS.values())
    for prefix, service in served.items():
        metadata = botocore.session.get_session().get_service_model(service.service).metadata
        assert prefix == f"{metadata['targetPrefix']}." and metadata["protocol"] == "json"
        assert service.content_type == f"application/x-amz-json-{metadata['jsonVersion']}"
        for spec, _handler in service.handlers.values():
            assert protocol(spec.service) == "json"
    json_services = {s.service for s in emulated_specs() if protocol(s.service) == "json"}
    assert {s.service for s in served.values()} == json_services


def test_logs_insights_start_results_and_stop_through_boto3(emulator_server, emulator) -> None:
    """CloudWatch Logs (JSON 1.1, ``Logs_20140328``): GetQueryResults is the status call and carries
    the rows and statistics; StopQuery answers ``success``; errors are the modelled classes."""
    logs = client(emulator_server, "logs")
    emulator.create_log_group("/app")
    emulator.set_default_steps("logs_insights_query", [("Running", 1), "Complete"])
    query_id = logs.start_query(logGroupIdentifiers=["/app"], queryString="fields @message", startTime=0,
                                endTime=60, limit=10)["queryId"]
    running = logs.get_query_results(queryId=query_id)
    assert running["status"] == "Running" and running["results"] == []
    done = logs.get_query_results(queryId=query_id)
    assert done["status"] == "Complete" and len(done["results"]) == 3
    assert {cell["field"] for cell in done["results"][0]} == {"@timestamp", "@message", "@ptr"}
    assert done["statistics"]["recordsMatched"] == 3.0

    other = logs.start_query(logGroupName="/app", queryString="stats count(*)", startTime=0, endTime=60)["queryId"]
    assert logs.stop_query(queryId=other)["success"] is True
    assert logs.get_query_results(queryId=other)["status"] == "Cancelled"
    assert emulator_server.emulator.query(other).stopped

    with pytest.raises(logs.exceptions.InvalidParameterException, match="does not exist"):
        logs.get_query_results(queryId="nope")
    with pytest.raises(logs.exceptions.InvalidParameterException, match="limit"):
        logs.start_query(logGroupName="/app", queryString="x", startTime=0, endTime=60, limit=100001)
