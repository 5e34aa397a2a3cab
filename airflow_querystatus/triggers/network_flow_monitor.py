"""Triggers for Network Flow Monitor top-contributors queries."""

from __future__ import annotations

from airflow_querystatus.status import (
    NETWORK_FLOW_MONITOR_TOP_CONTRIBUTORS_QUERY,
    NETWORK_FLOW_MONITOR_WORKLOAD_INSIGHTS_DATA_QUERY,
    NETWORK_FLOW_MONITOR_WORKLOAD_INSIGHTS_QUERY,
)
from airflow_querystatus.triggers.base import QueryStatusTrigger


class NetworkFlowMonitorTopContributorsQueryTrigger(QueryStatusTrigger):
    """Wait for a monitor top-contributors query (GetQueryStatusMonitorTopContributors).

    :param monitor_name: The Network Flow Monitor monitor.
    :param query_id: The id StartQueryMonitorTopContributors returned.
    """

    spec = NETWORK_FLOW_MONITOR_TOP_CONTRIBUTORS_QUERY


class NetworkFlowMonitorWorkloadInsightsTopContributorsDataQueryTrigger(QueryStatusTrigger):
    """Wait for a workload-insights top-contributors data query
    (GetQueryStatusWorkloadInsightsTopContributorsData).

    :param scope_id: The scope (from CreateScope) the query runs in.
    :param query_id: The id StartQueryWorkloadInsightsTopContributorsData returned.
    """

    spec = NETWORK_FLOW_MONITOR_WORKLOAD_INSIGHTS_DATA_QUERY


class NetworkFlowMonitorWorkloadInsightsTopContributorsQueryTrigger(QueryStatusTrigger):
    """Wait for a workload-insights top-contributors query (GetQueryStatusWorkloadInsightsTopContributors).

    :param scope_id: The scope (from CreateScope) the query runs in.
    :param query_id: The id StartQueryWorkloadInsightsTopContributors returned.
    """

    spec = NETWORK_FLOW_MONITOR_WORKLOAD_INSIGHTS_QUERY
