"""Sensor for CloudWatch Internet Monitor queries."""

from __future__ import annotations

from typing import Any

from airflow_querystatus.sensors.base import QueryStatusSensor
from airflow_querystatus.status import INTERNET_MONITOR_QUERY


class InternetMonitorQuerySensor(QueryStatusSensor):
    """Wait for an Internet Monitor query to reach SUCCEEDED (fail on FAILED or CANCELED).

    :param monitor_name: The monitor the query was started on. (templated)
    :param query_id: The id StartQuery returned. (templated)

    Other arguments: see :class:`~airflow_querystatus.sensors.base.QueryStatusSensor`.
    """

    spec = INTERNET_MONITOR_QUERY

    def __init__(self, *, monitor_name: str, query_id: str, **kwargs: Any) -> None:
        super().__init__(monitor_name=monitor_name, query_id=query_id, **kwargs)
