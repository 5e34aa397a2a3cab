"""One case per operation in the registry: how to plant a query in the emulator and build its sensor.

Derived from ``airflow_querystatus.status.SPECS``, so a new operation is covered by every
scenario of tests/test_sensor_outcomes.py as soon as it is declared.
"""

from __future__ import annotations

import importlib
import uuid
from dataclasses import dataclass, field
from typing import Any

import pytest

from airflow_querystatus.emulator import Emulator, Query
from airflow_querystatus.emulator.catalogue import CATALOGUE, emulated_specs, failure_state, success_state
from airflow_querystatus.emulator.examples import EXAMPLES
from airflow_querystatus.operators.base import QueryOperator
from airflow_querystatus.sensors.base import QueryStatusSensor
from airflow_querystatus.status import SERVICES, StatusSpec
from airflow_querystatus.triggers.base import QueryStatusTrigger

#: Fast polling and no botocore-level retries, so each test exercises our own engine.
FAST: dict[str, Any] = {
    "poll_interval": 0.05,
    "max_poll_interval": 0.05,
    "timeout": 30,
    "botocore_config": {"retries": {"total_max_attempts": 1}},
}


def class_for(spec: StatusSpec, kind: str, base: type) -> Any:
    """The public class of ``spec`` in ``airflow_querystatus.<kind>.<service module>``."""
    module = importlib.import_module(f"airflow_querystatus.{kind}.{SERVICES[spec.service].module}")
    (cls,) = [c for c in vars(module).values()
              if isinstance(c, type) and issubclass(c, base) and c.__module__ == module.__name__
              and c.__dict__.get("spec") is spec]
    return cls


@dataclass(frozen=True)
class Case:
    name: str
    kind: str
    sensor_cls: type[QueryStatusSensor]
    scope: dict[str, str] = field(default_factory=dict)
    id_arg: str = "query_id"
    pending: str = "RUNNING"
    success: str = "SUCCEEDED"
    failure: str = "FAILED"
    reason: str | None = None
    #: Scripted failure, when the operation's failure is more than one state (Neptune).
    failure_script: tuple[Any, ...] = ()

    @classmethod
    def of(cls, spec: StatusSpec) -> Case:
        behaviour = CATALOGUE[spec.key]
        return cls(
            name=spec.key,
            kind=spec.key,
            sensor_cls=class_for(spec, "sensors", QueryStatusSensor),
            scope=dict(EXAMPLES[spec.key].scope),
            id_arg=spec.identifiers[-1].name,
            pending="RUNNING" if "RUNNING" in spec.pending_states else sorted(spec.pending_states)[0],
            success=success_state(spec),
            failure=failure_state(spec),
            reason=behaviour.reason,
            failure_script=behaviour.failure,
        )

    @property
    def spec(self) -> StatusSpec:
        return self.sensor_cls.spec

    @property
    def vanishes(self) -> bool:
        """A finished query is no longer known (Neptune): success carries no state of its own."""
        return bool(self.spec.vanished_codes)

    def plant(self, emulator: Emulator, steps: list[Any], **kwargs: Any) -> Query:
        return emulator.add_query(self.kind, self.scope, steps=steps, **kwargs)

    def sensor(self, query_id: str, **kwargs: Any) -> QueryStatusSensor:
        args = {**FAST, **kwargs}
        args.setdefault("task_id", f"wait_{self.name}_{uuid.uuid4().hex[:6]}")
        return self.sensor_cls(**{self.id_arg: query_id}, **self.scope, **args)

    def success_steps(self) -> list[Any]:
        return [(self.pending, 2), self.success]

    def failure_steps(self) -> list[Any]:
        if self.failure_script:
            return list(self.failure_script)
        final: dict[str, Any] = {"state": self.failure}
        if self.reason:
            final["reason"] = self.reason
        return [(self.pending, 1), final]


CASES = [Case.of(spec) for spec in emulated_specs()]
CASE_IDS = [c.name for c in CASES]
#: Deferrable mode waits in a trigger, whose status polls ``[querystatus] prepared_status_calls``
#: changes: CI runs those cases again with the option off (``prepared_sensitive``).
DEFERRABLE = pytest.param("deferrable", marks=pytest.mark.prepared_sensitive, id="deferrable")
MODES = ["poke", "reschedule", DEFERRABLE]
#: An operator's ``deferrable`` argument, both ways (``True`` waits in a trigger).
DEFERRABLE_OR_NOT = [False, pytest.param(True, marks=pytest.mark.prepared_sensitive, id="True")]


def mode_kwargs(mode: str) -> dict[str, Any]:
    if mode == "deferrable":
        return {"deferrable": True}
    return {"deferrable": False, "mode": mode}


def trigger_class(spec: StatusSpec) -> type[QueryStatusTrigger]:
    cls: type[QueryStatusTrigger] = class_for(spec, "triggers", QueryStatusTrigger)
    return cls


def operator_class(spec: StatusSpec) -> type[QueryOperator]:
    cls: type[QueryOperator] = class_for(spec, "operators", QueryOperator)
    return cls
