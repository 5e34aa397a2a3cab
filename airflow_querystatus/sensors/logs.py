"""Sensor for CloudWatch Logs Insights queries."""

from __future__ import annotations

from typing import Any

from airflow_querystatus.sensors.base import QueryStatusSensor
from airflow_querystatus.status import LOGS_INSIGHTS_QUERY


class CloudWatchLogsInsightsQuerySensor(QueryStatusSensor):
    """Wait for a Logs Insights query to reach Complete (fail on Failed, Cancelled or Timeout).

    Returns GetQueryResults' ``status`` and ``statistics``, without the rows (read them with
    GetQueryResults, or run the query with ``CloudWatchLogsInsightsQueryOperator``). Each poll asks
    for one row at most (``maxItems=1``), so polls stay small however many rows the query finds.

    :param query_id: The id StartQuery returned. (templated)
    """

    spec = LOGS_INSIGHTS_QUERY

    def __init__(self, *, query_id: str, **kwargs: Any) -> None:
        super().__init__(query_id=query_id, **kwargs)
