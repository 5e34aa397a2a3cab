"""Hook for CloudWatch Internet Monitor queries."""

from __future__ import annotations

from typing import Any

from airflow_querystatus.hooks.base import QueryStatusHook
from airflow_querystatus.status import INTERNET_MONITOR_QUERY


class InternetMonitorHook(QueryStatusHook):
    """Interact with CloudWatch Internet Monitor (boto3 client ``internetmonitor``).

    Additional arguments (such as ``aws_conn_id``) may be specified and are passed down to
    the underlying ``AwsBaseHook``.
    """

    client_type_name = "internetmonitor"

    def get_query_status(self, monitor_name: str, query_id: str) -> dict[str, Any]:
        """GetQueryStatus: ``{"Status": "QUEUED|RUNNING|SUCCEEDED|FAILED|CANCELED"}``."""
        return self.get_status(INTERNET_MONITOR_QUERY, {"monitor_name": monitor_name, "query_id": query_id})
