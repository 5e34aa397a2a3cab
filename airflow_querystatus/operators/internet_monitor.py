"""Operator: start an Internet Monitor query, wait, return its rows."""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow_querystatus.operators.base import QueryOperator, template_fields_with
from airflow_querystatus.status import INTERNET_MONITOR_QUERY

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context


class InternetMonitorQueryOperator(QueryOperator):
    """Run an Internet Monitor query (StartQuery), wait for it, and return its rows.

    Returns a list of dicts keyed by field name (GetQueryResults' ``Fields``), all pages
    read; values stay the strings AWS returns.

    :param monitor_name: The monitor to query. (templated)
    :param query_type: ``MEASUREMENTS``, ``TOP_LOCATIONS``, ``TOP_LOCATION_DETAILS``,
        ``OVERALL_TRAFFIC_SUGGESTIONS``, ``OVERALL_TRAFFIC_SUGGESTIONS_DETAILS`` or
        ``ROUTING_SUGGESTIONS``. (templated)
    :param start_time: Start of the window: a datetime or ISO-8601 text. (templated)
    :param end_time: End of the window. (templated)
    :param filter_parameters: ``[{"Field": ..., "Operator": "EQUALS", "Values": [...]}]``. (templated)
    :param linked_account_id: A 12-digit account linked through OAM, for cross-account queries.

    Other arguments: see :class:`~airflow_querystatus.operators.base.QueryOperator`.
    """

    spec = INTERNET_MONITOR_QUERY
    start_arguments = {"MonitorName": "monitor_name", "QueryType": "query_type", "StartTime": "start_time",
                       "EndTime": "end_time", "FilterParameters": "filter_parameters",
                       "LinkedAccountId": "linked_account_id"}
    template_fields: Sequence[str] = template_fields_with(
        "monitor_name", "query_type", "start_time", "end_time", "filter_parameters"
    )

    def __init__(
        self,
        *,
        monitor_name: str,
        query_type: str,
        start_time: datetime.datetime | str,
        end_time: datetime.datetime | str,
        filter_parameters: list[dict[str, Any]] | None = None,
        linked_account_id: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.monitor_name = monitor_name
        self.query_type = query_type
        self.start_time = start_time
        self.end_time = end_time
        self.filter_parameters = filter_parameters
        self.linked_account_id = linked_account_id

    def start_query(self, context: Context) -> dict[str, str]:
        params: dict[str, Any] = {
            "MonitorName": self.monitor_name,
            "QueryType": self.query_type,
            "StartTime": self.start_time,
            "EndTime": self.end_time,
        }
        if self.filter_parameters:
            params["FilterParameters"] = self.filter_parameters
        if self.linked_account_id:
            params["LinkedAccountId"] = self.linked_account_id
        query_id = self.send_start(params)["QueryId"]
        return {"monitor_name": self.monitor_name, "query_id": query_id}

    def fetch_results(self, identifiers: dict[str, str]) -> list[dict[str, Any]]:
        # botocore has no paginator for GetQueryResults: page with NextToken by hand.
        rows: list[dict[str, Any]] = []
        params: dict[str, Any] = {"MonitorName": identifiers["monitor_name"], "QueryId": identifiers["query_id"]}
        while True:
            page = self.hook.conn.get_query_results(**params, MaxResults=1000)
            names = [field["Name"] for field in page.get("Fields", [])]
            rows.extend(dict(zip(names, values, strict=False)) for values in page.get("Data", []))
            if not page.get("NextToken"):
                return rows
            params["NextToken"] = page["NextToken"]
