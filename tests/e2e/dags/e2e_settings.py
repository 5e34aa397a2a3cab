"""Settings that only the real triggerer can prove (issue 20): a botocore ``Config`` object
crosses the trigger table to the triggerer, and a missing connection is named there."""

from __future__ import annotations

import datetime

from airflow.providers.common.compat.sdk import DAG
from botocore.config import Config

from airflow_querystatus.sensors.athena import AthenaCalculationExecutionSensor

WAIT = {"deferrable": True, "poll_interval": 1, "max_poll_interval": 2, "timeout": 120}

with DAG("e2e_settings", schedule=None, start_date=datetime.datetime(2026, 1, 1), catchup=False,
         params={"calculation_id": ""}):
    AthenaCalculationExecutionSensor(
        task_id="config_object_in_the_triggerer",
        calculation_execution_id="{{ params.calculation_id }}",
        botocore_config=Config(retries={"mode": "standard", "total_max_attempts": 2}, read_timeout=10),
        retries=1,  # Airflow can mark a deferred task failed when its trigger fires at once (see e2e_kill)
        retry_delay=datetime.timedelta(seconds=5),
        **WAIT,
    )
    AthenaCalculationExecutionSensor(
        task_id="missing_connection_in_the_triggerer",
        calculation_execution_id="{{ params.calculation_id }}",
        aws_conn_id="aws_e2e_missing",
        **WAIT,
    )
