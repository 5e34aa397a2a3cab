"""Run a sensor the way Airflow's task runner does, without a scheduler or database.

* ``poke`` mode: ``execute`` once (it loops internally).
* ``reschedule`` mode: on ``AirflowRescheduleException`` a *fresh copy* of the sensor
  (as a new worker process would build) runs again, with ``task_reschedule_count`` + 1.
* deferrable: on ``TaskDeferred`` the trigger goes through ``serialize()`` and is rebuilt
  from its class path (as the triggerer does), runs until its first event (bounded by the
  defer timeout), and the task resumes through ``resume_execution`` with ``event``.

Outcomes are reported as ``("success", xcom)``, ``("skipped", exc)`` or ``("failed", exc)``.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import datetime
import importlib
from dataclasses import dataclass, field
from typing import Any
from unittest import mock

from airflow.providers.common.compat.sdk import BaseOperator, TaskDeferred
from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_querystatus.compat import AIRFLOW_3, REATTACH, AirflowSkipException
from airflow_querystatus.emulator.model import Query

# What the task runner catches moved to airflow.sdk.exceptions in 3.2; the values the
# scheduler resumes a timed-out deferral with moved to the Task SDK in 3.0.
try:
    from airflow.sdk.exceptions import AirflowRescheduleException
except ImportError:
    from airflow.exceptions import AirflowRescheduleException  # type: ignore[no-redef]
try:
    from airflow.sdk.bases.operator import TRIGGER_FAIL_REPR, TriggerFailureReason

    TRIGGER_TIMEOUT: object = TriggerFailureReason.TRIGGER_TIMEOUT
except ImportError:  # Airflow 2: plain strings (airflow/models/trigger.py)
    TRIGGER_FAIL_REPR, TRIGGER_TIMEOUT = "__fail__", "Trigger/execution timeout"


class _TaskInstance:
    def __init__(self) -> None:
        self.first_reschedule_date: datetime.datetime | None = None
        self.xcom: dict[str, Any] = {}
        # What Airflow 2's sensor reads off the task instance in reschedule mode.
        self.dag_id, self.task_id, self.run_id = "harness", "task", "manual__test"
        self.map_index, self.try_number, self.max_tries = -1, 1, 0

    def xcom_push(self, key: str, value: Any) -> None:
        self.xcom[key] = value

    def get_first_reschedule_date(self, context: Any) -> datetime.datetime | None:
        return self.first_reschedule_date if context.get("task_reschedule_count") else None


@dataclass
class Run:
    outcome: str
    value: Any = None
    error: BaseException | None = None
    reschedules: int = 0
    deferrals: int = 0
    triggers: list[BaseTrigger] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    ti: Any = None


def rebuild_trigger(trigger: BaseTrigger) -> BaseTrigger:
    classpath, kwargs = trigger.serialize()
    module, _, name = classpath.rpartition(".")
    cls = getattr(importlib.import_module(module), name)
    return cls(**kwargs)


async def first_event(trigger: BaseTrigger, timeout: float | None = None) -> TriggerEvent:
    async def consume() -> TriggerEvent:
        async for event in trigger.run():
            return event
        raise AssertionError("trigger ended without an event")

    return await asyncio.wait_for(consume(), timeout)


async def until_polled(*queries: Query, timeout: float = 60.0) -> None:
    """Wait until the emulator has answered a status call for each of ``queries``.

    Tests that cancel a wait "while it waits" start cancelling only after this: a fixed sleep
    is too short when a loaded machine takes longer to build the first client.
    """
    loop = asyncio.get_running_loop()
    give_up = loop.time() + timeout
    while any(query.status_calls == 0 for query in queries):
        if loop.time() > give_up:
            unpolled = sum(query.status_calls == 0 for query in queries)
            raise AssertionError(f"{unpolled} of {len(queries)} queries not polled within {timeout} s")
        await asyncio.sleep(0.02)


def _reschedule_history(ti: _TaskInstance) -> contextlib.AbstractContextManager[object]:
    """Airflow 2's sensor reads the first reschedule date from its ``task_reschedule`` table
    (Airflow 3 asks the task instance, which ``_TaskInstance`` answers); the harness keeps no
    database, so on Airflow 2 the same answer comes from the harness's task instance."""
    if AIRFLOW_3:
        return contextlib.nullcontext()
    import airflow.sensors.base as sensors_base

    return mock.patch.object(sensors_base, "_orig_start_date", lambda **_: ti.first_reschedule_date)


class TaskStateStore(dict[str, Any]):
    """What Airflow 3.3 hands a task as ``task_state_store``: values that outlive a try."""

    def set(self, key: str, value: Any, **_: Any) -> None:
        self[key] = value

    def delete(self, key: str) -> None:
        self.pop(key, None)


def run_sensor(
    sensor: BaseOperator,
    *,
    max_reschedules: int = 200,
    try_number: int = 1,
    task_state_store: TaskStateStore | None = None,
    keep_defer_kwargs: bool = True,
) -> Run:
    """Run a sensor or operator to its end (see the module docstring). ``try_number`` and
    ``task_state_store`` stand for a retry (the store is offered only where Airflow has it).
    ``keep_defer_kwargs=False`` resumes a deferred task with the event alone, dropping the
    ``kwargs`` given to ``defer()``, as ``dag.test()`` (``airflow dags test``) does on
    Airflow 2.11 to 3.3; the triggerer keeps them."""
    ti = _TaskInstance()
    ti.try_number = try_number
    with _reschedule_history(ti):
        return _run(sensor, ti, max_reschedules, task_state_store, keep_defer_kwargs)


def _run(sensor: BaseOperator, ti: _TaskInstance, max_reschedules: int,
         task_state_store: TaskStateStore | None, keep_defer_kwargs: bool) -> Run:
    context: dict[str, Any] = {"ti": ti, "task_reschedule_count": 0, "task": sensor, "run_id": "manual__test"}
    if REATTACH.available:
        context["task_state_store"] = task_state_store if task_state_store is not None else TaskStateStore()
    pristine = copy.deepcopy(sensor)
    run = Run("running", ti=ti)
    current = sensor
    next_method: str | None = None
    next_kwargs: dict[str, Any] | None = None
    while True:
        try:
            if next_method is None:
                value = current.execute(context)
            else:
                value = current.resume_execution(next_method, next_kwargs, context)
            run.outcome, run.value = "success", value
            return run
        except AirflowSkipException as exc:
            run.outcome, run.error = "skipped", exc
            return run
        except AirflowRescheduleException:
            run.reschedules += 1
            if run.reschedules > max_reschedules:
                raise AssertionError("sensor rescheduled too often") from None
            if ti.first_reschedule_date is None:
                ti.first_reschedule_date = datetime.datetime.now(datetime.timezone.utc)
            context["task_reschedule_count"] += 1
            current = copy.deepcopy(pristine)
            context["task"] = current
        except TaskDeferred as deferred:
            run.deferrals += 1
            trigger = rebuild_trigger(deferred.trigger)
            run.triggers.append(trigger)
            timeout = deferred.timeout.total_seconds() if deferred.timeout is not None else None
            try:
                event = asyncio.run(first_event(trigger, timeout))
            except TimeoutError:
                # What the scheduler does when a deferral outlives its timeout.
                next_method = TRIGGER_FAIL_REPR
                next_kwargs = {"error": TRIGGER_TIMEOUT}
            else:
                run.events.append(event.payload)
                kept = (deferred.kwargs or {}) if keep_defer_kwargs else {}
                next_method, next_kwargs = deferred.method_name, {**kept, "event": event.payload}
        except Exception as exc:
            run.outcome, run.error = "failed", exc
            return run


run_task = run_sensor
