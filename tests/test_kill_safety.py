"""A deferred operator's query is stopped only when its task was really killed.

Airflow cancels a trigger for several reasons: a user killed, cleared or marked the task;
the triggerer shuts down; the trigger moved to another triggerer. Airflow 3.3 then calls
``on_kill`` (for moves too, apache/airflow PR #73454); older lines only cancel ``run()``.
Each test kills the trigger the way this Airflow line does, with the task state Airflow
would report. How that state is read from Airflow is proven on real processes in
tests/e2e (a user marks a deferred operator task failed).
"""

from __future__ import annotations

import asyncio
import contextlib
from types import SimpleNamespace

import pytest

from airflow_querystatus import compat
from airflow_querystatus.emulator.model import Query
from airflow_querystatus.triggers.athena import AthenaCalculationExecutionTrigger
from tests.harness import first_event, rebuild_trigger, until_polled

#: Every test here runs triggers, whose status polls [querystatus] prepared_status_calls changes.
pytestmark = [pytest.mark.usefixtures("emulator"), pytest.mark.prepared_sensitive]


@pytest.fixture
def airflow_says(monkeypatch: pytest.MonkeyPatch):
    """Make Airflow answer ``state`` (or fail to answer) when asked for the task state."""

    def say(state: str | Exception | None, delay: float = 0.0) -> list[object]:
        asked: list[object] = []

        async def read_state(ti: object) -> str | None:
            asked.append(ti)
            await asyncio.sleep(delay)
            if isinstance(state, Exception):
                raise state
            return state

        monkeypatch.setattr(compat, "_read_state", read_state)
        return asked

    return say


def owned_trigger(query_id: str) -> AthenaCalculationExecutionTrigger:
    trigger = rebuild_trigger(AthenaCalculationExecutionTrigger(
        calculation_execution_id=query_id, stop_on_kill=True, poll_interval=0.05))
    assert isinstance(trigger, AthenaCalculationExecutionTrigger)
    # What the triggerer sets before running a trigger.
    trigger.task_instance = SimpleNamespace(dag_id="d", task_id="t", run_id="r", map_index=-1)
    return trigger


async def cancel_like_the_triggerer(trigger: AthenaCalculationExecutionTrigger, query: Query) -> None:
    """Start the wait, then (once it has polled) cancel it as this Airflow line cancels a trigger."""
    waiting = asyncio.ensure_future(first_event(trigger))
    await until_polled(query)
    waiting.cancel("__airflow_user_action__" if compat.TRIGGER_ON_KILL.available else None)
    with contextlib.suppress(asyncio.CancelledError):
        await waiting
    if compat.TRIGGER_ON_KILL.available:
        await trigger.on_kill()


@pytest.mark.parametrize("state", ["failed", "success", "up_for_retry", "scheduled", "none"])
def test_a_killed_cleared_or_marked_task_stops_its_query(emulator, airflow_says, state: str) -> None:
    query = emulator.add_query("athena_calculation", steps=["RUNNING"])
    asked = airflow_says(state)
    asyncio.run(cancel_like_the_triggerer(owned_trigger(query.query_id), query))
    assert asked, "the task state was not checked"
    assert query.stopped and emulator.peek(query).state in {"CANCELING", "CANCELED"}


@pytest.mark.parametrize("throttles", [2, 3])
def test_a_throttled_stop_is_retried_twice(emulator, airflow_says, throttles: int, logs) -> None:
    """A trigger's client may make one attempt per call (the shared budget paces status calls),
    so the stop call retries throttling itself: two retries, then it says to stop it by hand."""
    query = emulator.add_query("athena_calculation", steps=["RUNNING"])
    airflow_says("failed")
    emulator.add_global_faults([{"error": "TooManyRequestsException", "count": throttles,
                                 "operations": ["stop_calculation_execution"]}])
    asyncio.run(cancel_like_the_triggerer(owned_trigger(query.query_id), query))
    assert query.stopped is (throttles == 2)
    assert logs().count("failed with a transient error") == 2
    assert ("stop it by hand" in logs()) is (throttles == 3)


def test_a_second_cancellation_does_not_abort_the_stop(emulator, airflow_says) -> None:
    """The triggerer re-cancels a trigger it no longer owns on every loop, and reading the
    state through the supervisor took ~3 s on a busy 2-core stack: the stop must survive."""
    query = emulator.add_query("athena_calculation", steps=["RUNNING"])
    airflow_says("failed", delay=0.5)
    trigger = owned_trigger(query.query_id)
    message = "__airflow_user_action__" if compat.TRIGGER_ON_KILL.available else None

    async def cancel_twice() -> None:
        waiting = asyncio.ensure_future(first_event(trigger))
        await until_polled(query)
        waiting.cancel(message)
        killing = asyncio.ensure_future(trigger.on_kill()) if compat.TRIGGER_ON_KILL.available else waiting
        await asyncio.sleep(0.1)  # now inside the slow state read
        killing.cancel(message)
        with contextlib.suppress(asyncio.CancelledError):
            await killing
        for _ in range(100):  # the loop lives on, as the triggerer's does
            if query.stopped:
                return
            await asyncio.sleep(0.05)

    asyncio.run(cancel_twice())
    assert query.stopped


def test_a_trigger_that_moves_or_restarts_leaves_the_query_running(emulator, airflow_says, logs) -> None:
    query = emulator.add_query("athena_calculation", steps=["RUNNING"])
    airflow_says("deferred")
    asyncio.run(cancel_like_the_triggerer(owned_trigger(query.query_id), query))
    assert not query.stopped
    assert "still deferred" in logs()


@pytest.mark.parametrize("answer", [None, RuntimeError("supervisor went away")])
def test_an_unknown_task_state_leaves_the_query_running(emulator, airflow_says, answer) -> None:
    query = emulator.add_query("athena_calculation", steps=["RUNNING"])
    airflow_says(answer)
    asyncio.run(cancel_like_the_triggerer(owned_trigger(query.query_id), query))
    assert not query.stopped


def test_sensor_triggers_do_not_stop_queries_they_do_not_own(emulator, airflow_says) -> None:
    query = emulator.add_query("athena_calculation", steps=["RUNNING"])
    asked = airflow_says("failed")
    trigger = AthenaCalculationExecutionTrigger(calculation_execution_id=query.query_id)
    asyncio.run(cancel_like_the_triggerer(trigger, query))
    assert not query.stopped and not asked


@pytest.mark.skipif(not compat.AIRFLOW_3, reason="Airflow 3 reads the state through the supervisor")
def test_the_state_comes_from_the_supervisor_on_airflow_3(monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow.sdk.execution_time.task_runner import RuntimeTaskInstance

    calls: list[dict[str, object]] = []

    def get_task_states(**kwargs: object) -> dict[str, dict[str, str]]:
        calls.append(kwargs)
        return {"r": {"t_2": "failed"}}  # how the execution API keys a mapped task instance

    monkeypatch.setattr(RuntimeTaskInstance, "get_task_states", get_task_states)
    trigger = SimpleNamespace(task_instance=SimpleNamespace(dag_id="d", task_id="t", run_id="r", map_index=2))
    assert asyncio.run(compat.task_instance_state(trigger)) == "failed"
    assert calls == [{"dag_id": "d", "task_ids": ["t"], "run_ids": ["r"], "map_index": 2}]


@pytest.mark.skipif(not compat.AIRFLOW_3, reason="Airflow 3 reads the state through the supervisor")
@pytest.mark.parametrize(("answer", "state"), [({"r": {"t": None}}, "none"), ({"r": {}}, None), ({}, None)])
def test_a_cleared_task_is_told_apart_from_an_unknown_one(monkeypatch, answer, state) -> None:
    from airflow.sdk.execution_time.task_runner import RuntimeTaskInstance

    monkeypatch.setattr(RuntimeTaskInstance, "get_task_states", lambda **_: answer)
    trigger = SimpleNamespace(task_instance=SimpleNamespace(dag_id="d", task_id="t", run_id="r", map_index=-1))
    assert asyncio.run(compat.task_instance_state(trigger)) == state


def test_a_trigger_without_a_task_instance_has_an_unknown_state() -> None:
    assert asyncio.run(compat.task_instance_state(SimpleNamespace())) is None
