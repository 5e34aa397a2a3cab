"""Trigger for Athena Spark calculation executions."""

from __future__ import annotations

from airflow_querystatus.status import ATHENA_CALCULATION_EXECUTION
from airflow_querystatus.triggers.base import QueryStatusTrigger


class AthenaCalculationExecutionTrigger(QueryStatusTrigger):
    """Wait for an Athena calculation (GetCalculationExecutionStatus) to reach COMPLETED,
    FAILED or CANCELED. CANCELING is still pending.

    :param calculation_execution_id: The id StartCalculationExecution returned.
    """

    spec = ATHENA_CALCULATION_EXECUTION
