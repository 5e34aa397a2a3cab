"""CloudWatch Logs Insights: run a query with the operator; wait on another query id with the sensor.

Runs unchanged against AWS (connection ``aws_default``, ``params.log_group`` an existing log
group) or against the project's emulator (``aws_default`` with ``endpoint_url`` set to it).
"""

from __future__ import annotations

import datetime

from airflow.providers.common.compat.sdk import DAG, Param, task

from airflow_querystatus.hooks.logs import CloudWatchLogsInsightsHook
from airflow_querystatus.operators.logs import CloudWatchLogsInsightsQueryOperator
from airflow_querystatus.sensors.logs import CloudWatchLogsInsightsQuerySensor

# Retry once: Airflow can mark a deferred task failed when its trigger fires within a second or two
# (apache/airflow #66374, #71580, #72716); a retried operator re-attaches to its query (Airflow >= 3.3).
RETRY_ONCE = {"retries": 1, "retry_delay": datetime.timedelta(seconds=5)}

with DAG(
    "example_logs_insights",
    schedule=None,
    start_date=datetime.datetime(2026, 1, 1),
    catchup=False,
    default_args=RETRY_ONCE,
    params={"log_group": Param("/demo/app", type="string")},
    tags=["querystatus", "example"],
):
    errors = CloudWatchLogsInsightsQueryOperator(
        task_id="find_errors",
        log_groups=["{{ params.log_group }}"],
        query_string="fields @timestamp, @message | filter @message like /ERROR/ | sort @timestamp desc",
        start_time="{{ (dag_run.start_date - macros.timedelta(hours=1)).isoformat() }}",
        end_time="{{ dag_run.start_date.isoformat() }}",
        limit=100,
        deferrable=True,
        poll_interval=2,
        max_poll_interval=30,
    )

    @task
    def start_count_query(log_group: str) -> str:
        """A query started elsewhere (here by a plain task); the sensor below only waits on it."""
        end = int(datetime.datetime.now(datetime.timezone.utc).timestamp())
        return CloudWatchLogsInsightsHook().conn.start_query(
            logGroupIdentifiers=[log_group], queryString="stats count(*) by bin(5m)", startTime=end - 3600, endTime=end
        )["queryId"]

    wait = CloudWatchLogsInsightsQuerySensor(
        task_id="wait_count_query",
        query_id=start_count_query("{{ params.log_group }}"),
        deferrable=True,
        poll_interval=2,
        max_poll_interval=30,
        timeout=3600,
    )

    @task
    def report(result: dict, status: dict) -> str:
        return f"{len(result['rows'])} error rows; count query {status['status']} ({status.get('statistics')})"

    report(errors.output, wait.output)
