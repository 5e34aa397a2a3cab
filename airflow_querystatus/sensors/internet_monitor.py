"""Sensor for CloudWatch Internet Monitor queries."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow.providers.amazon.aws.utils.mixins import aws_template_fields

from airflow_querystatus.hooks.internet_monitor import InternetMonitorHook
from airflow_querystatus.sensors.base import QueryStatusSensor
from airflow_querystatus.status import INTERNET_MONITOR_QUERY
from airflow_querystatus.triggers.internet_monitor import InternetMonitorQueryTrigger


class InternetMonitorQuerySensor(QueryStatusSensor):
    """Wait for an Internet Monitor query to reach SUCCEEDED (fail on FAILED or CANCELED).

    :param monitor_name: The monitor the query was started on. (templated)
    :param query_id: The id StartQuery returned. (templated)

    Other arguments: see :class:`~airflow_querystatus.sensors.base.QueryStatusSensor`.
    """

    spec = INTERNET_MONITOR_QUERY
    trigger_class = InternetMonitorQueryTrigger
    aws_hook_class = InternetMonitorHook
    template_fields: Sequence[str] = aws_template_fields("monitor_name", "query_id")

    def __init__(self, *, monitor_name: str, query_id: str, **kwargs: Any) -> None:
        super().__init__(identifiers={"monitor_name": monitor_name, "query_id": query_id}, **kwargs)
