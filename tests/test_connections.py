"""A connection id that does not exist is named; ``aws_conn_id=None`` is boto3's default chain
(issue 20, item 6); a connection that exists but that Airflow cannot read is reported as that,
quoting Airflow's error, not as missing (issue 28, item 4).

The amazon hook falls back to an empty connection when the id is unknown, and the wait then
failed for want of a region. Now every mode, the trigger and the operator fail naming the id
and what to do, before any AWS call; the look-up stays one per hook (client), not one per poll.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook

from airflow_querystatus.clients import shared_pool
from airflow_querystatus.compat import INSTALL_CONSTRAINTS
from airflow_querystatus.exceptions import AwsConnectionNotFoundError, AwsConnectionUnreadableError, QueryCallerError
from airflow_querystatus.operators.internet_monitor import InternetMonitorQueryOperator
from airflow_querystatus.polling import Outcome
from airflow_querystatus.triggers.internet_monitor import InternetMonitorQueryTrigger
from tests.cases import CASES, MODES, mode_kwargs
from tests.conftest import SECRET_KEY
from tests.harness import first_event, run_task

#: These tests poll through triggers: CI runs them with prepared status calls on and off.
pytestmark = pytest.mark.prepared_sensitive

CASE = next(c for c in CASES if c.kind == "internet_monitor_query")
MISSING = "aws_prod_does_not_exist"
UNREADABLE = "aws_prod_unreadable"


def operator(**kwargs: Any) -> InternetMonitorQueryOperator:
    return InternetMonitorQueryOperator(
        task_id="im", monitor_name="web", query_type="MEASUREMENTS", start_time="2026-11-01T00:00:00Z",
        end_time="2026-11-02T00:00:00Z", poll_interval=0.05, max_poll_interval=0.05, wait_timeout=30,
        botocore_config={"retries": {"total_max_attempts": 1}}, **kwargs)


def _named(message: str) -> None:
    assert repr(MISSING) in message, message
    assert "does not exist" in message and "aws_conn_id=None" in message, message
    assert "region" not in message.lower(), message  # what it used to blame


def _unreadable(message: str) -> None:
    assert repr(UNREADABLE) in message and "exists but could not be read" in message, message
    assert "does not exist" not in message, message
    assert "EnvironmentVariablesBackend raised JSONDecodeError:" in message, message  # Airflow's own error
    assert "fernet_key" in message and "cryptography" in message and INSTALL_CONSTRAINTS in message, message


@dataclass(frozen=True)
class BadConnection:
    """An ``aws_conn_id`` the task cannot use, the error it must fail with, and how that reads."""

    conn_id: str
    error: type[QueryCallerError]
    check: Callable[[str], None]


@pytest.fixture(params=["missing", "unreadable"])
def bad(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> BadConnection:
    """A connection id that does not exist, or one that is set, as an AIRFLOW_CONN_* variable,
    but whose value Airflow's environment-variables backend cannot parse (its JSON cut off):
    Airflow's look-up logs that backend's error, skips it, and says the id "isn't defined", as it
    does when its Fernet cannot be built (cryptography 51 on Airflow <= 3.1)."""
    if request.param == "missing":
        return BadConnection(MISSING, AwsConnectionNotFoundError, _named)
    monkeypatch.setenv(f"AIRFLOW_CONN_{UNREADABLE.upper()}", '{"conn_type": "aws", "login": "key", "extra": {')
    return BadConnection(UNREADABLE, AwsConnectionUnreadableError, _unreadable)


@pytest.mark.parametrize("mode", MODES)
def test_a_sensor_names_a_connection_that_does_not_exist_or_cannot_be_read(
    mode: str, bad: BadConnection, emulator
) -> None:
    query = CASE.plant(emulator, CASE.success_steps())
    calls = sum(emulator.requests.values())
    run = run_task(CASE.sensor(query.query_id, aws_conn_id=bad.conn_id, **mode_kwargs(mode)))
    assert isinstance(run.error, QueryCallerError), run.error  # no Airflow retry: it will not change
    bad.check(str(run.error))
    assert query.query_id in str(run.error) and "Task 'wait_" in str(run.error)
    assert run.reschedules == 0 and sum(emulator.requests.values()) == calls


@pytest.mark.parametrize("deferrable", [False, True])
def test_an_operator_names_a_connection_that_does_not_exist_or_cannot_be_read(
    deferrable: bool, bad: BadConnection, emulator
) -> None:
    calls = sum(emulator.requests.values())
    run = run_task(operator(aws_conn_id=bad.conn_id, deferrable=deferrable))
    assert isinstance(run.error, bad.error), run.error
    bad.check(str(run.error))
    assert sum(emulator.requests.values()) == calls


def test_a_trigger_names_a_connection_that_does_not_exist_or_cannot_be_read(bad: BadConnection, emulator) -> None:
    query = CASE.plant(emulator, CASE.success_steps())
    trigger = InternetMonitorQueryTrigger(monitor_name=CASE.scope["monitor_name"], query_id=query.query_id,
                                          aws_conn_id=bad.conn_id, poll_interval=0.05, max_poll_interval=0.05,
                                          deadline=2e9)
    event = asyncio.run(first_event(trigger, timeout=30))
    assert event.payload["status"] == Outcome.ERROR.value and event.payload["retryable"] is False
    bad.check(event.payload["message"])
    assert query.status_calls == 0


@pytest.fixture
def default_credential_chain(emulator_server, monkeypatch: pytest.MonkeyPatch) -> None:
    """No Airflow connection: keys, region and endpoint from the environment, as boto3 reads them."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "emulator-access-key")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)  # signatures are verified with it
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ENDPOINT_URL", emulator_server.url)
    monkeypatch.delenv("AIRFLOW_CONN_AWS_DEFAULT")


@pytest.mark.usefixtures("default_credential_chain")
@pytest.mark.parametrize("mode", MODES)
def test_no_connection_id_keeps_using_the_default_credential_chain(mode: str, emulator) -> None:
    query = CASE.plant(emulator, CASE.success_steps())
    run = run_task(CASE.sensor(query.query_id, aws_conn_id=None, **mode_kwargs(mode)))
    assert run.outcome == "success", run.error
    assert {key for _, op, key in emulator.request_log if op == CASE.spec.operation} >= {"emulator-access-key"}


@pytest.mark.usefixtures("default_credential_chain")
@pytest.mark.parametrize("deferrable", [False, True])
def test_an_operator_without_connection_id_uses_the_default_credential_chain(deferrable: bool, emulator) -> None:
    emulator.set_default_steps("internet_monitor", [("RUNNING", 1), "SUCCEEDED"])
    run = run_task(operator(aws_conn_id=None, deferrable=deferrable))
    assert run.outcome == "success", run.error


def test_the_connection_is_looked_up_once_per_shared_client_not_per_poll(
    emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Thousands of waits share a client; each poll must not ask the secrets backend again."""
    looked_up: list[str] = []
    original = AwsBaseHook.get_connection.__func__  # type: ignore[attr-defined]

    def counting(cls: type, conn_id: str) -> Any:
        looked_up.append(conn_id)
        return original(cls, conn_id)

    monkeypatch.setattr(AwsBaseHook, "get_connection", classmethod(counting))
    queries = [CASE.plant(emulator, [(CASE.pending, 4), CASE.success]) for _ in range(20)]

    async def wait_all() -> list[Any]:
        triggers = [InternetMonitorQueryTrigger(monitor_name=CASE.scope["monitor_name"], query_id=q.query_id,
                                                poll_interval=0.05, max_poll_interval=0.05, deadline=2e9)
                    for q in queries]
        events = await asyncio.gather(*(first_event(t, timeout=60) for t in triggers))
        assert shared_pool().clients_created == 1
        return events

    events = asyncio.run(wait_all())
    assert all(event.payload["status"] == "success" for event in events)
    assert sum(q.status_calls for q in queries) >= 100
    assert looked_up == ["aws_default"]
