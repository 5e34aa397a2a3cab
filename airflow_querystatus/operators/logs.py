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
    """Epoch seconds from a number, a datetime, or the text a template renders either to;
    ``ValueError`` for anything else."""
    if isinstance(value, str):
        text = value.strip()
        value = float(text) if text.replace(".", "", 1).isdigit() else datetime.datetime.fromisoformat(text)
    if isinstance(value, datetime.datetime):
        return int(value.timestamp())
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"not a time: {value!r}")
    return int(value)


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
    start_arguments = {"queryString": "query_string", "logGroupIdentifiers": "log_groups", "startTime": "start_time",
                       "endTime": "end_time", "limit": "limit", "queryLanguage": "query_language"}
    template_fields: Sequence[str] = template_fields_with("query_string", "log_groups", "start_time", "end_time",
                                                          "limit")

    def __init__(self, *, query_string: str, start_time: Any, end_time: Any, log_groups: str | list[str] | None = None,
                 limit: int | None = None, query_language: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.query_string, self.log_groups, self.limit = query_string, log_groups, limit
        self.start_time, self.end_time, self.query_language = start_time, end_time, query_language

    def _window(self) -> tuple[int, int]:
        """``start_time`` and ``end_time`` as epoch seconds, checked as rendered."""
        times = {}
        for name in ("start_time", "end_time"):
            try:
                times[name] = _epoch(getattr(self, name))
            except (TypeError, ValueError, OverflowError):
                raise self.argument_error(name, f"must be epoch seconds, a datetime or ISO-8601 text; it rendered to "
                                                f"{getattr(self, name)!r}") from None
        if times["end_time"] < times["start_time"]:
            raise self.argument_error("end_time", f"({self.end_time!r}) is before `start_time` ({self.start_time!r})")
        return times["start_time"], times["end_time"]

    def start_query(self, context: Context) -> dict[str, str]:
        if not isinstance(self.query_string, str) or not self.query_string.strip():
            raise self.argument_error("query_string", f"must be a non-empty query, not {self.query_string!r}")
        start, end = self._window()
        params: dict[str, Any] = {"queryString": self.query_string, "startTime": start, "endTime": end}
        if self.log_groups is not None:
            groups = self.log_groups
            params["logGroupIdentifiers"] = [groups] if isinstance(groups, str) else list(groups)
        if self.limit is not None:  # a template renders text; botocore's model checks the rest
            limit = self.limit
            params["limit"] = int(limit) if isinstance(limit, str) and limit.strip().isdigit() else limit
        if self.query_language:
            params["queryLanguage"] = self.query_language
        return {"query_id": self.send_start(params)["queryId"]}

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
