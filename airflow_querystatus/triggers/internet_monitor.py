"""Trigger for CloudWatch Internet Monitor queries."""

from __future__ import annotations

from typing import Any

from airflow_querystatus.status import INTERNET_MONITOR_QUERY
from airflow_querystatus.triggers.base import QueryStatusTrigger


class InternetMonitorQueryTrigger(QueryStatusTrigger):
    """Wait for an Internet Monitor query (GetQueryStatus) to reach SUCCEEDED, FAILED or CANCELED.

    :param monitor_name: The monitor the query was started on.
    :param query_id: The id StartQuery returned (opaque; never parsed).

    Other arguments: see :class:`~airflow_querystatus.triggers.base.QueryStatusTrigger`.
    """

    spec = INTERNET_MONITOR_QUERY

    def __init__(self, *, monitor_name: str, query_id: str, **kwargs: Any) -> None:
        super().__init__(identifiers={"monitor_name": monitor_name, "query_id": query_id}, **kwargs)
