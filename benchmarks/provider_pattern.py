"""The amazon provider's pattern for a deferred wait: the triggerer-scale benchmark's ``provider``.

A module of its own, imported only by the benchmark's child processes after they have measured
their imports (``import_cpu_s``, the same in every scenario): the parent must not import the
amazon provider, and a class cannot be defined before the modules it derives from are loaded.
"""

from __future__ import annotations

from typing import Any

from airflow.providers.amazon.aws.hooks.athena import AthenaHook
from airflow.providers.amazon.aws.triggers.base import AwsBaseWaiterTrigger


class ProviderCalculationTrigger(AwsBaseWaiterTrigger):
    """An ``AwsBaseWaiterTrigger`` on the provider's ``calculation_complete`` waiter, one client per trigger."""

    def __init__(self, calculation_execution_id: str, **kwargs: Any) -> None:
        super().__init__(
            serialized_fields={"calculation_execution_id": calculation_execution_id},
            waiter_name="calculation_complete",
            waiter_args={"CalculationExecutionId": calculation_execution_id},
            failure_message="calculation failed",
            status_message="calculation status",
            status_queries=["Status.State"],
            return_key="calculation_execution_id",
            return_value=calculation_execution_id,
            **kwargs,
        )

    def hook(self) -> AthenaHook:
        return AthenaHook(aws_conn_id=self.aws_conn_id, region_name=self.region_name, verify=self.verify)
