"""Sensors for Network Flow Monitor top-contributors queries."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow.providers.amazon.aws.utils.mixins import aws_template_fields

from airflow_querystatus.hooks.network_flow_monitor import NetworkFlowMonitorHook
from airflow_querystatus.sensors.base import QueryStatusSensor
from airflow_querystatus.status import (
    NETWORK_FLOW_MONITOR_TOP_CONTRIBUTORS_QUERY,
    NETWORK_FLOW_MONITOR_WORKLOAD_INSIGHTS_DATA_QUERY,
    NETWORK_FLOW_MONITOR_WORKLOAD_INSIGHTS_QUERY,
)
from airflow_querystatus.triggers.network_flow_monitor import (
    NetworkFlowMonitorTopContributorsQueryTrigger,
    NetworkFlowMonitorWorkloadInsightsTopContributorsDataQueryTrigger,
    NetworkFlowMonitorWorkloadInsightsTopContributorsQueryTrigger,
)


class NetworkFlowMonitorTopContributorsQuerySensor(QueryStatusSensor):
    """Wait for a monitor top-contributors query to reach SUCCEEDED.

    :param monitor_name: The Network Flow Monitor monitor. (templated)
    :param query_id: The id StartQueryMonitorTopContributors returned. (templated)
    """

    spec = NETWORK_FLOW_MONITOR_TOP_CONTRIBUTORS_QUERY
    trigger_class = NetworkFlowMonitorTopContributorsQueryTrigger
    aws_hook_class = NetworkFlowMonitorHook
    template_fields: Sequence[str] = aws_template_fields("monitor_name", "query_id")

    def __init__(self, *, monitor_name: str, query_id: str, **kwargs: Any) -> None:
        super().__init__(identifiers={"monitor_name": monitor_name, "query_id": query_id}, **kwargs)


class NetworkFlowMonitorWorkloadInsightsTopContributorsDataQuerySensor(QueryStatusSensor):
    """Wait for a workload-insights top-contributors data query to reach SUCCEEDED.

    :param scope_id: The scope (from CreateScope) the query runs in. (templated)
    :param query_id: The id StartQueryWorkloadInsightsTopContributorsData returned. (templated)
    """

    spec = NETWORK_FLOW_MONITOR_WORKLOAD_INSIGHTS_DATA_QUERY
    trigger_class = NetworkFlowMonitorWorkloadInsightsTopContributorsDataQueryTrigger
    aws_hook_class = NetworkFlowMonitorHook
    template_fields: Sequence[str] = aws_template_fields("scope_id", "query_id")

    def __init__(self, *, scope_id: str, query_id: str, **kwargs: Any) -> None:
        super().__init__(identifiers={"scope_id": scope_id, "query_id": query_id}, **kwargs)


class NetworkFlowMonitorWorkloadInsightsTopContributorsQuerySensor(QueryStatusSensor):
    """Wait for a workload-insights top-contributors query to reach SUCCEEDED.

    :param scope_id: The scope (from CreateScope) the query runs in. (templated)
    :param query_id: The id StartQueryWorkloadInsightsTopContributors returned. (templated)
    """

    spec = NETWORK_FLOW_MONITOR_WORKLOAD_INSIGHTS_QUERY
    trigger_class = NetworkFlowMonitorWorkloadInsightsTopContributorsQueryTrigger
    aws_hook_class = NetworkFlowMonitorHook
    template_fields: Sequence[str] = aws_template_fields("scope_id", "query_id")
