"""Hook for Network Flow Monitor top-contributors queries."""

from __future__ import annotations

from typing import Any

from airflow_querystatus.hooks.base import QueryStatusHook
from airflow_querystatus.status import (
    NETWORK_FLOW_MONITOR_TOP_CONTRIBUTORS_QUERY,
    NETWORK_FLOW_MONITOR_WORKLOAD_INSIGHTS_DATA_QUERY,
    NETWORK_FLOW_MONITOR_WORKLOAD_INSIGHTS_QUERY,
)


class NetworkFlowMonitorHook(QueryStatusHook):
    """Interact with Network Flow Monitor (boto3 client ``networkflowmonitor``).

    Its endpoints are dual-stack only (``networkflowmonitor.<region>.api.aws``); botocore
    resolves them, or the connection's ``endpoint_url`` overrides them.
    """

    client_type_name = "networkflowmonitor"

    def get_query_status_monitor_top_contributors(self, monitor_name: str, query_id: str) -> dict[str, Any]:
        return self.get_status(
            NETWORK_FLOW_MONITOR_TOP_CONTRIBUTORS_QUERY, {"monitor_name": monitor_name, "query_id": query_id}
        )

    def get_query_status_workload_insights_top_contributors_data(
        self, scope_id: str, query_id: str
    ) -> dict[str, Any]:
        return self.get_status(
            NETWORK_FLOW_MONITOR_WORKLOAD_INSIGHTS_DATA_QUERY, {"scope_id": scope_id, "query_id": query_id}
        )

    def get_query_status_workload_insights_top_contributors(self, scope_id: str, query_id: str) -> dict[str, Any]:
        ids = {"scope_id": scope_id, "query_id": query_id}
        return self.get_status(NETWORK_FLOW_MONITOR_WORKLOAD_INSIGHTS_QUERY, ids)
