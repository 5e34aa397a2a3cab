"""Network Flow Monitor: both top-contributors query families, operator and sensor."""

from __future__ import annotations

import datetime

from airflow.providers.common.compat.sdk import DAG, Param, task

from airflow_querystatus.hooks.network_flow_monitor import NetworkFlowMonitorHook
from airflow_querystatus.operators.network_flow_monitor import (
    NetworkFlowMonitorTopContributorsQueryOperator,
    NetworkFlowMonitorWorkloadInsightsTopContributorsDataQueryOperator,
    NetworkFlowMonitorWorkloadInsightsTopContributorsQueryOperator,
)
from airflow_querystatus.sensors.network_flow_monitor import NetworkFlowMonitorTopContributorsQuerySensor

# Retry once: Airflow can mark a deferred task failed when its trigger fires within a second or two
# (apache/airflow #66374, #71580, #72716); a retried operator re-attaches to its query (Airflow >= 3.3).
RETRY_ONCE = {"retries": 1, "retry_delay": datetime.timedelta(seconds=5)}

WINDOW = {
    "start_time": "{{ (dag_run.start_date - macros.timedelta(hours=3)).isoformat() }}",
    "end_time": "{{ dag_run.start_date.isoformat() }}",
}

with DAG(
    "example_network_flow_monitor",
    schedule=None,
    start_date=datetime.datetime(2026, 1, 1),
    catchup=False,
    default_args=RETRY_ONCE,
    params={
        "monitor_name": Param("demo-vpc-monitor", type="string"),
        "scope_id": Param("e21cda79-30a0-4c12-9299-d8629d76d8cf", type="string"),
    },
    tags=["querystatus", "example"],
):
    top = NetworkFlowMonitorTopContributorsQueryOperator(
        task_id="top_talkers_by_bytes",
        monitor_name="{{ params.monitor_name }}",
        metric_name="DATA_TRANSFERRED",
        destination_category="INTER_AZ",
        limit=20,
        deferrable=True,
        poll_interval=2,
        **WINDOW,
    )
    workload = NetworkFlowMonitorWorkloadInsightsTopContributorsDataQueryOperator(
        task_id="workload_timeouts",
        scope_id="{{ params.scope_id }}",
        metric_name="TIMEOUTS",
        destination_category="INTRA_AZ",
        deferrable=True,
        poll_interval=2,
        **WINDOW,
    )
    workload_top = NetworkFlowMonitorWorkloadInsightsTopContributorsQueryOperator(
        task_id="workload_top_retransmitters",
        scope_id="{{ params.scope_id }}",
        metric_name="RETRANSMISSIONS",
        destination_category="INTER_VPC",
        limit=10,
        deferrable=True,
        poll_interval=2,
        **WINDOW,
    )

    @task
    def start_retransmissions_query(monitor_name: str) -> str:
        end = datetime.datetime.now(datetime.timezone.utc)
        return NetworkFlowMonitorHook().conn.start_query_monitor_top_contributors(
            monitorName=monitor_name, startTime=end - datetime.timedelta(hours=1), endTime=end,
            metricName="RETRANSMISSIONS", destinationCategory="INTRA_AZ",
        )["queryId"]

    wait = NetworkFlowMonitorTopContributorsQuerySensor(
        task_id="wait_retransmissions_query",
        monitor_name="{{ params.monitor_name }}",
        query_id=start_retransmissions_query("{{ params.monitor_name }}"),
        deferrable=True,
        poll_interval=2,
        timeout=3600,
    )

    @task
    def report(top: dict, workload: dict, workload_top: dict, status: dict) -> str:
        return (f"{len(top['topContributors'])} top contributors ({top['unit']}), "
                f"{len(workload['datapoints'])} workload datapoints, "
                f"{len(workload_top['topContributors'])} workload top contributors, "
                f"retransmissions query {status['status']}")

    report(top.output, workload.output, workload_top.output, wait.output)
