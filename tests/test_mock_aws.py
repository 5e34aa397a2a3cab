"""The package's calls under someone else's answerer: moto's ``mock_aws``, moto's server,
botocore's ``Stubber`` and a user's own ``before-send`` handler.

Each answers the status calls, and nothing the package does opens a connection past them: every
test here runs with sockets to anything but the loopback refused and recorded (``offline``), and
with fake credentials, so that a call that escaped would fail the test rather than reach AWS.

moto 5 reads only ``logGroupName``/``logGroupNames`` in StartQuery, and answers every query as
``Complete`` at once: the queries are started with boto3 and ``logGroupName`` here, and the
operator's own start call (``logGroupIdentifiers``) is the known gap below.
"""

from __future__ import annotations

import asyncio
import io
import ipaddress
import json
import logging
import socket
import time
import urllib.request
from collections.abc import AsyncIterator, Callable, Generator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import boto3
import moto
import moto.core.botocore_stubber
import pytest
from aiobotocore.awsrequest import AioAWSResponse
from aiobotocore.stub import AioStubber
from botocore.awsrequest import AWSResponse
from botocore.stub import Stubber
from moto.server import ThreadedMotoServer

from airflow_querystatus.clients import ClientKey, create_client_through_hook
from airflow_querystatus.hooks.logs import CloudWatchLogsInsightsHook
from airflow_querystatus.operators.logs import CloudWatchLogsInsightsQueryOperator
from airflow_querystatus.prepared import StatusCall
from airflow_querystatus.sensors.logs import CloudWatchLogsInsightsQuerySensor
from tests.cases import DEFERRABLE, FAST, mode_kwargs
from tests.harness import run_sensor

REGION = "us-east-1"
GROUP = "/app/web"
MESSAGES = ["ERROR 0", "ERROR 1"]


# --------------------------------------------------------------------------- no way out
def _loopback(host: object) -> bool:
    if host in ("localhost", None):
        return True
    try:
        return ipaddress.ip_address(str(host).split("%")[0]).is_loopback
    except ValueError:
        return False


@pytest.fixture(autouse=True)
def offline(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[object]]:
    """Refuse and record every connection (and name lookup) that is not to the loopback; the test
    fails at its end if there was one, even if the code under test swallowed the refusal."""
    escaped: list[object] = []
    real_getaddrinfo = socket.getaddrinfo

    def refuse(address: object) -> None:
        escaped.append(address)
        raise ConnectionRefusedError(f"test_mock_aws: no connection to {address!r} may leave the machine")

    def guarded(connect: Callable[..., Any]) -> Callable[..., Any]:
        def call(self: socket.socket, address: Any) -> Any:
            if self.family in (socket.AF_INET, socket.AF_INET6) and not _loopback(address[0]):
                refuse(address)
            return connect(self, address)

        return call

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if not _loopback(host.decode() if isinstance(host, bytes) else host):
            refuse(host)
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", guarded(socket.socket.connect))
    monkeypatch.setattr(socket.socket, "connect_ex", guarded(socket.socket.connect_ex))
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    yield escaped
    assert not escaped, f"connections past the answerer were attempted: {escaped}"


def test_the_offline_fixture_refuses_and_records_a_connection_to_aws(offline: list[object]) -> None:
    """The guard every other test relies on (it would otherwise pass whatever escaped)."""
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("logs.us-east-1.amazonaws.com", 443), timeout=1)
    assert offline == ["logs.us-east-1.amazonaws.com"]
    offline.clear()


@pytest.fixture(autouse=True)
def fake_aws(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fake keys in the environment and in ``aws_default`` (no endpoint_url: AWS's own), and no
    instance metadata look-up, as moto's documentation asks."""
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_DEFAULT_REGION": REGION, "AWS_EC2_METADATA_DISABLED": "true"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", json.dumps(
        {"conn_type": "aws", "login": "testing", "password": "testing", "extra": {"region_name": REGION}}))


def start_insights_query(client: Any) -> str:
    """A log group with two events and a Logs Insights query over it (``logGroupName``)."""
    client.create_log_group(logGroupName=GROUP)
    client.create_log_stream(logGroupName=GROUP, logStreamName="web-1")
    now = int(time.time())
    client.put_log_events(logGroupName=GROUP, logStreamName="web-1",
                          logEvents=[{"timestamp": now * 1000 + i, "message": m} for i, m in enumerate(MESSAGES)])
    query: str = client.start_query(logGroupName=GROUP, startTime=now - 600, endTime=now + 600,
                                    queryString="fields @timestamp, @message")["queryId"]
    return query


class _AwaitableBytes(bytes):
    """Bytes that can also be awaited: botocore reads ``response.content``, aiobotocore awaits it."""

    def __await__(self) -> Generator[Any, None, bytes]:
        return self._ready().__await__()

    async def _ready(self) -> bytes:
        return bytes(self)


class _MotoResponse(AWSResponse):
    @property
    def content(self) -> bytes:
        return _AwaitableBytes(super().content)


@pytest.fixture
def mocked(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """moto's ``mock_aws``, its answers readable by aiobotocore too.

    moto answers with botocore's ``AWSResponse``, whose ``content`` aiobotocore cannot await
    (``TypeError: object bytes can't be used in 'await' expression``; aiobotocore#1320,
    moto#8694, neither project's to fix): every aiobotocore client under ``mock_aws`` meets it,
    not only this package's. The answers are made awaitable here, as a user's tests must do for
    deferrable tasks under ``mock_aws`` (or use moto's server: ``moto_server`` below)."""
    monkeypatch.setattr(moto.core.botocore_stubber, "AWSResponse", _MotoResponse)
    with moto.mock_aws():
        yield


@pytest.fixture
def moto_query(mocked: None) -> str:
    return start_insights_query(boto3.client("logs", region_name=REGION))


def sensor(query_id: str, mode: str, **kwargs: Any) -> CloudWatchLogsInsightsQuerySensor:
    return CloudWatchLogsInsightsQuerySensor(task_id="wait", query_id=query_id,
                                             **{**FAST, **mode_kwargs(mode), **kwargs})


# --------------------------------------------------------------------------- mock_aws
def test_the_hooks_status_call_is_answered_by_mock_aws(moto_query: str) -> None:
    """The issue's first finding: ``hook.conn`` answered from the mock, but the hook's own
    status call went to https://logs.us-east-1.amazonaws.com/."""
    answer = CloudWatchLogsInsightsHook().get_query_results(moto_query)
    assert answer["status"] == "Complete"
    assert {f["value"] for row in answer["results"] for f in row if f["field"] == "@message"} == set(MESSAGES)


@pytest.mark.parametrize("mode", ["poke", "reschedule", DEFERRABLE])
def test_a_sensor_succeeds_under_mock_aws(moto_query: str, mode: str) -> None:
    run = run_sensor(sensor(moto_query, mode))
    assert run.outcome == "success", run.error
    assert run.value["status"] == "Complete" and "results" not in run.value
    # moto's queries are complete at once: a deferrable sensor sees it before deferring and ends
    # on its worker (the trigger's polls under mock_aws are the test further down).
    assert run.deferrals == 0


@pytest.mark.xfail(strict=True, raises=AssertionError, reason=(
    "moto 5.2 reads only logGroupName/logGroupNames in StartQuery; the operator sends logGroupIdentifiers, "
    "which moto refuses (in-process a TypeError, its server an HTTP 500)"))
def test_the_logs_insights_operator_succeeds_under_mock_aws(mocked: None) -> None:
    client = boto3.client("logs", region_name=REGION)
    start_insights_query(client)  # the log group and its events
    now = int(time.time())
    operator = CloudWatchLogsInsightsQueryOperator(task_id="insights", log_groups=GROUP, start_time=now - 600,
                                                   end_time=now + 600, query_string="fields @message",
                                                   deferrable=False, poll_interval=0.05, wait_timeout=30)
    run = run_sensor(operator)
    assert run.outcome == "success", run.error
    assert [row["@message"] for row in run.value["rows"]] == MESSAGES


# --------------------------------------------------------------------------- answerers on the client
class _Raw(io.BytesIO):
    """An answer body as botocore's ``AWSResponse`` reads it (``stream``) and aiobotocore's (``read``)."""

    def stream(self, *_: Any, **__: Any) -> Iterator[bytes]:
        yield self.getvalue()

    async def read(self) -> bytes:  # type: ignore[override]
        return self.getvalue()


def _status_answer(status: str) -> bytes:
    return json.dumps({"status": status, "results": [], "statistics": {"recordsMatched": 2.0}}).encode()


class BeforeSendAnswerer:
    """A user's ``before-send`` handler answering GetQueryResults: ``statuses``, then the last."""

    def __init__(self, *statuses: str, asynchronous: bool = False) -> None:
        self.statuses = list(statuses)
        self.asynchronous = asynchronous
        self.answered = 0

    def __call__(self, request: Any, **_: Any) -> Any:
        status = self.statuses[min(self.answered, len(self.statuses) - 1)]
        self.answered += 1
        response_class = AioAWSResponse if self.asynchronous else AWSResponse
        return response_class(request.url, 200, {"content-type": "application/x-amz-json-1.1"},
                              _Raw(_status_answer(status)))


def test_a_stubber_on_the_hooks_client_answers_its_status_call() -> None:
    hook = CloudWatchLogsInsightsHook()
    with Stubber(hook.conn) as stubber:
        stubber.add_response("get_query_results", {"status": "Running", "results": []},
                             {"queryId": "q-1", "maxItems": 1})
        stubber.add_response("get_query_results", {"status": "Complete", "results": []},
                             {"queryId": "q-1", "maxItems": 1})
        assert hook.get_query_results("q-1")["status"] == "Running"
        assert hook.get_query_results("q-1")["status"] == "Complete"
        stubber.assert_no_pending_responses()


def test_a_users_before_send_handler_answers_the_hooks_status_call() -> None:
    hook = CloudWatchLogsInsightsHook()
    answerer = BeforeSendAnswerer("Running", "Complete")
    hook.conn.meta.events.register("before-send.cloudwatch-logs.GetQueryResults", answerer)
    assert hook.get_query_results("q-1")["status"] == "Running"
    assert hook.get_query_results("q-1")["status"] == "Complete"
    assert answerer.answered == 2


@asynccontextmanager
async def trigger_client() -> AsyncIterator[Any]:
    """A client built as triggers build theirs (through the hook, prepared calls and bounds on)."""
    client, close = await create_client_through_hook(ClientKey.build("logs", aws_conn_id="aws_default",
                                                                     region_name=None))
    try:
        yield client
    finally:
        await close()


#: Who answers a trigger client's GetQueryResults: each sets itself up on the client and returns
#: the check that it answered every poll (moto answers every call of the mock on its own).
def _mock_aws_answers(client: Any) -> Callable[[], None]:
    return lambda: None


def _stubber_answers(client: Any) -> Callable[[], None]:
    stubber = AioStubber(client)
    for status in ("Running", "Running", "Complete"):
        stubber.add_response("get_query_results", {"status": status, "results": []},
                             {"queryId": "q-1", "maxItems": 1})
    stubber.activate()
    return stubber.assert_no_pending_responses


def _handler_answers(client: Any) -> Callable[[], None]:
    answerer = BeforeSendAnswerer("Running", "Running", "Complete", asynchronous=True)
    client.meta.events.register("before-send.cloudwatch-logs.GetQueryResults", answerer)

    def check() -> None:
        assert answerer.answered == 3

    return check


@pytest.mark.usefixtures("prepared_calls_on")  # about the prepared path: it must turn itself off
@pytest.mark.parametrize("answerer", [_mock_aws_answers, _stubber_answers, _handler_answers],
                         ids=["mock_aws", "Stubber", "before-send handler"])
def test_every_trigger_poll_is_answered_there_and_prepared_calls_turn_off_with_one_line(
    answerer: Callable[[Any], Callable[[], None]], request: pytest.FixtureRequest, caplog: pytest.LogCaptureFixture
) -> None:
    """Prepared polls send by themselves: after a first plain poll that someone else answered,
    the later polls of the wait must stay plain, or they would leave the process."""
    mock = answerer is _mock_aws_answers
    query_id = request.getfixturevalue("moto_query") if mock else "q-1"
    call = StatusCall("get_query_results", {"queryId": query_id, "maxItems": 1}, lambda exc: True)

    async def three_polls() -> list[str]:
        async with trigger_client() as client:
            answered_every_poll = answerer(client)
            statuses = [(await call(client))["status"] for _ in range(3)]
            answered_every_poll()
            return statuses

    caplog.set_level(logging.INFO, logger="airflow_querystatus.prepared")
    assert asyncio.run(three_polls()) == (["Complete"] * 3 if mock else ["Running", "Running", "Complete"])
    assert call.plain_polls == 3 and call.prepared_polls == 0
    lines = [r.getMessage() for r in caplog.records if "Prepared status calls are off" in r.getMessage()]
    handler = "before-call" if answerer is _stubber_answers else "before-send"
    assert len(lines) == 1 and f"get_query_results call was answered by a {handler} handler" in lines[0]


# --------------------------------------------------------------------------- moto's server
@pytest.fixture
def moto_server() -> Iterator[str]:
    """moto in server mode on a free loopback port: someone else's reading of AWS over HTTP."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    try:
        yield url
    finally:
        # The server keeps its data in moto's in-process backends, which outlive it: empty them.
        urllib.request.urlopen(urllib.request.Request(f"{url}/moto-api/reset", method="POST"), timeout=10).close()
        server.stop()


@pytest.mark.parametrize("mode", ["poke", DEFERRABLE])
def test_a_sensor_succeeds_against_moto_server(moto_server: str, mode: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", json.dumps(
        {"conn_type": "aws", "login": "testing", "password": "testing",
         "extra": {"region_name": REGION, "endpoint_url": moto_server}}))
    query_id = start_insights_query(boto3.client("logs", region_name=REGION, endpoint_url=moto_server))
    run = run_sensor(sensor(query_id, mode))
    assert run.outcome == "success", run.error
    assert run.value["status"] == "Complete"


def test_moto_server_refuses_the_operators_log_group_identifiers(moto_server: str) -> None:
    """The operator gap above, measured: if moto learns ``logGroupIdentifiers``, this fails and
    the operator test can lose its xfail."""
    client = boto3.client("logs", region_name=REGION, endpoint_url=moto_server,
                          config=boto3.session.Config(retries={"total_max_attempts": 1}))
    client.create_log_group(logGroupName=GROUP)
    with pytest.raises(client.exceptions.ClientError) as refused:
        client.start_query(logGroupIdentifiers=[GROUP], startTime=0, endTime=1, queryString="fields @message")
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500

