"""The same wait twice: deferred from a worker, and started straight in the triggerer."""

from __future__ import annotations

import datetime

from airflow.providers.common.compat.sdk import DAG

from airflow_querystatus.sensors.athena import AthenaCalculationExecutionSensor

# Retry once: Airflow can mark a deferred task failed when its trigger fires within a second or two
# (apache/airflow #66374, #71580, #72716); a retried operator re-attaches to its query (Airflow >= 3.3).
RETRY_ONCE = {"retries": 1, "retry_delay": datetime.timedelta(seconds=5)}

with DAG("e2e_start_from_trigger", schedule=None, start_date=datetime.datetime(2026, 1, 1), catchup=False,
         default_args=RETRY_ONCE, params={"calculation_id": ""}):
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
