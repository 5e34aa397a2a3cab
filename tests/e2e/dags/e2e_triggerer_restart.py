"""Two deferred sensors that live through a triggerer restart (see test_airflow_e2e.py)."""

from __future__ import annotations

import datetime

from airflow.providers.common.compat.sdk import DAG

from airflow_querystatus.sensors.athena import AthenaCalculationExecutionSensor
from airflow_querystatus.sensors.internet_monitor import InternetMonitorQuerySensor

with DAG(
    "e2e_triggerer_restart",
    schedule=None,
    start_date=datetime.datetime(2026, 1, 1),
    catchup=False,
    params={"finishing_id": "", "never_id": ""},
):
    AthenaCalculationExecutionSensor(
        task_id="finishes_after_restart",
        calculation_execution_id="{{ params.finishing_id }}",
        deferrable=True,
        poll_interval=1,
        max_poll_interval=2,
        timeout=300,
    )
    InternetMonitorQuerySensor(
        task_id="times_out_on_original_deadline",
        monitor_name="e2e-monitor",
        query_id="{{ params.never_id }}",
        deferrable=True,
        poll_interval=1,
        max_poll_interval=2,
        timeout=20,
        retries=0,
    )
