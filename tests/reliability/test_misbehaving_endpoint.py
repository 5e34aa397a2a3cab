"""What the world sends (issue 20): an endpoint that never answers, drips, answers huge bodies,
redirects in a loop or cuts its answer short never breaks a wait, nor its neighbours.

The endpoint (tests/misbehaving.py) knows nothing of this project; the waits are Athena's.
Each test bounds itself: without the bounds under test it would fail, not hang.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from airflow_querystatus.bounds import DEADLINE_GRACE, AnswerTooLarge, StatusCallTimeout
from airflow_querystatus.clients import shared_pool
from airflow_querystatus.hooks.athena import AthenaCalculationHook
from airflow_querystatus.sensors.athena import AthenaCalculationExecutionSensor
from airflow_querystatus.status import ATHENA_CALCULATION_EXECUTION
from airflow_querystatus.triggers.athena import AthenaCalculationExecutionTrigger
from tests.conftest import aws_connection_uri
from tests.harness import first_event, run_sensor
from tests.misbehaving import Misbehaving, misbehaving_endpoint

pytestmark = pytest.mark.line_independent

CONN = "aws_misbehaving"
FIGURES: dict[str, Any] = {}


@pytest.fixture
def endpoint(monkeypatch: pytest.MonkeyPatch) -> Iterator[Misbehaving]:
    with misbehaving_endpoint() as ep:
        monkeypatch.setenv(f"AIRFLOW_CONN_{CONN.upper()}", aws_connection_uri(ep.url))
        yield ep


def trigger(calculation_id: str, *, deadline_in: float, **kwargs: Any) -> AthenaCalculationExecutionTrigger:
    settings = {"poll_interval": 0.2, "max_poll_interval": 0.5, **kwargs}
    return AthenaCalculationExecutionTrigger(calculation_execution_id=calculation_id, aws_conn_id=CONN,
                                             deadline=time.time() + deadline_in, **settings)


async def _event_and_stall(waited: AthenaCalculationExecutionTrigger) -> tuple[dict[str, Any], float, float]:
    """The trigger's event, when it came, and the longest the event loop ran without yielding
    meanwhile (its shared client made beforehand: loading botocore's service model is a
    one-time stall)."""
    pool, key = shared_pool(), waited.client_key()
    async with pool.subscribe(key):
        async with pool.borrow(key):
            pass
        return await _timed(waited)


async def _timed(waited: AthenaCalculationExecutionTrigger) -> tuple[dict[str, Any], float, float]:
    """A stall is measured in the loop thread's CPU time between two ticks of a 10 ms ticker:
    work that blocks the loop burns that thread's CPU, while a loaded machine that merely
    does not schedule the process for a while does not (wall-clock gaps would fail then)."""
    stall = 0.0

    async def ticker() -> None:
        nonlocal stall
        while True:
            before = time.thread_time()
            await asyncio.sleep(0.01)
            stall = max(stall, time.thread_time() - before)

    ticking = asyncio.ensure_future(ticker())
    try:
        event = await first_event(waited, timeout=120)
    finally:
        ticking.cancel()
    return event.payload, time.time(), stall


@pytest.mark.prepared_sensitive  # a trigger polls: prepared calls on and off
@pytest.mark.parametrize("behaviour", ["hang", "drip"])
def test_a_trigger_ends_within_seconds_of_its_deadline_whatever_the_endpoint_does(endpoint, behaviour) -> None:
    waited = trigger(f"{behaviour}-1", deadline_in=3.0)
    payload, ended, _ = asyncio.run(_event_and_stall(waited))
    late = ended - waited.deadline
    FIGURES[f"{behaviour}_seconds_past_deadline"] = round(late, 2)
    assert payload["status"] == "timeout" and "deadline" in payload["message"]
    assert late < DEADLINE_GRACE + 1.5, f"the final event came {late:.1f}s after the deadline"
    assert endpoint.requests[behaviour] >= 1


@pytest.mark.parametrize("behaviour", ["hang", "drip"])
@pytest.mark.parametrize("mode", ["poke", "reschedule"])
def test_worker_calls_are_cut_off_at_their_limit(endpoint, monkeypatch, behaviour, mode) -> None:
    """Poke and reschedule: each call ends at ``status_call_timeout``; the sensor's timeout wins."""
    monkeypatch.setenv("AIRFLOW__QUERYSTATUS__STATUS_CALL_TIMEOUT", "1")
    sensor = AthenaCalculationExecutionSensor(task_id=f"{behaviour}_{mode}", calculation_execution_id=f"{behaviour}-2",
                                              aws_conn_id=CONN, mode=mode, timeout=6, poll_interval=0.5,
                                              max_poll_interval=0.5)
    # 6 s leaves room for two 1 s calls even when building the first client is slow (it took
    # 2 s on a loaded 2-core machine, and a 3 s timeout then saw one call)
    started = time.monotonic()
    run = run_sensor(sensor)
    took = time.monotonic() - started
    assert run.outcome == "failed" and type(run.error).__name__ == "AirflowSensorTimeout", run.error
    assert took < 6 + 1 + 3, f"{mode} against {behaviour} took {took:.1f}s"
    assert endpoint.requests[behaviour] >= 2  # each call was cut off and the next one made


def test_a_worker_call_is_bounded_by_the_time_left_before_the_deadline(endpoint) -> None:
    hook = AthenaCalculationHook(aws_conn_id=CONN)
    assert hook.conn is not None  # the client first: building it is not the call being bounded
    started = time.monotonic()
    with pytest.raises(StatusCallTimeout, match=r"get_calculation_execution_status did not answer within 3\.0s"):
        hook.get_status(ATHENA_CALCULATION_EXECUTION, {"calculation_execution_id": "hang-3"}, remaining=-1)
    # Cut off at the grace, not at status_call_timeout (30 s): loose enough for a loaded machine.
    assert time.monotonic() - started < DEADLINE_GRACE + 5


@pytest.mark.prepared_sensitive  # a trigger polls: prepared calls on and off
def test_stuck_calls_do_not_keep_a_healthy_wait_on_the_same_client_from_polling(endpoint) -> None:
    """60 waits stuck on a dripping answer and one healthy wait share one client and connection."""
    stuck_count = 60

    async def scenario() -> tuple[dict[str, Any], float, int]:
        stuck = [asyncio.ensure_future(first_event(trigger(f"drip-{i}", deadline_in=120))) for i in range(stuck_count)]
        try:
            give_up = time.monotonic() + 60
            while endpoint.open_now["drip"] < stuck_count:  # every stuck call holds its connection
                assert time.monotonic() < give_up, f"only {endpoint.open_now['drip']} stuck calls started"
                await asyncio.sleep(0.05)
            started = time.monotonic()
            healthy = await first_event(trigger("ok-healthy", deadline_in=60), timeout=30)
            return healthy.payload, time.monotonic() - started, shared_pool().open_clients
        finally:
            for task in stuck:
                task.cancel()
            await asyncio.gather(*stuck, return_exceptions=True)

    payload, took, clients = asyncio.run(scenario())
    FIGURES["healthy_wait_beside_60_stuck_seconds"] = round(took, 2)
    assert payload["status"] == "success", payload
    assert clients == 1  # they really shared one client
    assert took < 5, f"the healthy wait was answered after {took:.1f}s"


@pytest.mark.prepared_sensitive  # a trigger polls: prepared calls on and off
@pytest.mark.parametrize("behaviour", ["huge", "huge-chunked"])
def test_a_huge_answer_is_refused_by_size_without_stalling_the_loop(endpoint, behaviour) -> None:
    payload, _, stall = asyncio.run(_event_and_stall(trigger(f"{behaviour}-1", deadline_in=60)))
    FIGURES[f"{behaviour}_loop_stall_cpu_ms"] = round(stall * 1000, 1)
    FIGURES[f"{behaviour}_bytes_sent_before_refusal"] = endpoint.bytes_sent[behaviour]
    assert payload["status"] == "error" and not payload["retryable"], payload
    assert "GetCalculationExecutionStatus" in payload["message"] and "cap" in payload["message"]
    if behaviour == "huge":
        assert "268,435,456 bytes" in payload["message"]  # told by Content-Length, nothing read
    assert stall < 0.1, f"the event loop ran {stall * 1000:.0f} ms of CPU without yielding"
    assert endpoint.bytes_sent[behaviour] < 32 * 1024 * 1024  # read no further than the cap


def test_a_huge_answer_is_refused_in_poke_mode_too(endpoint) -> None:
    sensor = AthenaCalculationExecutionSensor(task_id="huge_poke", calculation_execution_id="huge-chunked-2",
                                              aws_conn_id=CONN, timeout=30, poll_interval=0.5)
    run = run_sensor(sensor)
    assert run.outcome == "failed" and "over the 1,048,576-byte cap" in str(run.error)
    hook = AthenaCalculationHook(aws_conn_id=CONN)
    with pytest.raises(AnswerTooLarge):
        hook.get_status(ATHENA_CALCULATION_EXECUTION, {"calculation_execution_id": "huge-3"})


@pytest.mark.prepared_sensitive  # a trigger polls: prepared calls on and off
def test_the_answer_cap_is_a_setting(endpoint, monkeypatch) -> None:
    monkeypatch.setenv("AIRFLOW__QUERYSTATUS__MAX_ANSWER_BYTES", "40")  # smaller than a healthy answer
    payload = asyncio.run(first_event(trigger("ok-small-cap", deadline_in=30), timeout=60)).payload
    assert payload["status"] == "error" and "over the 40-byte cap" in payload["message"]


@pytest.mark.prepared_sensitive  # a trigger polls: prepared calls on and off
def test_an_answer_that_is_not_json_keeps_the_wait_pending_until_its_deadline(endpoint, logs) -> None:
    """A proxy's HTML page with 200: no state to read; one warning, and the deadline ends it."""
    payload = asyncio.run(first_event(trigger("garbage-1", deadline_in=2), timeout=30)).payload
    assert payload["status"] == "timeout", payload
    assert logs().count("AWS answered without a state") == 1
    assert endpoint.requests["garbage"] >= 2


@pytest.mark.prepared_sensitive  # a trigger polls: prepared calls on and off
@pytest.mark.parametrize("behaviour", ["truncated", "redirect"])
def test_broken_answers_are_transient_until_the_budget_ends(endpoint, behaviour) -> None:
    waited = trigger(f"{behaviour}-1", deadline_in=60, transient_error_budget=1.5)
    started = time.monotonic()
    payload = asyncio.run(first_event(waited, timeout=60)).payload
    assert payload["status"] == "error" and payload["retryable"], payload
    assert "kept failing" in payload["message"]
    assert time.monotonic() - started < 15
    assert endpoint.requests[behaviour] >= 2


def test_figures() -> None:
    """Prints what this module measured (RELIABILITY.md quotes them)."""
    print(json.dumps(FIGURES))
