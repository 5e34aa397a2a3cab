"""Operators: run a Neptune openCypher or Gremlin query, following it by id, cancelling it on kill
(and :class:`NeptuneLoaderJobOperator`, an ordinary deferrable operator for bulk loads).

Neptune's ExecuteOpenCypherQuery and ExecuteGremlinQuery are synchronous: the answer (and the
only report of the outcome) arrives on the HTTP connection that sent the query, and neither
request nor answer carries a query id (REFERENCE.md §4). So these operators

* hold that connection on the worker, in a thread (Neptune's results exist nowhere else),
* start the query text with a unique marker comment, and find the query's id in the
  language's List...Queries call by that marker, so that they can log progress and cancel
  exactly their own query on kill, on timeout, or on failure.

Each language is a small declaration on :class:`NeptuneQueryOperator`: its spec (execute,
list and cancel calls), the execute call's query, parameters and result members, and how its
text carries the marker.

``deferrable=True`` is not honoured here (a warning says so): a triggerer restart would drop
the connection and with it the results. To wait on a Neptune query without a worker slot,
start it elsewhere and use the language's sensor with ``deferrable=True``.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import TYPE_CHECKING, Any, ClassVar

from botocore.exceptions import ClientError

from airflow_querystatus.errors import classify
from airflow_querystatus.exceptions import QueryCallerError, QueryExecutionFailedError
from airflow_querystatus.hooks.neptune import NeptuneDataHook
from airflow_querystatus.operators.base import QueryOperator, template_fields_with
from airflow_querystatus.polling import Outcome, PollSchedule, StatusTracker, Verdict
from airflow_querystatus.status import NEPTUNE_GREMLIN_QUERY, NEPTUNE_LOADER_JOB, NEPTUNE_OPEN_CYPHER_QUERY

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

MARKER_PREFIX = "airflow-querystatus:"


class NeptuneQueryOperator(QueryOperator):
    """Run a query in one of Neptune's query languages and return ``{"query_id", "results"}``;
    a subclass declares the language (see the class attributes).

    :param query: The query. (templated)
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

    #: The language's name in messages ("openCypher").
    language: ClassVar[str]
    #: The execute call's members: the query text, its parameters (if the language has
    #: them) and the result.
    query_member: ClassVar[str]
    parameters_member: ClassVar[str | None] = None
    result_member: ClassVar[str]
    #: How the query text carries the marker: ``{marker}`` and ``{query}`` are filled in.
    marked_text: ClassVar[str] = "// {marker}\n{query}"
    #: The sensor to wait on a query without a worker slot (named in the deferrable warning).
    sensor_name: ClassVar[str]
    template_fields: Sequence[str] = template_fields_with("query", "endpoint_url")

    def __init__(self, *, query: str, endpoint_url: str | None = None, **kwargs: Any) -> None:
        super().__init__(endpoint_url=endpoint_url, **kwargs)
        if self.deferrable:
            self.log.warning(
                "%s runs its query on the worker: Neptune returns results only on the connection "
                "that sent the query. Use %s(deferrable=True) to wait on a query started elsewhere "
                "without a worker slot.",
                type(self).__name__, self.sensor_name,
            )
            self.deferrable = False
        self.query = query
        self.parameters: dict[str, Any] | None = None

    def execute(self, context: Context) -> Any:
        if not isinstance(self.query, str) or not self.query.strip():
            raise ValueError(f"Task {self.task_id!r}: `query` must be a non-empty {self.language} query.")
        deadline = time.time() + self._wait_seconds()
        earlier = self._query_of_an_earlier_try(context)
        if earlier is not None:  # a retry: let the earlier try's query end rather than run it twice
            identifiers, verdict = earlier
            self._started = identifiers
            if not verdict.done:
                verdict = self._wait_in_place(identifiers, deadline, seen_running=True)
            return self._finish(context, identifiers, verdict)
        marker = f"{MARKER_PREFIX}{uuid.uuid4()}"
        text = self.marked_text.format(marker=marker, query=self.query)
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="neptune-execute") as pool:
            running = pool.submit(self._execute_blocking, text, deadline)
            try:
                self._follow(context, running, marker, deadline)
                answer = running.result()
            except ClientError as err:
                error = classify(err)
                if error.code in _REFUSED_QUERY_CODES:  # refused before it ran: a retry meets the same refusal
                    raise QueryCallerError(
                        f"Task {self.task_id!r}: {self.spec.start_operation} for the {self.language} query failed "
                        f"with {error.detail}. Check the query and that the IAM identity may run it "
                        "(neptune-db:ReadDataViaQuery, WriteDataViaQuery or DeleteDataViaQuery). Not retried: a "
                        "retry would send the same request.",
                        operation=self.spec.start_operation, identifiers=self._started, state=error.code,
                    ) from err
                raise QueryExecutionFailedError(
                    f"Task {self.task_id!r}: the {self.language} query {self._started or ''} failed with "
                    f"{error.detail}. Airflow retries (if any) run it again.",
                    operation=self.spec.start_operation, identifiers=self._started, state=error.code,
                ) from err
            except BaseException:
                if self._started is not None and not running.done():
                    self._stop(self._started, "the task failed while the query ran")
                raise
        results = {"query_id": (self._started or {}).get("query_id"), "results": answer.get(self.result_member)}
        self._forget(context)
        return self._bounded(context, self._started or {}, results)

    def fetch_results(self, identifiers: dict[str, str]) -> dict[str, Any]:
        """A query an earlier try ran has ended: Neptune gave its results (and outcome) only
        to that try's connection, so there are none to return."""
        self.log.warning(
            "The %s query %s ran for an earlier try of this task and has ended; Neptune returns "
            "results and outcome only to the connection that sent the query, so this try returns none. "
            "Set reattach=False to run the query again on retries instead.", self.language, identifiers["query_id"],
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
        params: dict[str, Any] = {self.query_member: text}
        if self.parameters and self.parameters_member:
            params[self.parameters_member] = json.dumps(self.parameters)
        answer: dict[str, Any] = getattr(hook.conn, str(self.spec.start_operation))(**params)
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
                    tracker = self.tracker(self._started, seen_running=True)
            elif tracker is not None:
                try:
                    tracker.observe(self.hook.get_status(self.spec, self._started, remaining=deadline - time.time()))
                except Exception as err:
                    tracker.observe_error(err)  # logged by the tracker; the query's answer decides
            if time.time() >= deadline:
                if self._started is not None:
                    self._stop(self._started, "its wait_timeout passed")
                running.exception()  # the executing call returns once the cancel lands
                raise QueryExecutionFailedError(
                    f"Task {self.task_id!r}: the {self.language} query did not finish within "
                    f"{self._wait_seconds():g}s and was cancelled; raise `wait_timeout` to wait longer.",
                    operation=self.spec.start_operation, identifiers=self._started,
                )
            remaining = deadline - time.time()
            wait([running], timeout=max(0.0, min(schedule.next_delay(_PENDING), remaining)))

    def _find(self, marker: str) -> str | None:
        listing = getattr(self.hook.conn, str(self.spec.list_operation))(includeWaiting=True)
        for entry in listing.get("queries", []):
            if marker in str(entry.get("queryString", "")):
                return str(entry["queryId"])
        return None


class NeptuneOpenCypherQueryOperator(NeptuneQueryOperator):
    """Run an openCypher query on a Neptune instance and return ``{"query_id", "results"}``.

    :param query: The openCypher query; the operator prefixes it with a
        ``// airflow-querystatus:<uuid>`` comment line to find its id. (templated)
    :param parameters: Query parameters (a dict, sent as JSON). (templated)
    :param endpoint_url: The instance endpoint (see :class:`NeptuneQueryOperator`). (templated)
    """

    spec = NEPTUNE_OPEN_CYPHER_QUERY
    language = "openCypher"
    query_member = "openCypherQuery"
    parameters_member = "parameters"
    result_member = "results"
    sensor_name = "NeptuneOpenCypherQuerySensor"
    template_fields: Sequence[str] = template_fields_with("query", "parameters", "endpoint_url")
    template_fields_renderers = {"parameters": "json"}

    def __init__(self, *, query: str, parameters: dict[str, Any] | None = None, **kwargs: Any) -> None:
        super().__init__(query=query, **kwargs)
        self.parameters = parameters


class NeptuneGremlinQueryOperator(NeptuneQueryOperator):
    """Run a Gremlin query (a Gremlin string, ExecuteGremlinQuery) on a Neptune instance and
    return ``{"query_id", "results"}``, ``results`` being the answer's ``result`` member.

    :param query: The Gremlin query, e.g. ``g.V().hasLabel('person').count()``. (templated)
    :param endpoint_url: The instance endpoint (see :class:`NeptuneQueryOperator`). (templated)

    The marker rides on a leading ``// airflow-querystatus:<uuid>`` line, found again in
    ListGremlinQueries' ``queryString``. [inferred] Neptune's Gremlin endpoint accepts
    Gremlin-Groovy-style ``//`` line comments in a script string; no AWS document says so
    explicitly. The SDK's ExecuteGremlinQuery has no member for Neptune's custom ``queryId``
    (which the raw HTTP endpoint accepts), so the text is the only carrier.
    """

    spec = NEPTUNE_GREMLIN_QUERY
    language = "Gremlin"
    query_member = "gremlinQuery"
    result_member = "result"
    sensor_name = "NeptuneGremlinQuerySensor"


class NeptuneLoaderJobOperator(QueryOperator):
    """Start a Neptune bulk load from S3 (StartLoaderJob), wait for LOAD_COMPLETED, and return the
    final GetLoaderJobStatus ``payload``. The load runs in Neptune: ``deferrable=True`` is honoured.

    :param source: The S3 URI to load. (templated)
    :param format: ``csv``, ``opencypher``, ``ntriples``, ``nquads``, ``rdfxml`` or ``turtle``. (templated)
    :param s3_bucket_region: The bucket's region. (templated)
    :param iam_role_arn: The IAM role Neptune reads the bucket with. (templated)
    :param mode: ``NEW``, ``RESUME`` or ``AUTO`` (Neptune's default). (templated)
    :param load_options: Other StartLoaderJob members by API name, e.g. ``{"failOnError": False,
        "parallelism": "HIGH", "queueRequest": True}``. (templated)
    :param status_flags: Flags of the final status call, e.g. ``{"details": True, "errors": True}``.
    :param endpoint_url: The Neptune cluster endpoint; the connection's if not given. (templated)
    """

    spec = NEPTUNE_LOADER_JOB
    start_arguments = {"source": "source", "format": "format", "s3BucketRegion": "s3_bucket_region",
                       "iamRoleArn": "iam_role_arn", "mode": "mode"}
    template_fields: Sequence[str] = template_fields_with(
        "source", "format", "s3_bucket_region", "iam_role_arn", "mode", "load_options")

    def __init__(self, *, source: str, format: str, s3_bucket_region: str, iam_role_arn: str, mode: str | None = None,
                 load_options: dict[str, Any] | None = None, status_flags: dict[str, Any] | None = None,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.source, self.format, self.s3_bucket_region, self.mode = source, format, s3_bucket_region, mode
        self.iam_role_arn, self.load_options, self.status_flags = iam_role_arn, load_options, status_flags

    def start_query(self, context: Context) -> dict[str, str]:
        answer = self.send_start({
            "source": self.source, "format": self.format, "s3BucketRegion": self.s3_bucket_region,
            "iamRoleArn": self.iam_role_arn, **({"mode": self.mode} if self.mode else {}), **(self.load_options or {})})
        return {"load_id": answer["payload"]["loadId"]}

    def fetch_results(self, identifiers: dict[str, str]) -> Any:
        status = self.hook.conn.get_loader_job_status(loadId=identifiers["load_id"], **(self.status_flags or {}))
        return status["payload"]

    #: How many of Neptune's error log entries a failed load's error quotes.
    QUOTED_ERRORS = 5

    def failure_detail(self, identifiers: dict[str, str]) -> str:
        """Neptune's error log of a failed load (``errors=True`` in ``status_flags``): the status
        polls do not ask for it, so one more status call reads it for the task's error."""
        if not (self.status_flags or {}).get("errors"):
            return ""
        try:
            payload = self.hook.conn.get_loader_job_status(
                loadId=identifiers["load_id"], **{**(self.status_flags or {}), "errors": True})["payload"]
        except Exception as err:  # the failure is still reported, without the log
            self.log.warning("Could not read the error log of load %s: %s.", identifiers["load_id"], err)
            return ""
        entries = (payload.get("errors") or {}).get("errorLogs") or []
        quoted = "; ".join(
            f"{e.get('errorCode')}: {str(e.get('errorMessage') or '').rstrip(' .')}"
            + (f" ({e.get('fileName')}, record {e.get('recordNum')})" if e.get("fileName") else "")
            for e in entries[:self.QUOTED_ERRORS])
        return f"Neptune's error log: {quoted}." if quoted else ""


#: Neptune's answers to a query it refused to run (the query text, the caller's rights): a retry
#: would meet the same refusal. Other errors (cancelled, time or memory limits, 5xx) may pass.
_REFUSED_QUERY_CODES = frozenset({
    "AccessDeniedException", "BadRequestException", "MalformedQueryException", "InvalidParameterException",
    "InvalidArgumentException", "MissingParameterException", "UnsupportedOperationException",
    "IllegalArgumentException", "ConstraintViolationException",
})

#: What the schedule is told after each wait: the query is still running.
_PENDING = Verdict(Outcome.PENDING, None, "")
