"""Operators: start a Network Flow Monitor top-contributors query, wait, return all pages."""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow_querystatus.operators.base import QueryOperator, template_fields_with
from airflow_querystatus.status import (
    NETWORK_FLOW_MONITOR_TOP_CONTRIBUTORS_QUERY,
    NETWORK_FLOW_MONITOR_WORKLOAD_INSIGHTS_DATA_QUERY,
    NETWORK_FLOW_MONITOR_WORKLOAD_INSIGHTS_QUERY,
)

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context


class _NetworkFlowMonitorQueryOperator(QueryOperator):
    """Shared by both query families: a time window, a metric and a destination category."""

    start_arguments = {"monitorName": "monitor_name", "scopeId": "scope_id", "startTime": "start_time",
                       "endTime": "end_time", "metricName": "metric_name",
                       "destinationCategory": "destination_category", "limit": "limit"}


    def __init__(
        self,
        *,
        start_time: datetime.datetime | str,
        end_time: datetime.datetime | str,
        metric_name: str,
        destination_category: str,
        limit: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.limit = limit
        self.start_time = start_time
        self.end_time = end_time
        self.metric_name = metric_name
        self.destination_category = destination_category

    def _scope(self) -> dict[str, str]:
        """The identifier the query lives under (``monitor_name`` or ``scope_id``)."""
        scope = self.spec.identifiers[0].name
        return {scope: getattr(self, scope)}

    def _start_params(self) -> dict[str, Any]:
        (scope_name, scope_value), = self._scope().items()
        api_name = next(i.api_name for i in self.spec.identifiers if i.name == scope_name)
        return {
            api_name: scope_value,
            "startTime": self.start_time,
            "endTime": self.end_time,
            "metricName": self.metric_name,
            "destinationCategory": self.destination_category,
            **({"limit": self.limit} if self.limit is not None else {}),
        }

    def start_query(self, context: Context) -> dict[str, str]:
        query_id = self.send_start(self._start_params())["queryId"]
        return {**self._scope(), "query_id": query_id}

    def fetch_results(self, identifiers: dict[str, str]) -> dict[str, Any]:
        paginator = self.hook.conn.get_paginator(str(self.spec.results_operation))
        return paginator.paginate(**self.spec.api_params(identifiers)).build_full_result()


class NetworkFlowMonitorTopContributorsQueryOperator(_NetworkFlowMonitorQueryOperator):
    """Run StartQueryMonitorTopContributors, wait, and return ``{"unit", "topContributors"}``.

    :param monitor_name: The monitor. (templated)
    :param start_time: Window start, datetime or ISO-8601 text. (templated)
    :param end_time: Window end. (templated)
    :param metric_name: ``ROUND_TRIP_TIME``, ``TIMEOUTS``, ``RETRANSMISSIONS`` or ``DATA_TRANSFERRED``.
    :param destination_category: ``INTRA_AZ``, ``INTER_AZ``, ``INTER_VPC``, ``UNCLASSIFIED``,
        ``AMAZON_S3``, ``AMAZON_DYNAMODB`` or ``INTER_REGION``.
    :param limit: How many top contributors (1-500).
    """

    spec = NETWORK_FLOW_MONITOR_TOP_CONTRIBUTORS_QUERY
    template_fields: Sequence[str] = template_fields_with("monitor_name", "start_time", "end_time")

    def __init__(self, *, monitor_name: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.monitor_name = monitor_name


class NetworkFlowMonitorWorkloadInsightsTopContributorsDataQueryOperator(_NetworkFlowMonitorQueryOperator):
    """Run StartQueryWorkloadInsightsTopContributorsData, wait, return ``{"unit", "datapoints"}``.

    :param scope_id: The scope from CreateScope. (templated)
    :param metric_name: ``TIMEOUTS``, ``RETRANSMISSIONS`` or ``DATA_TRANSFERRED``.

    Other arguments as for :class:`NetworkFlowMonitorTopContributorsQueryOperator` (no ``limit``).
    """

    spec = NETWORK_FLOW_MONITOR_WORKLOAD_INSIGHTS_DATA_QUERY
    template_fields: Sequence[str] = template_fields_with("scope_id", "start_time", "end_time")

    def __init__(self, *, scope_id: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.scope_id = scope_id



class NetworkFlowMonitorWorkloadInsightsTopContributorsQueryOperator(_NetworkFlowMonitorQueryOperator):
    """Run StartQueryWorkloadInsightsTopContributors, wait, return ``{"topContributors"}``.

    :param scope_id: The scope from CreateScope. (templated)
    :param metric_name: ``TIMEOUTS``, ``RETRANSMISSIONS`` or ``DATA_TRANSFERRED``.
    :param limit: How many top contributors.

    Other arguments as for :class:`NetworkFlowMonitorTopContributorsQueryOperator`.
    """

    spec = NETWORK_FLOW_MONITOR_WORKLOAD_INSIGHTS_QUERY
    template_fields: Sequence[str] = template_fields_with("scope_id", "start_time", "end_time")

    def __init__(self, *, scope_id: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.scope_id = scope_id
