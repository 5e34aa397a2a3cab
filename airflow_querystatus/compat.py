"""Everything that differs between the Airflow lines this package supports (2.11, 3.0 to 3.3).

Names that moved between versions come from ``airflow.providers.common.compat.sdk``, the
amazon provider's own route; behaviour that differs is decided here, once, so sensors,
triggers and operators never test a version themselves. Where a line lacks a feature,
:func:`warn_unsupported` says so once per process, naming the version it needs.
"""

from __future__ import annotations

import asyncio
import functools
import importlib
import logging
import warnings
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from airflow import __version__ as AIRFLOW_VERSION_TEXT
from airflow.providers.common.compat.sdk import (
    AirflowException,
    AirflowFailException,
    AirflowNotFoundException,
    AirflowSensorTimeout,
    AirflowSkipException,
    ObjectStoragePath,
    PokeReturnValue,
    Stats,
    conf,
)
from asgiref.sync import sync_to_async
from packaging.version import Version

__all__ = [
    "AIRFLOW_VERSION",
    "CONNECTION_NOT_FOUND",
    "INSTALL_CONSTRAINTS",
    "AirflowException",
    "AirflowFailException",
    "AirflowSensorTimeout",
    "AirflowSkipException",
    "ObjectStoragePath",
    "PokeReturnValue",
    "Stats",
    "conf",
    "query_memory",
    "rescheduled_before",
    "run_sync",
    "task_instance_state",
    "warn_unsupported",
]

log = logging.getLogger(__name__)

AIRFLOW_VERSION: tuple[int, int, int] = Version(AIRFLOW_VERSION_TEXT).release[:3]  # type: ignore[assignment]
AIRFLOW_3 = AIRFLOW_VERSION >= (3, 0, 0)


@dataclass(frozen=True)
class Feature:
    """An Airflow capability some of our behaviour depends on, and what happens without it."""

    name: str
    needs: tuple[int, int, int]
    without_it: str

    @property
    def available(self) -> bool:
        return self.needs <= AIRFLOW_VERSION

    @property
    def needs_text(self) -> str:
        return ".".join(map(str, self.needs))


#: The scheduler hands a ``start_from_trigger`` task straight to the triggerer, and the
#: triggerer renders its templated kwargs, from 3.3 (3.1/3.2 ignore the flag; 3.0 honours it
#: but does not render templates, so a templated id reaches AWS as "{{ ... }}").
START_FROM_TRIGGER = Feature(
    "start_from_trigger",
    (3, 3, 0),
    "the sensor defers from a worker as usual (the wait itself is the same)",
)
#: ``BaseTrigger.on_kill`` runs when a user kills a deferred task, from 3.3. Below it the
#: only signal is ``CancelledError`` in ``run()``, which is what the trigger then uses.
TRIGGER_ON_KILL = Feature(
    "BaseTrigger.on_kill",
    (3, 3, 0),
    "the query is stopped from the trigger's cancellation path, after checking the task state",
)

#: Airflow 3.3's ``task_state_store`` keeps a value across the tries of a task instance
#: (XComs are cleared when a try starts, on every line): where an operator keeps the ids of
#: the query it started, so that a retry can re-attach to it.
REATTACH = Feature(
    "re-attach on retry",
    (3, 3, 0),
    "a retried operator starts a new query instead of re-attaching to the one an earlier try started",
)


def _connection_not_found() -> tuple[type[BaseException], ...]:
    """What a connection look-up raises for an id that does not exist: the class the amazon
    provider catches (``airflow.sdk.exceptions`` from 3.2, ``airflow.exceptions`` below) and, where
    both modules exist, the other one too, so a look-up through either route is recognised."""
    found: list[type[BaseException]] = [AirflowNotFoundException]
    for module in ("airflow.sdk.exceptions", "airflow.exceptions"):
        try:
            other = getattr(importlib.import_module(module), "AirflowNotFoundException", None)
        except ImportError:
            continue
        if isinstance(other, type) and issubclass(other, BaseException) and other not in found:
            found.append(other)
    return tuple(found)


#: Catch this tuple around a connection look-up to recognise a connection id that does not exist.
CONNECTION_NOT_FOUND = _connection_not_found()
#: The small constraints file users of this line install the package with (README, "Install").
INSTALL_CONSTRAINTS = "requirements/install-{}.{}.txt".format(*AIRFLOW_VERSION[:2])


def _secrets_backends() -> list[Any]:
    """The secrets backends a connection look-up in this process asks, in Airflow's order: the
    Task SDK's (Airflow 3: worker, triggerer or fallback chain, chosen by the process's context)
    or, on Airflow 2, the core's."""
    if AIRFLOW_3:
        from airflow.sdk.execution_time.supervisor import ensure_secrets_backend_loaded

        return list(ensure_secrets_backend_loaded())
    from airflow.configuration import ensure_secrets_loaded

    return list(ensure_secrets_loaded())


def connection_read_error(conn_id: str) -> tuple[str, BaseException] | None:
    """Why Airflow reported ``conn_id`` as not defined, if a secrets backend holds it but failed
    to read it.

    Airflow's look-up asks each backend in turn, logs and skips one that raises, then says the id
    "isn't defined": an ``AIRFLOW_CONN_*`` variable it cannot parse, or a Fernet it cannot build
    (Airflow <= 3.1 with cryptography >= 51), end as a missing connection. This asks the same
    backends again, only after such a miss: the first one that holds a value for the id
    (``get_conn_value``) but raises when making the connection of it is returned (its class name
    and the error). None when no backend holds one: the connection is absent (or, from a backend
    that cannot say, such as one that is down or the metastore, not known to exist)."""
    for backend in _secrets_backends():
        try:
            value = backend.get_conn_value(conn_id)
        except Exception:  # a backend that cannot say (not implemented, unreachable): not evidence
            continue
        if value is None:
            continue
        try:
            backend.get_connection(conn_id=conn_id)
        except Exception as err:
            return type(backend).__name__, err
    return None

_warned: set[str] = set()


def warn_unsupported(feature: Feature, owner: str) -> None:
    """Say once per process that ``feature`` is not available on this Airflow and what happens instead."""
    if feature.name in _warned:
        return
    _warned.add(feature.name)
    warnings.warn(
        f"{owner}: `{feature.name}` needs Airflow >= {feature.needs_text}; this is Airflow "
        f"{AIRFLOW_VERSION_TEXT}, so {feature.without_it}.",
        UserWarning,
        stacklevel=3,
    )


T = TypeVar("T")


def run_sync(func: Callable[..., T]) -> Callable[..., Awaitable[T]]:
    """Run blocking code (connection look-ups, STS) from a trigger without blocking its loop.

    Up to Airflow 3.1 the triggerer's channel to its supervisor is not thread-safe: a
    connection look-up from ``asyncio.to_thread`` talks to it from a second event loop and
    kills the triggerer ("Response read out of order"). asgiref's ``sync_to_async`` is what
    Airflow's own async hooks use, and is safe on every line.
    """
    return sync_to_async(func)


def query_memory(context: Any, owner: str) -> Any | None:
    """The store that outlives this try of the task (``get``/``set``/``delete``), or None.

    Below Airflow 3.3 there is none; a retry then says once that it starts anew.
    """
    if REATTACH.available:
        return context.get("task_state_store")
    ti = context.get("ti")
    if ti is not None and (getattr(ti, "try_number", None) or 1) > 1:
        warn_unsupported(REATTACH, owner)
    return None


def rescheduled_before(context: Any) -> bool:
    """Whether an earlier poke of this try rescheduled the sensor (so it saw the query pending).

    Airflow 3 puts ``task_reschedule_count`` in the context; Airflow 2 keeps the reschedules
    only in its ``task_reschedule`` table, which a 2.x worker can read.
    """
    count = context.get("task_reschedule_count")
    if count is not None:
        return bool(count)
    from airflow.models.taskreschedule import TaskReschedule
    from airflow.utils.session import create_session
    from sqlalchemy import func, select

    ti = context["ti"]
    with create_session() as session:
        recorded = session.scalar(
            select(func.count()).select_from(TaskReschedule).where(
                TaskReschedule.dag_id == ti.dag_id,
                TaskReschedule.task_id == ti.task_id,
                TaskReschedule.run_id == ti.run_id,
                TaskReschedule.map_index == ti.map_index,
                TaskReschedule.try_number == ti.try_number,
            )
        )
    return bool(recorded)


# -- the state of the task instance that deferred a trigger ----------------------------------


async def task_instance_state(trigger: Any) -> str | None:
    """The current state of the task instance that deferred ``trigger``, or None if unknown.

    A task instance without a state (cleared, not scheduled yet) answers ``"none"``. The
    triggerer sets ``trigger.task_instance`` before it runs a trigger. On Airflow 3 the
    state comes through the supervisor (the triggerer has no database access); on 2.x from
    the database. Any failure (including a cancellation of this very call) answers None:
    callers must treat "unknown" as "do not act".
    """
    ti = getattr(trigger, "task_instance", None)
    if ti is None:
        return None
    try:
        return await asyncio.wait_for(_read_state(ti), timeout=10)
    except asyncio.CancelledError:
        raise
    except Exception as err:  # reported; None makes the caller leave the query alone
        log.warning("Could not read the state of task %s: %s", _describe_ti(ti), err)
        return None


def _describe_ti(ti: Any) -> str:
    return f"{getattr(ti, 'dag_id', '?')}.{getattr(ti, 'task_id', '?')} (run {getattr(ti, 'run_id', '?')})"


async def _read_state(ti: Any) -> str | None:
    if AIRFLOW_3:
        return await run_sync(functools.partial(_read_state_airflow3, ti))()
    return await run_sync(functools.partial(_read_state_airflow2, ti))()


def _read_state_airflow3(ti: Any) -> str | None:
    from airflow.sdk.execution_time.task_runner import RuntimeTaskInstance

    states = RuntimeTaskInstance.get_task_states(
        dag_id=ti.dag_id, task_ids=[ti.task_id], run_ids=[ti.run_id], map_index=ti.map_index
    )
    # The execution API keys a mapped task instance as "<task_id>_<map_index>".
    key = ti.task_id if ti.map_index is None or ti.map_index < 0 else f"{ti.task_id}_{ti.map_index}"
    run_states = states.get(ti.run_id, {})
    if key not in run_states:
        return None
    return _state_text(run_states[key])


def _read_state_airflow2(ti: Any) -> str | None:
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        row = session.execute(
            select(TaskInstance.state).where(
                TaskInstance.dag_id == ti.dag_id,
                TaskInstance.task_id == ti.task_id,
                TaskInstance.run_id == ti.run_id,
                TaskInstance.map_index == ti.map_index,
            )
        ).first()
    return None if row is None else _state_text(row[0])


def _state_text(state: Any) -> str:
    """``TaskInstanceState.FAILED`` -> ``"failed"``; no state (cleared) -> ``"none"``."""
    return "none" if state is None else str(getattr(state, "value", state))


def task_states(dag_id: str, run_id: str) -> dict[str, str]:
    """Each task's state in one DAG run, from the metadata database (``dag.test()`` runs)."""
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session

    with create_session() as session:
        rows = session.query(TaskInstance.task_id, TaskInstance.state).filter(
            TaskInstance.dag_id == dag_id, TaskInstance.run_id == run_id).all()
        return {task_id: _state_text(state) for task_id, state in rows}


def read_xcom(dag_id: str, run_id: str, task_id: str, key: str = "return_value") -> Any:
    """One task's XCom, deserialized as a downstream task would read it: Airflow 3 keeps the
    value serialized in its ``XComModel`` row, Airflow 2's ``XCom.get_one`` deserializes it."""
    from airflow.utils.session import create_session

    with create_session() as session:
        if AIRFLOW_3:
            from airflow.models.xcom import XComModel  # type: ignore[attr-defined, unused-ignore]  # Airflow 3 only

            row = session.scalars(XComModel.get_many(run_id=run_id, key=key, task_ids=task_id,
                                                     dag_ids=dag_id)).first()
            return None if row is None else XComModel.deserialize_value(row)
        from airflow.models.xcom import XCom

        return XCom.get_one(run_id=run_id, key=key, task_id=task_id, dag_id=dag_id, session=session)
