"""The same wait twice: deferred from a worker, and started straight in the triggerer."""

from __future__ import annotations

import datetime

from airflow.providers.common.compat.sdk import DAG

from airflow_querystatus.sensors.athena import AthenaCalculationExecutionSensor

with DAG("e2e_start_from_trigger", schedule=None, start_date=datetime.datetime(2026, 1, 1), catchup=False,
         params={"calculation_id": ""}):
    AthenaCalculationExecutionSensor(
        task_id="deferred_from_worker",
        calculation_execution_id="{{ params.calculation_id }}",
        deferrable=True,
        poll_interval=1,
        max_poll_interval=2,
        timeout=120,
    )
    AthenaCalculationExecutionSensor(
        task_id="started_from_trigger",
        calculation_execution_id="{{ params.calculation_id }}",
        deferrable=True,
        start_from_trigger=True,
        poll_interval=1,
        max_poll_interval=2,
        timeout=120,
    )
