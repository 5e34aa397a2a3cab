"""Trigger for Athena Spark calculation executions."""

from __future__ import annotations

from typing import Any

from airflow_querystatus.status import ATHENA_CALCULATION_EXECUTION
from airflow_querystatus.triggers.base import QueryStatusTrigger


class AthenaCalculationExecutionTrigger(QueryStatusTrigger):
    """Wait for an Athena calculation (GetCalculationExecutionStatus) to reach COMPLETED,
    FAILED or CANCELED. CANCELING is still pending.

    :param calculation_execution_id: The id StartCalculationExecution returned.
    """

    spec = ATHENA_CALCULATION_EXECUTION

    def __init__(self, *, calculation_execution_id: str, **kwargs: Any) -> None:
        super().__init__(identifiers={"calculation_execution_id": calculation_execution_id}, **kwargs)
