"""Faults against the emulator: storms, 5xx, slow answers, resets, refused connections,
malformed answers, rotated secrets, cancellations at scale (issue 5)."""

from __future__ import annotations

import asyncio
import json
import os
import socket
from collections import Counter
from typing import Any

import pytest

from airflow_querystatus.clients import SharedClientPool, create_client_through_hook, shared_pool
from airflow_querystatus.emulator import EmulatorServer
from airflow_querystatus.triggers.athena import AthenaCalculationExecutionTrigger
from airflow_querystatus.triggers.internet_monitor import InternetMonitorQueryTrigger
from tests.conftest import aws_connection_uri
from tests.harness import first_event, until_polled

#: Every test here runs triggers, whose status polls [querystatus] prepared_status_calls changes.
pytestmark = [pytest.mark.prepared_sensitive, pytest.mark.line_independent]

FIGURES: dict[str, Any] = {}


def im_trigger(query_id: str, **kwargs: Any) -> InternetMonitorQueryTrigger:
    args = {"poll_interval": 0.2, "max_poll_interval": 0.5, **kwargs}
    return InternetMonitorQueryTrigger(monitor_name="m", query_id=query_id, **args)


def run_all(triggers: list) -> list[dict]:
    async def go() -> list[dict]:
        events = await asyncio.gather(*(first_event(t, timeout=120) for t in triggers))
        return [e.payload for e in events]

    return asyncio.run(go())


def per_window(times: list[float], start: float, end: float, width: float) -> list[int]:
    counts = Counter(int((t - start) // width) for t in times if start <= t < end)
    return [counts.get(i, 0) for i in range(int((end - start) // width))]


def test_throttling_storm_with_1000_triggers_backs_off_and_all_finish(emulator) -> None:
    n, storm = 1000, 6.0
    steps = [{"state": "RUNNING", "seconds": 2.0}, "SUCCEEDED"]
    ids = [emulator.add_query("internet_monitor", {"monitor_name": "m"}, steps=steps,
                              clock_from_first_poll=True).query_id for _ in range(n)]
    emulator.add_global_faults([{"error": "ThrottlingException", "seconds": storm}])
    first_request = len(emulator.request_log)
    payloads = run_all([im_trigger(i, poll_interval=0.5, max_poll_interval=3.0, transient_error_budget=120)
                        for i in ids])
    assert Counter(p["status"] for p in payloads) == {"success": n}

    log = [t for t, op, _ in emulator.request_log[first_request:] if op == "get_query_status"]
    start = log[0]
    storm_rate = per_window(log, start, start + storm, 1.0)
    after = per_window(log, start + storm, start + storm + 4.0, 0.1)
    FIGURES["storm"] = {"triggers": n, "storm_seconds": storm, "calls_per_second_during_storm": storm_rate,
                        "peak_calls_per_100ms_after_storm": max(after), "total_calls": len(log)}
    print(json.dumps(FIGURES["storm"]))
    # Backs off: each throttled poll doubles the interval (0.5, 1, 2, then the 3 s ceiling),
    # so no wait polls more often than that schedule allows even at its shortest jitter,
    # against 12 polls per wait in 6 s undamped (botocore's retry quota adds at most ~100).
    polls_allowed, elapsed, interval = 1, 0.0, 0.5
    while elapsed + interval * 0.8 < storm:
        elapsed += interval * 0.8
        polls_allowed += 1
        interval = min(interval * 2, 3.0)
    assert sum(storm_rate) <= n * polls_allowed + 100 < n * storm / 0.5 / 2
    # No thundering herd at recovery: jittered intervals spread the next polls out.
    assert max(after) < n / 4


@pytest.mark.parametrize(
    "fault",
    [
        {"http_status": 503, "body": "Service Unavailable", "content_type": "text/plain", "count": 4},
        {"error": "InternalServerException", "count": 4},
        {"reset": True, "count": 4},
        {"delay": 1.5, "count": 2},  # slower than the 0.5 s read timeout below
        {"http_status": 200, "body": "not json {", "content_type": "application/json", "count": 3},
    ],
    ids=["503", "500", "reset", "slow", "non-json"],
)
def test_transient_faults_are_survived_within_the_budget(fault: dict, emulator) -> None:
    query = emulator.add_query("internet_monitor", {"monitor_name": "m"}, steps=[("RUNNING", 1), "SUCCEEDED"],
                               faults=[fault])
    (payload,) = run_all([im_trigger(query.query_id, botocore_config={"read_timeout": 0.5, "connect_timeout": 0.5,
                                                                        "retries": {"total_max_attempts": 1}})])
    assert payload["status"] == "success", payload


@pytest.mark.parametrize("fault", [{"http_status": 502, "body": "<html>Bad Gateway</html>"}, {"reset": True},
                                   {"delay": 1.5}], ids=["html-502", "reset", "slow"])
def test_exhausted_budget_is_a_clear_retryable_error(fault: dict, emulator) -> None:
    query = emulator.add_query("internet_monitor", {"monitor_name": "m"}, steps=["RUNNING"],
                               faults=[{**fault, "count": 1000}])
    (payload,) = run_all([im_trigger(query.query_id, transient_error_budget=1.0,
                                     botocore_config={"read_timeout": 0.5, "retries": {"total_max_attempts": 1}})])
    assert payload["status"] == "error" and payload["retryable"] is True
    assert "transient_error_budget" in payload["message"] and query.query_id in payload["message"]


def test_refused_connections_are_survived_until_the_emulator_returns() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = EmulatorServer(port=port).start()
    query = server.emulator.add_query("athena_calculation", steps=[("RUNNING", 2), "COMPLETED"])
    saved = os.environ["AIRFLOW_CONN_AWS_DEFAULT"]
    os.environ["AIRFLOW_CONN_AWS_DEFAULT"] = aws_connection_uri(server.url)
    try:
        trigger = AthenaCalculationExecutionTrigger(calculation_execution_id=query.query_id, poll_interval=0.2,
                                                    max_poll_interval=0.4, transient_error_budget=30,
                                                    botocore_config={"retries": {"total_max_attempts": 1}})

        async def outage() -> dict:
            waiting = asyncio.ensure_future(first_event(trigger, timeout=60))
            await asyncio.sleep(0.5)
            await asyncio.to_thread(server.stop)  # down: connections refused
            await asyncio.sleep(2.0)
            restarted = EmulatorServer(server.emulator, port=port)
            await asyncio.to_thread(restarted.start)  # up again, same state
            try:
                return (await waiting).payload
            finally:
                await asyncio.to_thread(restarted.stop)

        payload = asyncio.run(outage())
    finally:
        os.environ["AIRFLOW_CONN_AWS_DEFAULT"] = saved
    assert payload["status"] == "success", payload


def test_a_rotated_connection_secret_is_picked_up_by_the_shared_pool(emulator_server) -> None:
    emulator = emulator_server.emulator
    query = emulator.add_query("internet_monitor", {"monitor_name": "m"}, steps=[("RUNNING", 1000)])
    saved = os.environ["AIRFLOW_CONN_AWS_DEFAULT"]

    async def rotate() -> set[str | None]:
        pool = SharedClientPool(create_client_through_hook, max_age=0.5)
        trigger = im_trigger(query.query_id, poll_interval=0.1, max_poll_interval=0.1)
        key = trigger.client_key()
        seen_from = len(emulator.request_log)
        async with pool.subscribe(key):
            for step in range(12):
                if step == 6:
                    rotated = json.loads(saved)
                    rotated["login"] = "rotated-access-key"
                    os.environ["AIRFLOW_CONN_AWS_DEFAULT"] = json.dumps(rotated)
                async with pool.borrow(key) as client:
                    await client.get_query_status(MonitorName="m", QueryId=query.query_id)
                await asyncio.sleep(0.1)
        assert pool.open_clients == 0
        return {key_id for _, _, key_id in emulator.request_log[seen_from:]}

    try:
        keys = asyncio.run(rotate())
    finally:
        os.environ["AIRFLOW_CONN_AWS_DEFAULT"] = saved
    assert keys == {"emulator-access-key", "rotated-access-key"}


def test_10000_cancelled_triggers_leak_no_tasks_sockets_or_clients(emulator) -> None:
    n = 10_000
    ids = [emulator.add_query("athena_calculation", steps=["RUNNING"]).query_id for _ in range(n)]

    def open_fds() -> int:
        return len(os.listdir("/proc/self/fd"))

    async def cancel_all() -> dict[str, int]:
        pool = shared_pool()
        before_fds, before_tasks = open_fds(), len(asyncio.all_tasks())
        tasks = [asyncio.ensure_future(first_event(AthenaCalculationExecutionTrigger(
            calculation_execution_id=i, poll_interval=30))) for i in ids]
        await until_polled(*(emulator.query(i) for i in ids[-50:]), timeout=600)  # the last-started waits too
        peak_fds = open_fds()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await asyncio.sleep(0.5)  # the server side sees the closed connections
        return {"fds_before": before_fds, "fds_peak": peak_fds, "fds_after": open_fds(),
                "tasks_left": len(asyncio.all_tasks()) - before_tasks, "clients_created": pool.clients_created,
                "clients_open": pool.open_clients}

    figures = asyncio.run(cancel_all())
    FIGURES["cancellations"] = {"triggers": n, **figures}
    print(json.dumps(FIGURES["cancellations"]))
    assert figures["tasks_left"] == 0
    assert figures["clients_created"] == 1 and figures["clients_open"] == 0
    assert figures["fds_after"] <= figures["fds_before"] + 2
