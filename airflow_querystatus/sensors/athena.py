"""Sensor for Athena Spark calculation executions."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow.providers.amazon.aws.utils.mixins import aws_template_fields

from airflow_querystatus.hooks.athena import AthenaCalculationHook
from airflow_querystatus.sensors.base import QueryStatusSensor
from airflow_querystatus.status import ATHENA_CALCULATION_EXECUTION
from airflow_querystatus.triggers.athena import AthenaCalculationExecutionTrigger


class AthenaCalculationExecutionSensor(QueryStatusSensor):
    """Wait for an Athena Spark calculation to reach COMPLETED (fail on FAILED or CANCELED).

    State changes are logged with the calculation's Progress and DpuExecutionInMillis; a
    failure quotes AWS's StateChangeReason.

    :param calculation_execution_id: The id StartCalculationExecution returned. (templated)
    """

    spec = ATHENA_CALCULATION_EXECUTION
    trigger_class = AthenaCalculationExecutionTrigger
    aws_hook_class = AthenaCalculationHook
    template_fields: Sequence[str] = aws_template_fields("calculation_execution_id")

    def __init__(self, *, calculation_execution_id: str, **kwargs: Any) -> None:
        super().__init__(identifiers={"calculation_execution_id": calculation_execution_id}, **kwargs)
