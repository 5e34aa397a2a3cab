"""Trigger for CloudWatch Logs Insights queries."""

from __future__ import annotations

from airflow_querystatus.status import LOGS_INSIGHTS_QUERY
from airflow_querystatus.triggers.base import QueryStatusTrigger


class CloudWatchLogsInsightsQueryTrigger(QueryStatusTrigger):
    """Wait for a Logs Insights query (GetQueryResults) to reach Complete, Failed, Cancelled or Timeout.
    The event's ``response`` holds the status and statistics, not the rows.

    :param query_id: The id StartQuery returned.
    """

    spec = LOGS_INSIGHTS_QUERY
