"""Sensor for Athena Spark calculation executions."""

from __future__ import annotations

from typing import Any

from airflow_querystatus.sensors.base import QueryStatusSensor
from airflow_querystatus.status import ATHENA_CALCULATION_EXECUTION


class AthenaCalculationExecutionSensor(QueryStatusSensor):
    """Wait for an Athena Spark calculation to reach COMPLETED (fail on FAILED or CANCELED).

    State changes are logged with the calculation's Progress and DpuExecutionInMillis; a
    failure quotes AWS's StateChangeReason.

    :param calculation_execution_id: The id StartCalculationExecution returned. (templated)
    """

    spec = ATHENA_CALCULATION_EXECUTION

    def __init__(self, *, calculation_execution_id: str, **kwargs: Any) -> None:
        super().__init__(calculation_execution_id=calculation_execution_id, **kwargs)
