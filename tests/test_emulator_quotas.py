"""The emulator's account-wide quotas: a token bucket per operation, answered with each service's
throttling error as botocore parses it, through boto3, the pytest plugin, the control API and
the command line.

No test waits on wall time: a bucket is driven by its burst under a rate too slow to refill
during a test (one token in ~11 days), or by a clock the test moves.
"""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.error
import urllib.request
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from botocore.retries.standard import RetryEventAdapter, ThrottlingErrorDetector

from airflow_querystatus.emulator import Emulator, EmulatorServer
from airflow_querystatus.emulator.catalogue import emulated_specs
from airflow_querystatus.emulator.examples import EXAMPLES
from airflow_querystatus.emulator.pytest_plugin import EmulatorHandle
from airflow_querystatus.emulator.wire import operation_model
from airflow_querystatus.status import StatusSpec

pytestmark = pytest.mark.line_independent

#: A rate that refills one token in about 11 days: within a test, a bucket holds its burst only.
NEVER = 1e-6
#: The HTTP status each service's throttling error comes with (its model's, else the protocol's).
THROTTLE_STATUS = {"athena": 400, "logs": 400, "internetmonitor": 429, "networkflowmonitor": 429, "neptunedata": 500}


def client(url: str, service: str, **retries: Any) -> Any:
    return boto3.client(service, endpoint_url=url, region_name="us-east-1", aws_access_key_id="any",
                        aws_secret_access_key="any", config=Config(retries=retries or {"total_max_attempts": 1}))


def api_name(spec: StatusSpec) -> str:
    return str(operation_model(spec.service, spec.operation).name)


def status_call(c: Any, spec: StatusSpec, query_id: str) -> dict[str, Any]:
    params = spec.api_params({**EXAMPLES[spec.key].scope, spec.identifiers[-1].name: query_id})
    result: dict[str, Any] = getattr(c, spec.operation)(**params)
    return result


def pending_query(emulator: EmulatorHandle, spec: StatusSpec) -> str:
    return emulator.create(spec.key, dict(EXAMPLES[spec.key].scope), steps=[sorted(spec.pending_states)[0]]).query_id


def throttling_seen(c: Any) -> list[bool]:
    """For each attempt of the client's calls, whether botocore's standard retry mode takes its
    error for throttling (what it backs off from, and what adaptive mode slows down for)."""
    detector, seen = ThrottlingErrorDetector(RetryEventAdapter()), []

    def record(**kwargs: Any) -> None:
        seen.append(detector.is_throttling_error(**kwargs))

    c.meta.events.register_first("needs-retry", record)
    return seen


@pytest.mark.parametrize("spec", emulated_specs(), ids=lambda s: s.key)
def test_a_status_call_over_its_quota_meets_the_services_throttling_error(
        querystatus_emulator: EmulatorHandle, spec: StatusSpec) -> None:
    query_id = pending_query(querystatus_emulator, spec)
    querystatus_emulator.set_quota(api_name(spec), NEVER, burst=2)
    c = client(querystatus_emulator.url, spec.service)
    seen = throttling_seen(c)
    status_call(c, spec, query_id)
    status_call(c, spec, query_id)
    with pytest.raises(ClientError) as err:
        status_call(c, spec, query_id)
    response = err.value.response
    assert response["Error"]["Code"] == "ThrottlingException"
    assert response["ResponseMetadata"]["HTTPStatusCode"] == THROTTLE_STATUS[spec.service]
    assert seen == [False, False, True]
    # Nothing else happened: the throttled call was no poll.
    assert querystatus_emulator.emulator.query(query_id).status_calls == 2
    assert querystatus_emulator.quota_counters()[api_name(spec)] == {"served": 2, "throttled": 1}


@pytest.mark.parametrize("service", ["athena", "internetmonitor"])
def test_botocore_retries_a_throttled_call_and_every_attempt_meets_the_quota(
        querystatus_emulator: EmulatorHandle, service: str) -> None:
    spec = next(s for s in emulated_specs() if s.service == service)
    query_id = pending_query(querystatus_emulator, spec)
    querystatus_emulator.set_quota(api_name(spec), NEVER, burst=1)
    c = client(querystatus_emulator.url, service, mode="standard", total_max_attempts=2)
    status_call(c, spec, query_id)
    with pytest.raises(ClientError) as err:
        status_call(c, spec, query_id)
    assert err.value.response["ResponseMetadata"]["RetryAttempts"] == 1
    assert querystatus_emulator.quota_counters()[api_name(spec)] == {"served": 1, "throttled": 2}


def test_quotas_are_off_by_default_and_every_call_is_counted(querystatus_emulator: EmulatorHandle) -> None:
    spec = emulated_specs()[0]
    query_id = pending_query(querystatus_emulator, spec)
    c = client(querystatus_emulator.url, spec.service)
    for _ in range(50):
        status_call(c, spec, query_id)
    assert querystatus_emulator.quota_counters() == {api_name(spec): {"served": 50, "throttled": 0}}


def test_an_operations_own_quota_wins_over_the_wildcard_and_each_operation_has_its_bucket(
        querystatus_emulator: EmulatorHandle) -> None:
    athena = client(querystatus_emulator.url, "athena")
    calculation = querystatus_emulator.create("athena_calculation_execution", steps=["RUNNING"]).query_id
    session = querystatus_emulator.create_athena_session()
    querystatus_emulator.set_quota("*", NEVER, burst=2)
    querystatus_emulator.set_quota("GetCalculationExecutionStatus", NEVER, burst=4)
    calls = {"status": lambda: athena.get_calculation_execution_status(CalculationExecutionId=calculation),
             "session": lambda: athena.get_session_status(SessionId=session)}
    outcomes: dict[str, list[bool]] = {"status": [], "session": []}
    for _ in range(5):
        for name, call in calls.items():
            try:
                call()
                outcomes[name].append(True)
            except athena.exceptions.ClientError:
                outcomes[name].append(False)
    assert outcomes == {"status": [True] * 4 + [False], "session": [True, True, False, False, False]}
    assert querystatus_emulator.quota_counters() == {
        "GetCalculationExecutionStatus": {"served": 4, "throttled": 1},
        "GetSessionStatus": {"served": 2, "throttled": 3}}


def test_the_quota_is_the_accounts_whatever_key_signs_or_connection_calls(
        querystatus_emulator: EmulatorHandle) -> None:
    spec = next(s for s in emulated_specs() if s.service == "internetmonitor")
    query_id = pending_query(querystatus_emulator, spec)
    querystatus_emulator.set_quota("GetQueryStatus", NEVER, burst=3)
    clients = [boto3.client("internetmonitor", endpoint_url=querystatus_emulator.url, region_name=region,
                            aws_access_key_id=key, aws_secret_access_key="any",
                            config=Config(retries={"total_max_attempts": 1}))
               for key, region in (("AKIDONE", "us-east-1"), ("AKIDTWO", "eu-west-1"), ("AKIDTHREE", "us-east-1"))]
    for c in clients:
        status_call(c, spec, query_id)
    for c in clients:
        with pytest.raises(c.exceptions.ThrottlingException):
            status_call(c, spec, query_id)


def test_a_service_qualified_quota_meters_that_service_alone(querystatus_emulator: EmulatorHandle) -> None:
    """CloudWatch Logs and Internet Monitor both have GetQueryResults; ``logs:GetQueryResults``
    throttles only Logs' (a bare name would meter each service's in a bucket of its own)."""
    logs_query = querystatus_emulator.create("logs_insights_query", steps=["Running"]).query_id
    monitor_query = querystatus_emulator.create("internet_monitor_query", {"monitor_name": "m"},
                                                steps=["SUCCEEDED"]).query_id
    querystatus_emulator.set_quota("logs:GetQueryResults", NEVER, burst=1)
    logs, monitor = client(querystatus_emulator.url, "logs"), client(querystatus_emulator.url, "internetmonitor")
    logs.get_query_results(queryId=logs_query)
    with pytest.raises(ClientError, match="ThrottlingException"):
        logs.get_query_results(queryId=logs_query)
    for _ in range(3):
        monitor.get_query_results(MonitorName="m", QueryId=monitor_query)
    assert querystatus_emulator.quota_counters()["GetQueryResults"] == {"served": 4, "throttled": 1}


def test_a_bucket_refills_at_its_rate_up_to_its_burst() -> None:
    now = [1000.0]
    with EmulatorServer(Emulator(quota_clock=lambda: now[0])) as server:
        server.set_quota("GetQueryStatus", 2, burst=3)  # 2 calls a second, 3 at once
        query_id = server.emulator.add_query("internet_monitor_query", {"monitor_name": "m"},
                                             steps=["RUNNING"]).query_id
        c = client(server.url, "internetmonitor")

        def served(calls: int) -> int:
            ok = 0
            for _ in range(calls):
                try:
                    c.get_query_status(MonitorName="m", QueryId=query_id)
                    ok += 1
                except c.exceptions.ThrottlingException:
                    pass
            return ok

        assert served(5) == 3
        now[0] += 1.0  # two tokens back
        assert served(5) == 2
        now[0] += 60.0  # never more than the burst
        assert served(5) == 3
        assert server.quota_counters() == {"GetQueryStatus": {"served": 8, "throttled": 7}}


def test_quotas_and_counters_are_cleared_per_test_and_by_clear_quotas(querystatus_emulator: EmulatorHandle) -> None:
    assert querystatus_emulator.quota_counters() == {}
    assert querystatus_emulator.emulator.quotas.limits() == {}
    querystatus_emulator.set_quota("GetQueryStatus", NEVER)
    assert querystatus_emulator.emulator.quotas.limits()["GetQueryStatus"].burst == 1  # default: max(1, rate)
    querystatus_emulator.clear_quotas()
    assert querystatus_emulator.emulator.quotas.limits() == {}


@pytest.mark.parametrize("repeat", [1, 2])
def test_a_quota_set_by_an_earlier_test_is_gone(querystatus_emulator: EmulatorHandle, repeat: int) -> None:
    spec = next(s for s in emulated_specs() if s.service == "internetmonitor")
    query_id = pending_query(querystatus_emulator, spec)
    c = client(querystatus_emulator.url, spec.service)
    status_call(c, spec, query_id)  # the earlier run's burst-1 quota would throttle the second call
    status_call(c, spec, query_id)
    querystatus_emulator.set_quota("GetQueryStatus", NEVER, burst=1)
    assert querystatus_emulator.quota_counters() == {"GetQueryStatus": {"served": 2, "throttled": 0}}


@pytest.mark.parametrize(("operation", "rate", "burst", "field", "words"), [
    ("GetQueryStatuss", 1, None, "operation", "unknown operation 'GetQueryStatuss'"),
    ("athena:GetQueryStatus", 1, None, "operation", "unknown operation"),
    ("GetQueryStatus", 0, None, "rate", "rate must be a number > 0"),
    ("GetQueryStatus", "10", None, "rate", "rate must be a number > 0"),
    ("GetQueryStatus", 5, 0.5, "burst", "burst must be at least 1"),
    ("GetQueryStatus", 5, -1, "burst", "burst must be a number > 0"),
])
def test_a_wrong_quota_is_refused_naming_the_field(querystatus_emulator: EmulatorHandle, operation: str,
                                                   rate: Any, burst: Any, field: str, words: str) -> None:
    with pytest.raises(ValueError, match=words) as err:
        querystatus_emulator.set_quota(operation, rate, burst)
    assert err.value.field == field  # type: ignore[attr-defined]
    assert querystatus_emulator.emulator.quotas.limits() == {}


def test_a_boto3_name_stands_for_its_api_name(querystatus_emulator: EmulatorHandle) -> None:
    querystatus_emulator.set_quota("get_calculation_execution_status", 5)
    assert set(querystatus_emulator.emulator.quotas.limits()) == {"GetCalculationExecutionStatus"}


def control(url: str, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url + path, data=data, method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def test_the_control_api_sets_reads_and_clears_quotas(querystatus_emulator: EmulatorHandle) -> None:
    url = querystatus_emulator.url
    assert control(url, "PUT", "/_emulator/quotas/GetQueryStatus", {"rate": NEVER, "burst": 1}) == (200, {
        "quotas": {"GetQueryStatus": {"rate": NEVER, "burst": 1.0}}, "counters": {}})
    assert control(url, "PUT", "/_emulator/quotas/*", {"rate": 50}) [1]["quotas"]["*"] == {"rate": 50.0, "burst": 50.0}
    spec = next(s for s in emulated_specs() if s.service == "internetmonitor")
    query_id = pending_query(querystatus_emulator, spec)
    c = client(url, spec.service)
    status_call(c, spec, query_id)
    with pytest.raises(c.exceptions.ThrottlingException):
        status_call(c, spec, query_id)
    assert control(url, "GET", "/_emulator/quotas")[1]["counters"] == {"GetQueryStatus": {"served": 1, "throttled": 1}}
    assert control(url, "DELETE", "/_emulator/quotas") == (200, {"quotas": {}, "counters": {}})
    status_call(c, spec, query_id)


@pytest.mark.parametrize(("path", "body", "field"), [
    ("/_emulator/quotas/GetQueryStatus", {"burst": 2}, "rate"),
    ("/_emulator/quotas/GetQueryStatus", {"rate": 1, "brust": 2}, "brust"),
    ("/_emulator/quotas/GetQueryStatus", {"rate": True}, "rate"),
    ("/_emulator/quotas/NoSuchOperation", {"rate": 1}, "operation"),
])
def test_the_control_api_refuses_a_wrong_quota_naming_the_field(querystatus_emulator: EmulatorHandle, path: str,
                                                                body: Any, field: str) -> None:
    status, answer = control(querystatus_emulator.url, "PUT", path, body)
    assert (status, answer["field"]) == (400, field)


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "airflow_querystatus.emulator", "--port", "0", "--no-examples", *args],
                          capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize(("flag", "words"), [
    ("GetQueryStatus", "expected OPERATION=RATE[:BURST]"),
    ("GetQueryStatus=fast", "RATE and BURST must be numbers"),
    ("GetQueryStatus=0", "rate must be a number > 0"),
    ("GetQueryStatus=5:0.5", "burst must be at least 1"),
    ("GetQueryStatuss=5", "unknown operation 'GetQueryStatuss'"),
])
def test_a_wrong_quota_flag_is_an_error_naming_the_flag(flag: str, words: str) -> None:
    done = run_cli("--quota", flag)
    assert done.returncode == 2
    assert "argument --quota:" in done.stderr and words in done.stderr, done.stderr


def test_the_quota_flags_set_the_quotas_of_the_emulator_they_start() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "airflow_querystatus.emulator", "--port", "0", "--no-examples",
         "--quota", "GetCalculationExecutionStatus=10:20", "--quota", "*=50"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        url = process.stdout.readline().split()[-1]
        assert control(url, "GET", "/_emulator/quotas")[1]["quotas"] == {
            "GetCalculationExecutionStatus": {"rate": 10.0, "burst": 20.0}, "*": {"rate": 50.0, "burst": 50.0}}
    finally:
        process.terminate()
        process.communicate(timeout=30)
