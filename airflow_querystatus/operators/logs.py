"""Operator: start a CloudWatch Logs Insights query, wait, return its rows and statistics."""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow_querystatus.operators.base import QueryOperator, template_fields_with
from airflow_querystatus.status import LOGS_INSIGHTS_QUERY

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context


def _epoch(value: Any) -> int:
    """Epoch seconds from a number, a datetime, or the text a template renders either to."""
    if isinstance(value, str):
        text = value.strip()
        value = float(text) if text.replace(".", "", 1).isdigit() else datetime.datetime.fromisoformat(text)
    return int(value.timestamp() if isinstance(value, datetime.datetime) else value)


class CloudWatchLogsInsightsQueryOperator(QueryOperator):
    """Run a Logs Insights query (StartQuery), wait for it, and return its rows and statistics:
    ``{"query_id", "status", "statistics", "rows"}``, ``rows`` as dicts ``{field: value}`` (AWS's
    strings; the ``@ptr`` record pointer is dropped), every ``nextToken`` page read. Status polls ask
    for one row at most (``maxItems=1``); the rows are read once, when the query is Complete.

    :param query_string: The query. (templated)
    :param log_groups: Log group names or ARNs (``logGroupIdentifiers``); None if the query has
        a ``SOURCE`` clause. (templated)
    :param start_time: Start of the window: epoch seconds, a datetime or ISO-8601 text. (templated)
    :param end_time: End of the window, as ``start_time``. (templated)
    :param limit: The most rows to return (AWS's default if None). (templated)
    :param query_language: ``CWLI`` (AWS's default), ``SQL`` or ``PPL``.
    """

    spec = LOGS_INSIGHTS_QUERY
    template_fields: Sequence[str] = template_fields_with("query_string", "log_groups", "start_time", "end_time",
                                                          "limit")

    def __init__(self, *, query_string: str, start_time: Any, end_time: Any, log_groups: str | list[str] | None = None,
                 limit: int | None = None, query_language: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.query_string, self.log_groups, self.limit = query_string, log_groups, limit
        self.start_time, self.end_time, self.query_language = start_time, end_time, query_language

    def start_query(self, context: Context) -> dict[str, str]:
        params: dict[str, Any] = {"queryString": self.query_string, "startTime": _epoch(self.start_time),
                                  "endTime": _epoch(self.end_time)}
        if self.log_groups:
            groups = self.log_groups
            params["logGroupIdentifiers"] = [groups] if isinstance(groups, str) else list(groups)
        if self.limit:
            params["limit"] = int(self.limit)
        if self.query_language:
            params["queryLanguage"] = self.query_language
        return {"query_id": self.hook.conn.start_query(**params)["queryId"]}

    def fetch_results(self, identifiers: dict[str, str]) -> dict[str, Any]:
        # A client of its own: the hook's reads status answers (this call's too) within max_answer_bytes.
        client, rows = self.hook.get_client_type(region_name=self.hook.region_name), []
        params = {"queryId": identifiers["query_id"]}
        while True:
            page = client.get_query_results(**params)
            rows += [{c["field"]: c.get("value") for c in row if c["field"] != "@ptr"} for row in page["results"]]
            if not page.get("nextToken"):
                return {"query_id": identifiers["query_id"], "status": page["status"],
                        "statistics": page.get("statistics", {}), "rows": rows}
            params["nextToken"] = page["nextToken"]
