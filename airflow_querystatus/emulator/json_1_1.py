"""JSON 1.1 (``POST /`` with ``X-Amz-Target: <targetPrefix>.<Operation>``): Athena, CloudWatch Logs.

Every service the catalogue plays whose botocore model says ``"protocol": "json"`` is served
here, found by its ``targetPrefix`` and answered with its ``jsonVersion``'s content type, both
read from botocore's model of the service. An operation's start, status, results and stop
calls are answered generically from its spec (:class:`Queries`); Athena's sessions, which no
spec declares, are :class:`Athena`'s own. Errors are ``{"__type", "Message"}``, 400 for most.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any, TypeVar

from aiohttp import web

from airflow_querystatus.emulator import logs, validation
from airflow_querystatus.emulator.catalogue import CATALOGUE
from airflow_querystatus.emulator.errors import ControlError
from airflow_querystatus.emulator.model import Emulator, Query
from airflow_querystatus.emulator.wire import (
    ERROR_STATUS,
    AwsError,
    iso,
    json_response,
    newest_first,
    operation_model,
    protocol,
    service_model,
)
from airflow_querystatus.status import StatusSpec

_STATUS = {**ERROR_STATUS, "ThrottlingException": 400, "ResourceNotFoundException": 400,
           "AccessDeniedException": 400}
#: The codes JSON services answer broken constraints with, whichever one a service's model declares.
_VALIDATION_CODES = ("ValidationException", "InvalidParameterException", "InvalidRequestException")
#: Input members that ask for a page of at most so many rows (``maxItems`` of CloudWatch Logs).
_PAGE_SIZE_MEMBERS = ("maxItems", "maxResults", "MaxResults")

Handler = Callable[[dict[str, Any]], Any]


def _snake(operation: str) -> str:
    return "".join("_" + c.lower() if c.isupper() else c for c in operation).lstrip("_")


def _declared(service: str, operation: str, codes: Iterable[str], default: str) -> str:
    """The first of ``codes`` that the model declares ``operation`` may raise (else ``default``)."""
    raised = {shape.name for shape in operation_model(service, operation).error_shapes}
    return next((code for code in codes if code in raised), default)


def _put(answer: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    """Set ``value`` at ``path`` (``("Status", "State")``) in a nested answer."""
    for key in path[:-1]:
        answer = answer.setdefault(key, {})
    answer[path[-1]] = value


class Queries:
    """One spec's start, status, results and stop calls, answered from the spec and the model.

    The status answer holds the state where ``read_state`` reads it, the step's reason and
    progress where ``read_reason`` and ``progress`` read them, and, when the status call is
    also the results call (``results_operation == operation``), the results page of
    its catalogue entry's ``page`` (empty until the query succeeded). A stop answer sets the stop
    operation's boolean members (``success``) and its state member, if any.
    """

    def __init__(self, emulator: Emulator, spec: StatusSpec) -> None:
        self.emulator = emulator
        self.spec = spec
        # An unknown id is answered as a bad parameter, as the other emulated services do (what AWS
        # answers is not documented; a ResourceNotFoundException would be waited out for a grace period).
        self.not_found = _validation_code(spec.service, spec.operation)

    def handlers(self) -> dict[str, Handler]:
        spec = self.spec
        named = {spec.start_operation: self.start, spec.results_operation: self.results,
                 spec.stop_operation: self.stop}
        named[spec.operation] = self.status  # also the results call, if the spec says so
        return {name: handler for name, handler in named.items() if name is not None}

    def _scope(self, body: dict[str, Any]) -> dict[str, str]:
        return {ident.name: str(body.get(ident.api_name)) for ident in self.spec.identifiers[:-1]}

    def find(self, body: dict[str, Any]) -> Query:
        query_id = str(body.get(self.spec.identifiers[-1].api_name))
        query = self.emulator.find(self.spec.key, self._scope(body), query_id)
        if query is None:
            raise AwsError(self.not_found, f"Query {query_id} does not exist.")
        return query

    def start(self, body: dict[str, Any]) -> dict[str, Any]:
        text = "\n".join(value for value in body.values() if isinstance(value, str))
        try:
            query = self.emulator.add_query(self.spec.key, self._scope(body), text=text)
        except ControlError as err:  # a broken ``# emulator-script:`` line
            raise AwsError(_validation_code(self.spec.service, str(self.spec.start_operation)),
                           f"The emulator cannot play this query: {err}") from None
        return {self.spec.identifiers[-1].api_name: query.query_id}

    def _page(self, query: Query, state: str, body: dict[str, Any]) -> dict[str, Any]:
        page = CATALOGUE[self.spec.key].page
        if page is None:
            return {}
        rows = query.result_rows if state in self.spec.success_states else 0
        size = next((v for k, v in body.items() if k in _PAGE_SIZE_MEMBERS and isinstance(v, int)), None)
        return page(query.created_at, 0, rows if size is None else min(rows, size))

    def status(self, body: dict[str, Any]) -> dict[str, Any]:
        query = self.find(body)
        step = self.emulator.poll(query)
        carries_results = self.spec.results_operation == self.spec.operation
        answer: dict[str, Any] = self._page(query, step.state, body) if carries_results else {}
        for read, value in [(self.spec.read_state, step.state), (self.spec.read_reason, step.reason),
                            *((read, step.progress) for read in self.spec.progress.values())]:
            path = getattr(read, "path", None)
            if path and value is not None:
                _put(answer, path, value)
        return answer

    def results(self, body: dict[str, Any]) -> dict[str, Any]:
        query = self.find(body)
        state = self.emulator.peek(query).state
        if state not in self.spec.success_states:
            raise AwsError(_validation_code(self.spec.service, str(self.spec.results_operation)),
                           f"Query {query.query_id} is {state}, not finished.")
        return self._page(query, state, body)

    def stop(self, body: dict[str, Any]) -> dict[str, Any]:
        query = self.find(body)
        self.emulator.stop(query)
        members = operation_model(self.spec.service, str(self.spec.stop_operation)).output_shape.members
        state = self.emulator.peek(query).state
        return {name: True if shape.type_name == "boolean" else state for name, shape in members.items()
                if shape.type_name == "boolean" or name.lower() in ("state", "status")}


def _validation_code(service: str, operation: str) -> str:
    return _declared(service, operation, _VALIDATION_CODES, "ValidationException")


_Listed = TypeVar("_Listed", bound=tuple[Any, ...])


def _newest_first(service: str, operation: str, found: list[_Listed], body: dict[str, Any], size: str,
                  token: str, default_size: int) -> tuple[list[_Listed], dict[str, Any]]:
    """A page of a list call over ``found`` (tuples whose first item is the query), newest
    first, with its ``token`` member if more follow; a token this emulator did not give is
    refused with the call's validation error."""
    try:
        shown, after = newest_first(found, lambda item: (item[0].created_at, item[0].query_id),
                                    body.get(size, default_size), body.get(token))
    except ValueError as err:
        raise AwsError(_validation_code(service, operation), str(err)) from None
    return shown, {} if after is None else {token: after}


class Athena(Queries):
    """Athena's session and calculation operations over the emulator's queries."""

    def __init__(self, emulator: Emulator, spec: StatusSpec) -> None:
        super().__init__(emulator, spec)
        #: The calculation each ClientRequestToken started.
        self._started_by_token: dict[str, str] = {}

    def handlers(self) -> dict[str, Handler]:
        return {name: getattr(self, name) for name in vars(Athena) if not name.startswith("_") and name != "handlers"}

    def start_session(self, body: dict[str, Any]) -> dict[str, Any]:
        return {"SessionId": self.emulator.create_session(body["WorkGroup"]), "State": "CREATING"}

    def _session(self, body: dict[str, Any]) -> dict[str, Any]:
        session = self.emulator.sessions.get(str(body.get("SessionId")))
        if session is None:
            raise AwsError("InvalidRequestException", f"Session {body.get('SessionId')} not found.")
        return session

    def get_session_status(self, body: dict[str, Any]) -> dict[str, Any]:
        return {"SessionId": body.get("SessionId"), "Status": {"State": self._session(body)["State"]}}

    def get_session(self, body: dict[str, Any]) -> dict[str, Any]:
        session = self._session(body)
        return {"SessionId": body.get("SessionId"), "WorkGroup": session["WorkGroup"],
                "Status": {"State": session["State"]}}

    def terminate_session(self, body: dict[str, Any]) -> dict[str, Any]:
        self._session(body)["State"] = "TERMINATED"
        return {"State": "TERMINATED"}

    def start_calculation_execution(self, body: dict[str, Any]) -> dict[str, Any]:
        session = self._session(body)
        if session["State"] not in {"IDLE", "BUSY"}:
            raise AwsError("InvalidRequestException", f"Session is {session['State']}.")
        code = body.get("CodeBlock") or (body.get("CalculationConfiguration") or {}).get("CodeBlock")
        if not code:
            raise AwsError("InvalidRequestException", "CodeBlock is required.")
        # ClientRequestToken makes the start idempotent, as AWS documents: a repeat of a request
        # already carried out answers the calculation it started instead of starting another.
        token = body.get("ClientRequestToken")
        if token and token in self._started_by_token:
            return {"CalculationExecutionId": self._started_by_token[token], "State": "CREATING"}
        try:
            query = self.emulator.add_query(self.spec.key, {}, text=code, session_id=str(body["SessionId"]))
        except ControlError as err:  # a broken ``# emulator-script:`` line
            raise AwsError("InvalidRequestException", f"The emulator cannot play this query: {err}") from None
        if token:
            self._started_by_token[str(token)] = query.query_id
        if body.get("Description"):
            query.started_with["Description"] = body["Description"]
        return {"CalculationExecutionId": query.query_id, "State": "CREATING"}

    def _calculation(self, body: dict[str, Any]) -> Query:
        calc_id = str(body["CalculationExecutionId"])  # present and 1-36 characters: checked by the model
        query = self.emulator.find(self.spec.key, {}, calc_id)
        if query is None:
            raise AwsError("InvalidRequestException", f"Calculation {calc_id} was not found.")
        return query

    def _status(self, query: Query, state: str) -> dict[str, Any]:
        step = query.step
        status: dict[str, Any] = {"SubmissionDateTime": query.created_at, "State": state}
        if state in self.spec.success_states | self.spec.failure_states:
            status["CompletionDateTime"] = query.state_entered_at(state) or time.time()
        if step.reason:
            status["StateChangeReason"] = step.reason
        stats: dict[str, Any] = {"DpuExecutionInMillis": int((time.time() - query.created_at) * 1000)}
        if step.progress:
            stats["Progress"] = step.progress
        return {"Status": status, "Statistics": stats}

    def get_calculation_execution_status(self, body: dict[str, Any]) -> dict[str, Any]:
        query = self._calculation(body)
        return self._status(query, self.emulator.poll(query).state)

    def get_calculation_execution(self, body: dict[str, Any]) -> dict[str, Any]:
        # A status poll too: the amazon provider's ``calculation_complete`` waiter polls this.
        query = self._calculation(body)
        answer = self._status(query, self.emulator.poll(query).state)
        base = f"s3://emulator-results/{query.session_id}/{query.query_id}"
        answer.update(
            CalculationExecutionId=query.query_id,
            SessionId=query.session_id,
            WorkingDirectory=f"s3://emulator-results/{query.session_id}/",
            Result={
                "StdOutS3Uri": f"{base}/stdout.txt",
                "StdErrorS3Uri": f"{base}/stderr.txt",
                "ResultS3Uri": f"{base}/result.json",
                "ResultType": "application/json",
            },
        )
        return answer

    def list_calculation_executions(self, body: dict[str, Any]) -> dict[str, Any]:
        """The session's calculations, newest first (as the API reference says), each with the
        ``Status`` GetCalculationExecutionStatus would answer now (listing is no poll); an
        unknown session answers as GetSession does. ``MaxResults`` defaults to 100 [inferred]."""
        self._session(body)
        found = [(q, state) for q in self.emulator.queries(self.spec.key) if q.session_id == body["SessionId"]
                 if body.get("StateFilter") in (None, state := self.emulator.peek(q).state)]
        shown, more = _newest_first("athena", "list_calculation_executions", found, body, "MaxResults", "NextToken",
                                    100)
        return {"Calculations": [{"CalculationExecutionId": q.query_id, **q.started_with,
                                  "Status": self._status(q, state)["Status"]} for q, state in shown], **more}

    def stop_calculation_execution(self, body: dict[str, Any]) -> dict[str, Any]:
        query = self._calculation(body)
        self.emulator.stop(query)
        return {"State": self.emulator.peek(query).state}


class Logs(Queries):
    """CloudWatch Logs: Logs Insights queries over log groups that must exist (:mod:`.logs` says
    what StartQuery refuses), and the calls that make them (CreateLogGroup, CreateLogStream,
    PutLogEvents), so that code written for AWS or moto sets up its log groups unchanged."""

    def handlers(self) -> dict[str, Handler]:
        return {**super().handlers(), "create_log_group": self.create_log_group,
                "create_log_stream": self.create_log_stream, "put_log_events": self.put_log_events,
                "describe_queries": self.describe_queries}

    def start(self, body: dict[str, Any]) -> dict[str, Any]:
        query_text = str(body.get("queryString", ""))
        language = body.get("queryLanguage", "CWLI")
        named = logs.given_members(body)
        if len(named) > 1:
            raise AwsError("InvalidParameterException",
                           f"Give exactly one of logGroupName, logGroupNames and logGroupIdentifiers, not {named}.")
        if body["endTime"] < body["startTime"]:
            raise AwsError("InvalidParameterException",
                           f"endTime ({body['endTime']}) is before startTime ({body['startTime']}).")
        if language == "CWLI" and (error := logs.compile_error(query_text)) is not None:
            raise AwsError("MalformedQueryException", error["message"], {"queryCompileError": error})
        names = logs.requested_groups(body)
        if not names and language != "SQL" and not (language == "CWLI" and logs.names_source(query_text)):
            raise AwsError("InvalidParameterException", "Give the log groups to query (logGroupName, logGroupNames "
                           "or logGroupIdentifiers) or choose them in the query (SOURCE).")
        groups = [self.emulator.log_group(name) for name in names]
        missing = [name for name, group in zip(names, groups, strict=True) if group is None]
        if missing:
            raise AwsError("ResourceNotFoundException", f"Log group {missing[0]!r} does not exist.")
        answer = super().start(body)
        query = self.emulator.query(answer["queryId"])
        query.started_with.update(queryString=query_text, queryLanguage=language, logGroupNames=names)
        events = logs.events_in([g for g in groups if g is not None], body["startTime"] * 1000,
                                body["endTime"] * 1000 + 999)
        if any(g is not None and g.events for g in groups):
            query.rows = events[: body.get("limit", 10000)]
            query.result_rows = len(query.rows)
        return answer

    def _page(self, query: Query, state: str, body: dict[str, Any]) -> dict[str, Any]:
        if query.rows is None:
            return super()._page(query, state, body)
        rows = query.rows if state in self.spec.success_states else []
        size = body.get("maxItems")
        shown = rows[:size] if isinstance(size, int) else rows
        return {
            "results": [[{"field": "@timestamp", "value": iso(e.timestamp / 1000)},
                         {"field": "@message", "value": e.message}, {"field": "@ptr", "value": f"p{i}"}]
                        for i, e in enumerate(shown)],
            "statistics": {"recordsMatched": float(len(rows)), "recordsScanned": float(len(rows)),
                           "bytesScanned": float(sum(len(e.message) for e in rows))},
        }

    def describe_queries(self, body: dict[str, Any]) -> dict[str, Any]:
        """The account's Logs Insights queries, newest first, each with the status
        GetQueryResults would answer now (listing is no poll), filtered by ``logGroupName``
        (a query over several groups matches each), ``status`` and ``queryLanguage``; at most
        ``maxResults`` (default 1000) a page. A query planted through the control API shows its
        ``text`` as ``queryString`` and no log group. Every query the emulator holds is recent
        (AWS keeps "recent" ones, undocumented how long) [inferred: the group filter, the order]."""
        found = []
        for query in self.emulator.queries(self.spec.key):
            language = query.started_with.get("queryLanguage", "CWLI")
            groups = query.started_with.get("logGroupNames", [])
            state = self.emulator.peek(query).state
            if (body.get("status") in (None, state) and body.get("queryLanguage") in (None, language)
                    and body.get("logGroupName") in (None, *groups)):
                found.append((query, state, language, groups))
        shown, more = _newest_first("logs", "describe_queries", found, body, "maxResults", "nextToken", 1000)
        return {"queries": [
            {"queryLanguage": language, "queryId": query.query_id,
             "queryString": str(query.started_with.get("queryString", query.text or ""))[:10000],
             "status": state, "createTime": int(query.created_at * 1000),
             **({"logGroupName": groups[0]} if groups else {})}
            for query, state, language, groups in shown], **more}

    def _group(self, body: dict[str, Any]) -> logs.LogGroup:
        group = self.emulator.log_group(str(body["logGroupName"]))
        if group is None:
            raise AwsError("ResourceNotFoundException", "The specified log group does not exist.")
        return group

    def create_log_group(self, body: dict[str, Any]) -> dict[str, Any]:
        if self.emulator.log_group(str(body["logGroupName"])) is not None:
            raise AwsError("ResourceAlreadyExistsException", "The specified log group already exists")
        self.emulator.create_log_group(str(body["logGroupName"]))
        return {}

    def create_log_stream(self, body: dict[str, Any]) -> dict[str, Any]:
        group = self._group(body)
        if body["logStreamName"] in group.streams:
            raise AwsError("ResourceAlreadyExistsException", "The specified log stream already exists")
        group.streams.add(str(body["logStreamName"]))
        return {}

    def put_log_events(self, body: dict[str, Any]) -> dict[str, Any]:
        group = self._group(body)
        if body["logStreamName"] not in group.streams:
            raise AwsError("ResourceNotFoundException", "The specified log stream does not exist.")
        try:
            events = logs.parse_events(body["logEvents"], "logEvents", str(body["logStreamName"]))
        except ControlError as err:
            raise AwsError("InvalidParameterException", str(err)) from None
        self.emulator.put_log_events(group, events)
        return {}


#: Services whose emulation goes beyond their specs' calls (Athena's sessions, Logs' log
#: groups); any other JSON 1.1 service is served by :class:`Queries` alone.
_OWN: dict[str, type[Queries]] = {"athena": Athena, "logs": Logs}


class JsonService:
    """One JSON 1.1 service: its ``X-Amz-Target`` prefix and content type (botocore's model),
    and the handlers of every operation its specs declare."""

    def __init__(self, emulator: Emulator, service: str, specs: Iterable[StatusSpec]) -> None:
        metadata = service_model(service).metadata
        self.service = service
        self.target_prefix = f"{metadata['targetPrefix']}."
        self.content_type = f"application/x-amz-json-{metadata.get('jsonVersion', '1.0')}"
        #: boto3 name -> (the spec whose query the call touches, the handler).
        self.handlers: dict[str, tuple[StatusSpec, Handler]] = {}
        specs = list(specs)
        self.invalid_code = _validation_code(service, specs[0].operation)
        for spec in specs:
            for name, handler in _OWN.get(service, Queries)(emulator, spec).handlers().items():
                self.handlers[name] = (spec, handler)

    def error(self, code: str, message: str, members: Mapping[str, Any] | None = None) -> web.Response:
        body = {"__type": code, "Message": message, **(members or {})}
        return json_response(body, _STATUS.get(code, 400), self.content_type)

    async def dispatch(self, request: web.Request) -> tuple[str, str, Callable[[], Awaitable[Any]]]:
        """The operation's boto3 name, the query id it touches, and how to answer it."""
        operation = request.headers.get("X-Amz-Target", "").removeprefix(self.target_prefix)
        try:
            body = await request.json() if request.body_exists else {}
        except ValueError:
            body = None
        snake = _snake(operation)
        spec, handler = self.handlers.get(snake, (None, None))

        async def answer() -> Any:
            if handler is None:
                raise AwsError(self.invalid_code, f"{operation} is not emulated")
            if not isinstance(body, dict):
                raise AwsError("SerializationException", "The request body must be a JSON object.")
            found = validation.problems(operation_model(self.service, snake).input_shape, body)
            if found:
                raise AwsError(_validation_code(self.service, snake), validation.message(found))
            return handler(body)

        query_id = body.get(spec.identifiers[-1].api_name) if spec is not None and isinstance(body, dict) else None
        return snake, str(query_id or ""), answer


def services(emulator: Emulator, specs: Iterable[StatusSpec]) -> dict[str, JsonService]:
    """Every JSON 1.1 service of ``specs`` by its ``X-Amz-Target`` prefix (``AmazonAthena.``)."""
    by_service: dict[str, list[StatusSpec]] = {}
    for spec in specs:
        if spec.key in CATALOGUE and protocol(spec.service) == "json":
            by_service.setdefault(spec.service, []).append(spec)
    served = [JsonService(emulator, service, group) for service, group in by_service.items()]
    return {service.target_prefix: service for service in served}
