"""A DAG of yours that waits on a CloudWatch Logs Insights query (its id given as a param)."""

from __future__ import annotations

import pendulum

try:
    from airflow.sdk import DAG
except ImportError:  # Airflow 2.11
    from airflow import DAG

from airflow_querystatus.sensors.logs import CloudWatchLogsInsightsQuerySensor

with DAG("logs_dag", schedule=None, start_date=pendulum.datetime(2026, 1, 1), params={"query_id": ""}) as dag:
    CloudWatchLogsInsightsQuerySensor(
        task_id="wait_for_insights",
        query_id="{{ params.query_id }}",
        poll_interval=10, max_poll_interval=60,
        timeout=3600,
    )
