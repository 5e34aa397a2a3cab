"""Trigger for CloudWatch Internet Monitor queries."""

from __future__ import annotations

from airflow_querystatus.status import INTERNET_MONITOR_QUERY
from airflow_querystatus.triggers.base import QueryStatusTrigger


class InternetMonitorQueryTrigger(QueryStatusTrigger):
    """Wait for an Internet Monitor query (GetQueryStatus) to reach SUCCEEDED, FAILED or CANCELED.

    :param monitor_name: The monitor the query was started on.
    :param query_id: The id StartQuery returned (opaque; never parsed).

    Other arguments: see :class:`~airflow_querystatus.triggers.base.QueryStatusTrigger`.
    """

    spec = INTERNET_MONITOR_QUERY
