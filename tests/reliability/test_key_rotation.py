"""A routine key rotation (issue 20): the connection gets a new key, the old one is deactivated
(AWS answers 403 UnrecognizedClientException). Every wait sharing the client survives, with
one rebuild of the client; a key that stays refused fails the wait naming the connection."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Iterator
from typing import Any

import pytest

from airflow_querystatus.clients import shared_pool
from airflow_querystatus.sensors.internet_monitor import InternetMonitorQuerySensor
from airflow_querystatus.triggers.internet_monitor import InternetMonitorQueryTrigger
from tests.conftest import SECRET_KEY, edit_aws_default
from tests.harness import first_event, run_sensor, until_polled

pytestmark = pytest.mark.line_independent

OLD_KEY, NEW_KEY = "key-before-rotation", "key-after-rotation"


@pytest.fixture
def rotating_key(emulator, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """``aws_default`` signs with OLD_KEY, which the emulator checks."""
    emulator.credentials.register(OLD_KEY, SECRET_KEY)
    emulator.credentials.register(NEW_KEY, "the-new-secret")
    connection = json.loads(os.environ["AIRFLOW_CONN_AWS_DEFAULT"])
    connection["login"] = OLD_KEY
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", json.dumps(connection))
    yield emulator


def rotate(monkeypatch: pytest.MonkeyPatch, emulator: Any, *, update_connection: bool = True) -> None:
    if update_connection:
        connection = json.loads(os.environ["AIRFLOW_CONN_AWS_DEFAULT"])
        connection["login"] = NEW_KEY
        monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", json.dumps(connection))
        edit_aws_default(monkeypatch, password="the-new-secret")
    emulator.credentials.deactivate(OLD_KEY)


@pytest.mark.prepared_sensitive  # a trigger polls: prepared calls on and off
def test_every_wait_sharing_a_client_survives_a_key_rotation_with_one_rebuild(rotating_key, monkeypatch) -> None:
    emulator = rotating_key
    queries = [emulator.add_query("internet_monitor", {"monitor_name": "m"},
                                  steps=[{"state": "RUNNING", "seconds": 4.0}, "SUCCEEDED"]) for _ in range(20)]

    async def scenario() -> tuple[list[dict[str, Any]], int]:
        pool = shared_pool()
        waits = [asyncio.ensure_future(first_event(InternetMonitorQueryTrigger(
            monitor_name="m", query_id=q.query_id, poll_interval=0.3, max_poll_interval=0.5), timeout=60))
            for q in queries]
        await until_polled(*queries)
        created = pool.clients_created
        rotate(monkeypatch, emulator)
        events = await asyncio.gather(*waits)
        return [e.payload for e in events], pool.clients_created - created

    payloads, rebuilds = asyncio.run(scenario())
    assert [p["status"] for p in payloads] == ["success"] * 20, [p["message"] for p in payloads]
    assert rebuilds == 1
    refused = [r for r in emulator.request_log if r[1] == "get_query_status"]
    assert refused  # the waits really polled through the emulator


@pytest.mark.prepared_sensitive  # a trigger polls: prepared calls on and off
def test_a_key_that_stays_refused_fails_the_wait_naming_the_connection(rotating_key, monkeypatch) -> None:
    emulator = rotating_key
    query = emulator.add_query("internet_monitor", {"monitor_name": "m"}, steps=[("RUNNING", 1000)])

    async def scenario() -> dict[str, Any]:
        waited = asyncio.ensure_future(first_event(InternetMonitorQueryTrigger(
            monitor_name="m", query_id=query.query_id, poll_interval=0.3, max_poll_interval=0.5), timeout=60))
        await until_polled(query)
        rotate(monkeypatch, emulator, update_connection=False)  # deactivated, connection not updated
        return (await waited).payload

    payload = asyncio.run(scenario())
    assert payload["status"] == "error" and "UnrecognizedClientException" in payload["message"]
    assert "connection 'aws_default'" in payload["message"] and "rotated" in payload["message"]


@pytest.mark.parametrize("mode", ["poke", "reschedule"])
def test_a_sensor_on_a_worker_survives_a_key_rotation(rotating_key, monkeypatch, mode) -> None:
    emulator = rotating_key
    query = emulator.add_query("internet_monitor", {"monitor_name": "m"},
                               steps=[{"state": "RUNNING", "seconds": 2.0}, "SUCCEEDED"])
    sensor = InternetMonitorQuerySensor(task_id=f"rotation_{mode}", monitor_name="m", query_id=query.query_id,
                                        mode=mode, poll_interval=0.3, max_poll_interval=0.3, timeout=30)
    # The first poke signs with the old key; the emulator refuses it from the second on.
    original = emulator.credentials.refusal

    def refuse_after_first(request: Any, body: bytes) -> Any:
        if query.status_calls >= 1 and os.environ.get("ROTATED") != "1":
            os.environ["ROTATED"] = "1"
            rotate(monkeypatch, emulator)
        return original(request, body)

    monkeypatch.setattr(emulator.credentials, "refusal", refuse_after_first)
    monkeypatch.delenv("ROTATED", raising=False)
    run = run_sensor(sensor)
    assert run.outcome == "success", run.error
