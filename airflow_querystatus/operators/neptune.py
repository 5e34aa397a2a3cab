"""Operator: run a Neptune openCypher query, following it by id, cancelling it on kill.

Neptune's ExecuteOpenCypherQuery is synchronous: the answer (and the only report of the
outcome) arrives on the HTTP connection that sent the query, and neither request nor answer
carries a query id (REFERENCE.md §4). So this operator

* holds that connection on the worker, in a thread (Neptune's results exist nowhere else),
* starts the query text with a unique marker comment, and finds the query's id in
  ListOpenCypherQueries by that marker, so that it can log progress and cancel exactly its
  own query on kill, on timeout, or on failure.

``deferrable=True`` is not honoured here (a warning says so): a triggerer restart would drop
the connection and with it the results. To wait on a Neptune query without a worker slot,
start it elsewhere and use ``NeptuneOpenCypherQuerySensor(deferrable=True)``.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from airflow_querystatus.exceptions import QueryExecutionFailedError
from airflow_querystatus.hooks.neptune import NeptuneDataHook
from airflow_querystatus.operators.base import QueryOperator, template_fields_with
from airflow_querystatus.polling import Outcome, PollSchedule, StatusTracker, Verdict
from airflow_querystatus.status import NEPTUNE_OPEN_CYPHER_QUERY
from airflow_querystatus.triggers.neptune import NeptuneOpenCypherQueryTrigger

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

MARKER_PREFIX = "airflow-querystatus:"


class NeptuneOpenCypherQueryOperator(QueryOperator):
    """Run an openCypher query on a Neptune instance and return ``{"query_id", "results"}``.

    :param query: The openCypher query. (templated)
    :param parameters: Query parameters (a dict, sent as JSON). (templated)
    :param endpoint_url: The instance endpoint, e.g.
        ``https://my-db.xxxx.us-east-1.neptune.amazonaws.com:8182``; the connection's
        ``endpoint_url`` if not given. Status and cancel must reach the instance running
        the query, so use an instance or writer endpoint, not a reader. (templated)

    The query runs on the worker, holding the connection its results come back on:
    ``deferrable=True`` is ignored with a warning (see this module's docstring).

    Other arguments: see :class:`~airflow_querystatus.operators.base.QueryOperator`;
    ``wait_timeout`` (or ``execution_timeout``) bounds the query, which is cancelled when it
    passes.
    """

    spec = NEPTUNE_OPEN_CYPHER_QUERY
    trigger_class = NeptuneOpenCypherQueryTrigger
    aws_hook_class = NeptuneDataHook
    template_fields: Sequence[str] = template_fields_with("query", "parameters", "endpoint_url")
    template_fields_renderers = {"parameters": "json"}

    def __init__(
        self,
        *,
        query: str,
        parameters: dict[str, Any] | None = None,
        endpoint_url: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(endpoint_url=endpoint_url, **kwargs)
        if self.deferrable:
            self.log.warning(
                "%s runs its query on the worker: Neptune returns results only on the connection "
                "that sent the query. Use NeptuneOpenCypherQuerySensor(deferrable=True) to wait "
                "on a query started elsewhere without a worker slot.",
                type(self).__name__,
            )
            self.deferrable = False
        self.query = query
        self.parameters = parameters

    def execute(self, context: Context) -> Any:
        if not isinstance(self.query, str) or not self.query.strip():
            raise ValueError(f"Task {self.task_id!r}: `query` must be a non-empty openCypher query.")
        deadline = time.time() + self._wait_seconds()
        earlier = self._query_of_an_earlier_try(context)
        if earlier is not None:  # a retry: let the earlier try's query end rather than run it twice
            identifiers, verdict = earlier
            self._started = identifiers
            if not verdict.done:
                verdict = self._wait_in_place(identifiers, deadline, seen_running=True)
            return self._finish(context, identifiers, verdict)
        marker = f"{MARKER_PREFIX}{uuid.uuid4()}"
        text = f"// {marker}\n{self.query}"
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="neptune-execute") as pool:
            running = pool.submit(self._execute_blocking, text, deadline)
            try:
                self._follow(context, running, marker, deadline)
                answer = running.result()
            except ClientError as err:
                error = err.response.get("Error", {})
                detail = err.response.get("detailedMessage") or error.get("Message")
                raise QueryExecutionFailedError(
                    f"Task {self.task_id!r}: the openCypher query {self._started or ''} failed with "
                    f"{error.get('Code')}: {detail}. Airflow retries (if any) run it again."
                ) from err
            except BaseException:
                if self._started is not None and not running.done():
                    self._stop(self._started, "the task failed while the query ran")
                raise
        results = {"query_id": (self._started or {}).get("query_id"), "results": answer.get("results")}
        self._forget(context)
        return self._bounded(context, self._started or {}, results)

    def fetch_results(self, identifiers: dict[str, str]) -> dict[str, Any]:
        """A query an earlier try ran has ended: Neptune gave its results (and outcome) only
        to that try's connection, so there are none to return."""
        self.log.warning(
            "The openCypher query %s ran for an earlier try of this task and has ended; Neptune returns "
            "results and outcome only to the connection that sent the query, so this try returns none. "
            "Set reattach=False to run the query again on retries instead.", identifiers["query_id"],
        )
        return {"query_id": identifiers["query_id"], "results": None, "outcomeReported": False}

    def _execute_blocking(self, text: str, deadline: float) -> dict[str, Any]:
        """The synchronous call, on its own client: no retries (a retry would run the query
        twice) and a read timeout past the deadline (the query is cancelled at the deadline)."""
        timeout = max(60.0, deadline - time.time() + 60.0)
        hook = NeptuneDataHook(
            aws_conn_id=self.aws_conn_id,
            region_name=self.region_name,
            verify=self.verify,
            config={**(self.botocore_config or {}), "read_timeout": timeout, "retries": {"total_max_attempts": 1}},
            endpoint_url=self.extras()["endpoint_url"],
        )
        params: dict[str, Any] = {"openCypherQuery": text}
        if self.parameters:
            params["parameters"] = json.dumps(self.parameters)
        answer: dict[str, Any] = hook.conn.execute_open_cypher_query(**params)
        return answer

    def _follow(self, context: Context, running: Future[dict[str, Any]], marker: str, deadline: float) -> None:
        """Find the query's id by its marker, then log its progress until it ends; cancel it
        at the deadline."""
        schedule = PollSchedule(self.wait_options())
        tracker: StatusTracker | None = None
        while not running.done():
            if self._started is None:
                query_id = self._find(marker)
                if query_id is not None:
                    self._started = {"query_id": query_id}
                    self.log.info("The query runs on Neptune as query_id=%s.", query_id)
                    self._remember(context, self._started)
                    tracker = StatusTracker(self.spec, self._started, self.wait_options(),
                                            aws_conn_id=self.aws_conn_id, seen_running=True, extras=self.extras(),
                                            logger=self.log)
            elif tracker is not None:
                try:
                    tracker.observe(self.hook.get_status(self.spec, self._started))
                except Exception as err:
                    tracker.observe_error(err)  # logged by the tracker; the query's answer decides
            if time.time() >= deadline:
                if self._started is not None:
                    self._stop(self._started, "its wait_timeout passed")
                running.exception()  # the executing call returns once the cancel lands
                raise QueryExecutionFailedError(
                    f"Task {self.task_id!r}: the openCypher query did not finish within "
                    f"{self._wait_seconds():g}s and was cancelled; raise `wait_timeout` to wait longer."
                )
            remaining = deadline - time.time()
            wait([running], timeout=max(0.0, min(schedule.next_delay(_PENDING), remaining)))

    def _find(self, marker: str) -> str | None:
        listing = self.hook.conn.list_open_cypher_queries(includeWaiting=True)
        for entry in listing.get("queries", []):
            if marker in str(entry.get("queryString", "")):
                return str(entry["queryId"])
        return None



#: What the schedule is told after each wait: the query is still running.
_PENDING = Verdict(Outcome.PENDING, None, "")
