"""What each operation's tasks return, from one real run of each against the emulator.

``docs/generate.py`` shows these values on every operation page, so that the XCom shapes there
are what the code returns, not an example typed by hand that could drift. For each operation
of the registry, in an emulator started in this process on a free loopback port, with what the
examples need planted (``emulator/examples.py``: log groups, and an Athena session here):

* the **sensor** waits on a query someone else started (planted: pending for one status poll,
  then the catalogue's success state), as Airflow runs a deferred sensor: ``execute`` defers, the trigger
  runs to its first event (as in the triggerer), and ``execute_complete`` turns the event into
  the sensor's XCom (the same value as in ``poke`` and ``reschedule`` mode:
  tests/test_sensor_outcomes.py);
* the **operator** starts its own query (which plays the same script) with its example's start
  arguments (``Example.start``) and waits the same way (or in place, where it cannot defer:
  Neptune's query languages), then reads the results through its own results calls.

Only the ids, times and counts differ from run to run.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from airflow.providers.common.compat.sdk import TaskDeferred

from airflow_querystatus.emulator import EmulatorServer
from airflow_querystatus.emulator.catalogue import emulated_specs, success_state
from airflow_querystatus.emulator.examples import EXAMPLES, plant_examples
from airflow_querystatus.status import StatusSpec

#: The connection the runs use (an ``AIRFLOW_CONN_`` variable set only while they run).
CONN_ID = "querystatus_docs_returns"
#: Quick polls and no botocore retries: the emulator answers at once.
FAST: dict[str, Any] = {"poll_interval": 0.05, "max_poll_interval": 0.05,
                        "botocore_config": {"retries": {"total_max_attempts": 1}}}


@dataclass(frozen=True)
class Returns:
    """What one run of an operation's sensor and operator returned."""

    #: The sensor's XCom (``return_value``).
    sensor: Any
    #: The trigger's event payload (the sensor's and the operator's trigger).
    event: dict[str, Any]
    #: The operator's XCom (``return_value``).
    operator: Any


class _TaskInstance:
    """What a task's ``context["ti"]`` needs to be for these runs: where XComs are pushed."""

    def __init__(self) -> None:
        self.xcom: dict[str, Any] = {}
        self.try_number = 1

    def xcom_push(self, key: str, value: Any) -> None:
        self.xcom[key] = json.loads(json.dumps(value))  # as XCom stores it: JSON


def _context() -> dict[str, Any]:
    return {"ti": _TaskInstance(), "run_id": "manual__docs"}


async def _first_event(trigger: Any) -> dict[str, Any]:
    async for event in trigger.run():
        payload: dict[str, Any] = event.payload
        return payload
    raise RuntimeError(f"{type(trigger).__name__} ended without an event")


def _run_task(task: Any, context: dict[str, Any]) -> tuple[Any, dict[str, Any] | None]:
    """Run ``task`` as a worker and the triggerer would: ``execute``; on a deferral, the trigger
    to its first event and then the method it named. Its XCom, and the event if it deferred."""
    try:
        return task.execute(context), None
    except TaskDeferred as deferred:
        event = asyncio.run(_first_event(deferred.trigger))
        return getattr(task, deferred.method_name)(context, event=event), event


def run(spec: StatusSpec, server: EmulatorServer, sensor_cls: type, operator_cls: type) -> Returns:
    """Run ``spec``'s sensor and operator once against ``server`` (see the module docstring)."""
    example = EXAMPLES[spec.key]
    pending = "RUNNING" if "RUNNING" in spec.pending_states else sorted(spec.pending_states)[0]
    # Pending until the first status poll of the query, whoever started it: the operator's own
    # query then ends only after the operator polled it by id (so a Neptune operator has found
    # its id in the listings), however slow the machine.
    script = [(pending, 1), success_state(spec)]
    server.emulator.set_default_steps(spec.key, script)
    query = server.emulator.add_query(spec.key, dict(example.scope), steps=script)
    extras = {e.name: server.url for e in spec.extras if e.name == "endpoint_url"}
    common = {"aws_conn_id": CONN_ID, **FAST, **extras, **example.scope}
    sensor = sensor_cls(task_id="wait", deferrable=True, timeout=60, **common,
                        **{spec.identifiers[-1].name: query.query_id})
    sensor_xcom, event = _run_task(sensor, _context())
    if event is None:
        raise RuntimeError(f"{sensor_cls.__name__}(deferrable=True) did not defer")
    start = dict(example.start)
    if spec.service == "athena":  # a calculation runs in a session, which the examples open themselves
        start["session_id"] = str(uuid.uuid4())
        server.emulator.sessions[start["session_id"]] = {"State": "IDLE", "WorkGroup": "primary"}
    operator = operator_cls(task_id="run", deferrable=True, wait_timeout=60, **common, **start)
    operator_xcom, _ = _run_task(operator, _context())
    return Returns(sensor_xcom, event, operator_xcom)


@contextlib.contextmanager
def _connection(url: str) -> Iterator[None]:
    """An ``aws`` connection to ``url`` for the runs, removed afterwards."""
    name = f"AIRFLOW_CONN_{CONN_ID.upper()}"
    os.environ[name] = json.dumps({"conn_type": "aws", "login": "docs", "password": "docs",
                                   "extra": {"region_name": "us-east-1", "endpoint_url": url}})
    try:
        yield
    finally:
        os.environ.pop(name, None)


def run_all(classes: Mapping[str, tuple[type, type]]) -> dict[str, Returns]:
    """Every emulated operation's :class:`Returns` by its spec's key; ``classes``: the sensor and
    operator class of each key."""
    with EmulatorServer() as server, _connection(server.url):
        plant_examples(server.emulator)
        return {spec.key: run(spec, server, *classes[spec.key]) for spec in emulated_specs()}
