"""Internet Monitor: run a query with the operator; wait on another query id with the sensor.

Runs unchanged against AWS (connection ``aws_default``, ``params.monitor_name`` an existing
monitor) or against the project's emulator (``aws_default`` with ``endpoint_url`` set to it).
"""

from __future__ import annotations

import datetime

from airflow.providers.common.compat.sdk import DAG, Param, task

from airflow_querystatus.hooks.internet_monitor import InternetMonitorHook
from airflow_querystatus.operators.internet_monitor import InternetMonitorQueryOperator
from airflow_querystatus.sensors.internet_monitor import InternetMonitorQuerySensor

# Retry once: Airflow can mark a deferred task failed when its trigger fires within a second or two
# (apache/airflow #66374, #71580, #72716); a retried operator re-attaches to its query (Airflow >= 3.3).
RETRY_ONCE = {"retries": 1, "retry_delay": datetime.timedelta(seconds=5)}

WINDOW = {
    "start_time": "{{ (dag_run.start_date - macros.timedelta(days=1)).isoformat() }}",
    "end_time": "{{ dag_run.start_date.isoformat() }}",
}

with DAG(
    "example_internet_monitor",
    schedule=None,
    start_date=datetime.datetime(2026, 1, 1),
    catchup=False,
    default_args=RETRY_ONCE,
    params={"monitor_name": Param("demo-monitor", type="string")},
    tags=["querystatus", "example"],
):
    measurements = InternetMonitorQueryOperator(
        task_id="run_measurements_query",
        monitor_name="{{ params.monitor_name }}",
        query_type="MEASUREMENTS",
        deferrable=True,
        poll_interval=2,
        max_poll_interval=30,
        **WINDOW,
    )

    @task
    def start_top_locations_query(monitor_name: str) -> str:
        """A query started elsewhere (here by a plain task); the sensor below only waits on it."""
        end = datetime.datetime.now(datetime.timezone.utc)
        return InternetMonitorHook().conn.start_query(
            MonitorName=monitor_name, QueryType="TOP_LOCATIONS", StartTime=end - datetime.timedelta(days=1), EndTime=end
        )["QueryId"]

    query_id = start_top_locations_query("{{ params.monitor_name }}")
    wait = InternetMonitorQuerySensor(
        task_id="wait_top_locations_query",
        monitor_name="{{ params.monitor_name }}",
        query_id=query_id,
        deferrable=True,
        poll_interval=2,
        max_poll_interval=30,
        timeout=3600,
    )

    @task
    def report(rows: list[dict], status: dict) -> str:
        return f"{len(rows)} measurement rows; top-locations query {status.get('Status')}"

    report(measurements.output, wait.output)
