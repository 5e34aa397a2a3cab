"""Sensors for Network Flow Monitor top-contributors queries."""

from __future__ import annotations

from typing import Any

from airflow_querystatus.sensors.base import QueryStatusSensor
from airflow_querystatus.status import (
    NETWORK_FLOW_MONITOR_TOP_CONTRIBUTORS_QUERY,
    NETWORK_FLOW_MONITOR_WORKLOAD_INSIGHTS_DATA_QUERY,
    NETWORK_FLOW_MONITOR_WORKLOAD_INSIGHTS_QUERY,
)


class NetworkFlowMonitorTopContributorsQuerySensor(QueryStatusSensor):
    """Wait for a monitor top-contributors query to reach SUCCEEDED.

    :param monitor_name: The Network Flow Monitor monitor. (templated)
    :param query_id: The id StartQueryMonitorTopContributors returned. (templated)
    """

    spec = NETWORK_FLOW_MONITOR_TOP_CONTRIBUTORS_QUERY

    def __init__(self, *, monitor_name: str, query_id: str, **kwargs: Any) -> None:
        super().__init__(monitor_name=monitor_name, query_id=query_id, **kwargs)


class _ScopeQuerySensor(QueryStatusSensor):
    """A workload-insights query runs in a scope: its sensors take ``scope_id`` and ``query_id``."""

    def __init__(self, *, scope_id: str, query_id: str, **kwargs: Any) -> None:
        super().__init__(scope_id=scope_id, query_id=query_id, **kwargs)


class NetworkFlowMonitorWorkloadInsightsTopContributorsDataQuerySensor(_ScopeQuerySensor):
    """Wait for a workload-insights top-contributors data query to reach SUCCEEDED.

    :param scope_id: The scope (from CreateScope) the query runs in. (templated)
    :param query_id: The id StartQueryWorkloadInsightsTopContributorsData returned. (templated)
    """

    spec = NETWORK_FLOW_MONITOR_WORKLOAD_INSIGHTS_DATA_QUERY


class NetworkFlowMonitorWorkloadInsightsTopContributorsQuerySensor(_ScopeQuerySensor):
    """Wait for a workload-insights top-contributors query to reach SUCCEEDED.

    :param scope_id: The scope (from CreateScope) the query runs in. (templated)
    :param query_id: The id StartQueryWorkloadInsightsTopContributors returned. (templated)
    """

    spec = NETWORK_FLOW_MONITOR_WORKLOAD_INSIGHTS_QUERY
