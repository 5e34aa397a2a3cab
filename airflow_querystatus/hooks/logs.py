"""Hook for CloudWatch Logs Insights queries."""

from __future__ import annotations

from typing import Any

from airflow_querystatus.hooks.base import QueryStatusHook
from airflow_querystatus.status import LOGS_INSIGHTS_QUERY


class CloudWatchLogsInsightsHook(QueryStatusHook):
    """Interact with CloudWatch Logs Insights (boto3 client ``logs``)."""

    client_type_name = "logs"

    def get_query_results(self, query_id: str) -> dict[str, Any]:
        """GetQueryResults: ``status`` (Scheduled|Running|Complete|...), ``results``, ``statistics``."""
        return self.get_status(LOGS_INSIGHTS_QUERY, {"query_id": query_id})
