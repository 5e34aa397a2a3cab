"""A DAG of yours: it waits on an Internet Monitor query whose id it is given as a param.

Its intervals are production ones; its tests run fast anyway (``querystatus_fast_polls`` in
pytest.ini).
"""

from __future__ import annotations

import pendulum

try:
    from airflow.sdk import DAG
except ImportError:  # Airflow 2.11
    from airflow import DAG

from airflow_querystatus.sensors.internet_monitor import InternetMonitorQuerySensor

with DAG("my_dag", schedule=None, start_date=pendulum.datetime(2026, 1, 1), params={"query_id": ""}) as dag:
    InternetMonitorQuerySensor(
        task_id="wait_for_query",
        monitor_name="web-monitor",
        query_id="{{ params.query_id }}",
        poll_interval=30, max_poll_interval=300,
        timeout=6 * 3600,
    )
