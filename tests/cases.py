"""One row per supported operation: how to plant a query in the emulator and build its sensor."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from airflow_querystatus.emulator import Emulator, Query
from airflow_querystatus.sensors.athena import AthenaCalculationExecutionSensor
from airflow_querystatus.sensors.base import QueryStatusSensor
from airflow_querystatus.sensors.internet_monitor import InternetMonitorQuerySensor
from airflow_querystatus.sensors.neptune import NeptuneOpenCypherQuerySensor
from airflow_querystatus.sensors.network_flow_monitor import (
    NetworkFlowMonitorTopContributorsQuerySensor,
    NetworkFlowMonitorWorkloadInsightsTopContributorsDataQuerySensor,
)

#: Fast polling and no botocore-level retries, so each test exercises our own engine.
FAST: dict[str, Any] = {
    "poll_interval": 0.05,
    "max_poll_interval": 0.05,
    "timeout": 30,
    "botocore_config": {"retries": {"total_max_attempts": 1}},
}


@dataclass(frozen=True)
class Case:
    name: str
    kind: str
    sensor_cls: type[QueryStatusSensor]
    scope: dict[str, str] = field(default_factory=dict)
    id_arg: str = "query_id"
    state_key: tuple[str, ...] = ("status",)
    pending: str = "RUNNING"
    success: str = "SUCCEEDED"
    failure: str = "FAILED"
    reason: str | None = None

    def plant(self, emulator: Emulator, steps: list[Any], **kwargs: Any) -> Query:
        return emulator.add_query(self.kind, self.scope, steps=steps, **kwargs)

    def sensor(self, query_id: str, **kwargs: Any) -> QueryStatusSensor:
        args = {**FAST, **kwargs}
        args.setdefault("task_id", f"wait_{self.name}_{uuid.uuid4().hex[:6]}")
        return self.sensor_cls(**{self.id_arg: query_id}, **self.scope, **args)

    def success_steps(self) -> list[Any]:
        return [(self.pending, 2), self.success]

    def failure_steps(self) -> list[Any]:
        if self.name == "neptune":
            return [(self.pending, 1), ("CANCELLED", 5), "CANCELLED_GONE"]
        final: dict[str, Any] = {"state": self.failure}
        if self.reason:
            final["reason"] = self.reason
        return [(self.pending, 1), final]


CASES = [
    Case("internet_monitor", "internet_monitor", InternetMonitorQuerySensor, {"monitor_name": "web-monitor"}),
    Case(
        "nfm_top_contributors",
        "network_flow_monitor_top_contributors",
        NetworkFlowMonitorTopContributorsQuerySensor,
        {"monitor_name": "vpc-monitor"},
    ),
    Case(
        "nfm_workload_insights_data",
        "network_flow_monitor_workload_insights_data",
        NetworkFlowMonitorWorkloadInsightsTopContributorsDataQuerySensor,
        {"scope_id": "e21cda79-30a0-4c12-9299-d8629d76d8cf"},
    ),
    Case(
        "neptune",
        "neptune_open_cypher",
        NeptuneOpenCypherQuerySensor,
        success="FINISHED",
        failure="CANCELLED",
    ),
    Case(
        "athena",
        "athena_calculation",
        AthenaCalculationExecutionSensor,
        id_arg="calculation_execution_id",
        success="COMPLETED",
        reason="Py4JJavaError: division by zero",
    ),
]
CASE_IDS = [c.name for c in CASES]
MODES = ["poke", "reschedule", "deferrable"]


def mode_kwargs(mode: str) -> dict[str, Any]:
    if mode == "deferrable":
        return {"deferrable": True}
    return {"deferrable": False, "mode": mode}
