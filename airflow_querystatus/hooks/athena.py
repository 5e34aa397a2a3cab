"""Hook for Athena Spark calculation executions."""

from __future__ import annotations

from typing import Any

from airflow_querystatus.hooks.base import QueryStatusHook
from airflow_querystatus.status import ATHENA_CALCULATION_EXECUTION


class AthenaCalculationHook(QueryStatusHook):
    """Interact with Athena Spark calculations (boto3 client ``athena``).

    The amazon provider's ``AthenaHook`` covers SQL queries and its waiters poll
    GetCalculationExecution; this hook polls the lighter GetCalculationExecutionStatus.
    """

    client_type_name = "athena"

    def get_calculation_execution_status(self, calculation_execution_id: str) -> dict[str, Any]:
        return self.get_status(
            ATHENA_CALCULATION_EXECUTION, {"calculation_execution_id": calculation_execution_id}
        )
