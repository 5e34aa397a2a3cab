"""Two deferred sensors that live through a triggerer restart (see test_airflow_e2e.py)."""

from __future__ import annotations

import datetime

from airflow.providers.common.compat.sdk import DAG

from airflow_querystatus.sensors.athena import AthenaCalculationExecutionSensor
from airflow_querystatus.sensors.internet_monitor import InternetMonitorQuerySensor

# Retry once: Airflow can mark a deferred task failed when its trigger fires within a second or two
# (apache/airflow #66374, #71580, #72716); a retried operator re-attaches to its query (Airflow >= 3.3).
RETRY_ONCE = {"retries": 1, "retry_delay": datetime.timedelta(seconds=5)}

with DAG(
    "e2e_triggerer_restart",
    schedule=None,
    start_date=datetime.datetime(2026, 1, 1),
    catchup=False,
    default_args=RETRY_ONCE,
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
