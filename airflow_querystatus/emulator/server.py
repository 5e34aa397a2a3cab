"""The emulator's HTTP side: the AWS wire protocols of the five query families.

Internet Monitor, Network Flow Monitor and Neptune Data speak rest-json; Athena speaks
json 1.1 (``POST /`` with ``X-Amz-Target``). Errors come back in each service's own shape
(rest-json: ``x-amzn-ErrorType`` header; Neptune: ``code`` in the body; Athena: ``__type``),
so botocore raises exactly the exception classes it raises against AWS. Signatures are
not checked. The server binds loopback addresses only.
"""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import json
import socket
import ssl
import threading
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from airflow_querystatus.emulator.model import (
    NEPTUNE_LISTED_STATES,
    Emulator,
    Fault,
    Query,
    UnknownQuery,
)

#: HTTP status of each error code, as the service models declare them.
_ERROR_STATUS = {
    "AccessDeniedException": 403,
    "InternalServerException": 500,
    "LimitExceededException": 403,
    "ThrottlingException": 429,
    "ValidationException": 400,
    "ServiceQuotaExceededException": 402,
    "ResourceNotFoundException": 404,
    "TooManyRequestsException": 429,
    "ClientTimeoutException": 408,
    "ConcurrentModificationException": 500,
    "FailureByQueryException": 500,
    "TimeLimitExceededException": 500,
    "CancelledByUserException": 500,
    "InvalidRequestException": 400,
    "ExpiredTokenException": 403,
    "UnrecognizedClientException": 403,
}
#: Where a service differs: Neptune throttles with 500, Athena's errors are 400 unless 5xx.
_PROTOCOL_STATUS = {
    "neptune": {"ThrottlingException": 500},
    "json": {"ThrottlingException": 400, "ResourceNotFoundException": 400, "AccessDeniedException": 400},
}

# Path labels match any character but "/" (aiohttp's default also refuses braces), so that
# every id botocore can percent-encode reaches its query.
_IM = "/v20210603/Monitors/{monitor:[^/]+}/Queries"
_NFM = "/monitors/{monitor:[^/]+}/topContributorsQueries"
_WID = "/workloadInsights/{scope:[^/]+}/topContributorsDataQueries"
_ID = "/{query_id:[^/]+}"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class AwsError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _iso(ts: float) -> str:
    return datetime.datetime.fromtimestamp(ts, datetime.timezone.utc).isoformat().replace("+00:00", "Z")


def _access_key(request: web.Request) -> str | None:
    """The access key id a SigV4 request was signed with (never the secret, which is not sent)."""
    authorization = request.headers.get("Authorization", "")
    if "Credential=" not in authorization:
        return None
    return authorization.split("Credential=", 1)[1].split("/", 1)[0]


def _json(body: Any, status: int = 200, content_type: str = "application/json") -> web.Response:
    return web.Response(status=status, body=json.dumps(body).encode(), content_type=content_type)


class EmulatorApp:
    """Builds the aiohttp application over an :class:`Emulator`."""

    def __init__(self, emulator: Emulator) -> None:
        self.emulator = emulator

    def build(self) -> web.Application:
        app = web.Application()
        r = app.router
        # Internet Monitor
        r.add_post(_IM, self._rest("internet_monitor", "start_query", self.im_start))
        r.add_get(_IM + _ID + "/Status", self._rest("internet_monitor", "get_query_status", self.im_status))
        r.add_get(_IM + _ID + "/Results", self._rest("internet_monitor", "get_query_results", self.im_results))
        r.add_delete(_IM + _ID, self._rest("internet_monitor", "stop_query", self.stop))
        # Network Flow Monitor, both families
        for path, kind, suffix in (
            (_NFM, "network_flow_monitor_top_contributors", "monitor_top_contributors"),
            (_WID, "network_flow_monitor_workload_insights_data", "workload_insights_top_contributors_data"),
        ):
            r.add_post(path, self._rest(kind, f"start_query_{suffix}", self.nfm_start))
            r.add_get(path + _ID + "/status", self._rest(kind, f"get_query_status_{suffix}", self.nfm_status))
            r.add_get(path + _ID + "/results", self._rest(kind, f"get_query_results_{suffix}", self.nfm_results))
            r.add_delete(path + _ID, self._rest(kind, f"stop_query_{suffix}", self.stop))
        # Neptune Data
        r.add_post("/opencypher", self._neptune("execute_open_cypher_query", self.neptune_execute))
        r.add_get("/opencypher/status", self._neptune("list_open_cypher_queries", self.neptune_list))
        r.add_get("/opencypher/status" + _ID, self._neptune("get_open_cypher_query_status", self.neptune_status))
        r.add_delete("/opencypher/status" + _ID, self._neptune("cancel_open_cypher_query", self.neptune_cancel))
        # Athena (json 1.1)
        r.add_post("/", self.athena)
        # Control API for out-of-process use (demo, end-to-end tests)
        r.add_post("/_emulator/queries", self.control_add_query)
        r.add_get("/_emulator/queries", self.control_list_queries)
        r.add_get("/_emulator/queries/{query_id}", self.control_get_query)
        r.add_put("/_emulator/defaults/{kind}", self.control_set_defaults)
        r.add_post("/_emulator/faults", self.control_add_faults)
        r.add_delete("/_emulator/faults", self.control_clear_faults)
        r.add_get("/_emulator/stats", self.control_stats)
        r.add_get("/_emulator/history", self.control_history)
        return app

    # -- wrappers: faults, error shapes ---------------------------------------------------
    def _rest(self, kind: str, operation: str, handler: Callable[..., Awaitable[Any]]) -> Handler:
        async def wrapped(request: web.Request) -> web.StreamResponse:
            return await self._serve(request, "restjson", operation, lambda: handler(request, kind))

        return wrapped

    def _neptune(self, operation: str, handler: Callable[..., Awaitable[Any]]) -> Handler:
        async def wrapped(request: web.Request) -> web.StreamResponse:
            return await self._serve(request, "neptune", operation, lambda: handler(request))

        return wrapped

    async def _serve(
        self,
        request: web.Request,
        protocol: str,
        operation: str,
        answer: Callable[[], Awaitable[Any]],
        query_id: str | None = None,
    ) -> web.StreamResponse:
        access_key = _access_key(request)
        self.emulator.count_request(operation, access_key)
        if self.emulator.key_expired(access_key):
            return self._error(protocol, "ExpiredTokenException", "The security token in the request is expired")
        fault = self.emulator.next_fault(operation, query_id or request.match_info.get("query_id"))
        if fault is not None:
            injected = await self._inject(request, protocol, fault)
            if injected is not None:
                return injected
        try:
            body = await answer()
        except AwsError as err:
            return self._error(protocol, err.code, err.message)
        if isinstance(body, web.StreamResponse):
            return body
        content_type = "application/x-amz-json-1.1" if protocol == "json" else "application/json"
        return _json(body, content_type=content_type)

    async def _inject(self, request: web.Request, protocol: str, fault: Fault) -> web.StreamResponse | None:
        if fault.delay:
            await asyncio.sleep(fault.delay)
        if fault.reset:
            transport = request.transport
            if transport is not None:
                transport.abort()
            return web.Response(status=500)
        if fault.error:
            return self._error(protocol, fault.error, fault.message or f"Injected {fault.error}")
        if fault.http_status:
            return web.Response(status=fault.http_status, text=fault.body or "", content_type=fault.content_type)
        return None  # a pure delay: answer normally afterwards

    @staticmethod
    def _error(protocol: str, code: str, message: str) -> web.Response:
        status = _PROTOCOL_STATUS.get(protocol, {}).get(code, _ERROR_STATUS.get(code, 400))
        if protocol == "neptune":
            body = {"code": code, "requestId": str(uuid.uuid4()), "detailedMessage": message}
            return _json(body, status)
        if protocol == "json":
            return _json({"__type": code, "Message": message}, status, "application/x-amz-json-1.1")
        response = _json({"message": message, "Message": message}, status)
        response.headers["x-amzn-ErrorType"] = code
        return response

    # -- shared pieces ------------------------------------------------------------------
    @staticmethod
    def _scope(request: web.Request) -> dict[str, str]:
        info = request.match_info
        if "monitor" in info:
            return {"monitor_name": info["monitor"]}
        return {"scope_id": info["scope"]}

    def _find(self, request: web.Request, kind: str) -> Query:
        query_id = request.match_info["query_id"]
        query = self.emulator.find(kind, self._scope(request), query_id)
        if query is None:
            raise AwsError("ValidationException", f"Query {query_id} was not found for this resource.")
        return query

    async def _start(self, request: web.Request, kind: str) -> Query:
        body = await request.json() if request.can_read_body else {}
        for required in ("StartTime", "EndTime") if kind == "internet_monitor" else ("startTime", "endTime"):
            if required not in body:
                raise AwsError("ValidationException", f"{required} is required.")
        return self.emulator.add_query(kind, self._scope(request), text=json.dumps(body, sort_keys=True))

    async def stop(self, request: web.Request, kind: str) -> dict[str, Any]:
        self.emulator.stop(self._find(request, kind))
        return {}

    @staticmethod
    def _page(request: web.Request, total: int, *, token: str, size: str) -> tuple[int, int, str | None]:
        start = int(request.query.get(token) or 0)
        limit = int(request.query.get(size) or 100)
        end = min(start + limit, total)
        return start, end, str(end) if end < total else None

    def _finished(self, query: Query, done_state: str) -> None:
        state = self.emulator.peek(query).state
        if state != done_state:
            raise AwsError("ValidationException", f"Query {query.query_id} is {state}, not {done_state}.")

    # -- Internet Monitor --------------------------------------------------------------
    async def im_start(self, request: web.Request, kind: str) -> dict[str, Any]:
        return {"QueryId": (await self._start(request, kind)).query_id}

    async def im_status(self, request: web.Request, kind: str) -> dict[str, Any]:
        return {"Status": self.emulator.poll(self._find(request, kind)).state}

    async def im_results(self, request: web.Request, kind: str) -> dict[str, Any]:
        query = self._find(request, kind)
        self._finished(query, "SUCCEEDED")
        start, end, next_token = self._page(request, query.result_rows, token="NextToken", size="MaxResults")
        answer: dict[str, Any] = {
            "Fields": [{"Name": "city", "Type": "string"}, {"Name": "availability_score", "Type": "float"}],
            "Data": [[f"city-{i}", f"{99 - i * 0.5:.1f}"] for i in range(start, end)],
        }
        if next_token:
            answer["NextToken"] = next_token
        return answer

    # -- Network Flow Monitor ----------------------------------------------------------
    async def nfm_start(self, request: web.Request, kind: str) -> dict[str, Any]:
        return {"queryId": (await self._start(request, kind)).query_id}

    async def nfm_status(self, request: web.Request, kind: str) -> dict[str, Any]:
        return {"status": self.emulator.poll(self._find(request, kind)).state}

    async def nfm_results(self, request: web.Request, kind: str) -> dict[str, Any]:
        query = self._find(request, kind)
        self._finished(query, "SUCCEEDED")
        start, end, next_token = self._page(request, query.result_rows, token="nextToken", size="maxResults")
        answer: dict[str, Any]
        if kind == "network_flow_monitor_top_contributors":
            rows = [
                {"localIp": f"10.0.0.{i}", "remoteIp": f"10.1.0.{i}", "targetPort": 443, "value": 1000 - i}
                for i in range(start, end)
            ]
            answer = {"unit": "Bytes", "topContributors": rows}
        else:
            points = [
                {"timestamps": [_iso(query.created_at)], "values": [float(100 - i)], "label": f"use1-az{i}"}
                for i in range(start, end)
            ]
            answer = {"unit": "Bytes", "datapoints": points}
        if next_token:
            answer["nextToken"] = next_token
        return answer

    # -- Neptune Data ------------------------------------------------------------------
    def _neptune_query(self, request: web.Request) -> Query:
        query_id = request.match_info["query_id"]
        query = self.emulator.find("neptune_open_cypher", {}, query_id)
        if query is None or self.emulator.peek(query).state not in NEPTUNE_LISTED_STATES:
            raise AwsError("InvalidParameterException", f"Supplied queryId {query_id} is invalid")
        return query

    @staticmethod
    def _neptune_listing(query: Query, state: str) -> dict[str, Any]:
        elapsed = int((time.time() - query.created_at) * 1000)
        return {
            "queryId": query.query_id,
            "queryString": (query.text or "")[:1024],
            "queryEvalStats": {"waited": 0, "elapsed": elapsed, "cancelled": state == "CANCELLED"},
        }

    async def neptune_status(self, request: web.Request) -> dict[str, Any]:
        query = self._neptune_query(request)
        state = self.emulator.poll(query).state
        if state not in NEPTUNE_LISTED_STATES:  # it finished during this very call
            raise AwsError("InvalidParameterException", f"Supplied queryId {query.query_id} is invalid")
        return self._neptune_listing(query, state)

    async def neptune_list(self, request: web.Request) -> dict[str, Any]:
        listed = []
        for query in self.emulator.queries("neptune_open_cypher"):
            state = self.emulator.peek(query).state
            if state in NEPTUNE_LISTED_STATES:
                listed.append(self._neptune_listing(query, state))
        running = sum(1 for q in listed if not q["queryEvalStats"]["cancelled"])
        return {"acceptedQueryCount": len(listed), "runningQueryCount": running, "queries": listed}

    async def neptune_cancel(self, request: web.Request) -> dict[str, Any]:
        query = self._neptune_query(request)
        query.silent_cancel = request.query.get("silent", "false").lower() == "true"
        self.emulator.stop(query)
        return {"status": "200 OK", "payload": True}

    async def neptune_execute(self, request: web.Request) -> dict[str, Any]:
        """Synchronous, like Neptune: the answer comes when the query ends, with no id."""
        form = await request.json() if request.content_type.endswith("json") else dict(await request.post())
        text = str(form.get("query") or form.get("openCypherQuery") or "")
        if not text.strip():
            raise AwsError("MissingParameterException", "Missing query")
        query = self.emulator.add_query("neptune_open_cypher", {}, text=text)
        while True:
            state = self.emulator.peek(query).state
            if state not in NEPTUNE_LISTED_STATES:
                break
            await asyncio.sleep(0.05)
        if state == "FINISHED":
            return {"results": [{"n": i} for i in range(query.result_rows)]}
        if state == "CANCELLED_GONE":
            if query.silent_cancel:
                return {"results": []}
            raise AwsError("CancelledByUserException", "Operation terminated (cancelled by user)")
        raise AwsError("TimeLimitExceededException", "Operation terminated (deadline exceeded)")

    # -- Athena ------------------------------------------------------------------------
    async def athena(self, request: web.Request) -> web.StreamResponse:
        target = request.headers.get("X-Amz-Target", "")
        if not target and request.content_type == "application/x-www-form-urlencoded":
            return await self.sts(request)
        if not target.startswith("AmazonAthena."):
            return web.Response(status=404, text="unknown target")
        operation = target.removeprefix("AmazonAthena.")
        body = await request.json() if request.can_read_body else {}
        snake = "".join("_" + c.lower() if c.isupper() else c for c in operation).lstrip("_")
        handler = getattr(self, f"athena_{snake}", None)

        async def answer() -> Any:
            if handler is None:
                raise AwsError("InvalidRequestException", f"{operation} is not emulated")
            return handler(body)

        return await self._serve(request, "json", snake, answer, str(body.get("CalculationExecutionId", "")))

    def athena_start_session(self, body: dict[str, Any]) -> dict[str, Any]:
        if not body.get("WorkGroup") or not body.get("EngineConfiguration"):
            raise AwsError("InvalidRequestException", "WorkGroup and EngineConfiguration are required.")
        session_id = str(uuid.uuid4())
        self.emulator.sessions[session_id] = {"State": "IDLE", "WorkGroup": body["WorkGroup"]}
        return {"SessionId": session_id, "State": "CREATING"}

    def _session(self, body: dict[str, Any]) -> dict[str, Any]:
        session = self.emulator.sessions.get(str(body.get("SessionId")))
        if session is None:
            raise AwsError("InvalidRequestException", f"Session {body.get('SessionId')} not found.")
        return session

    def athena_get_session_status(self, body: dict[str, Any]) -> dict[str, Any]:
        return {"SessionId": body.get("SessionId"), "Status": {"State": self._session(body)["State"]}}

    def athena_get_session(self, body: dict[str, Any]) -> dict[str, Any]:
        session = self._session(body)
        return {"SessionId": body.get("SessionId"), "WorkGroup": session["WorkGroup"],
                "Status": {"State": session["State"]}}

    def athena_terminate_session(self, body: dict[str, Any]) -> dict[str, Any]:
        self._session(body)["State"] = "TERMINATED"
        return {"State": "TERMINATED"}

    def athena_start_calculation_execution(self, body: dict[str, Any]) -> dict[str, Any]:
        session = self._session(body)
        if session["State"] not in {"IDLE", "BUSY"}:
            raise AwsError("InvalidRequestException", f"Session is {session['State']}.")
        code = body.get("CodeBlock") or (body.get("CalculationConfiguration") or {}).get("CodeBlock")
        if not code:
            raise AwsError("InvalidRequestException", "CodeBlock is required.")
        query = self.emulator.add_query("athena_calculation", {}, text=code, session_id=str(body["SessionId"]))
        return {"CalculationExecutionId": query.query_id, "State": "CREATING"}

    def _calculation(self, body: dict[str, Any]) -> Query:
        calc_id = str(body.get("CalculationExecutionId", ""))
        if not calc_id or len(calc_id) > 36:
            raise AwsError("InvalidRequestException", "CalculationExecutionId must be 1 to 36 characters.")
        query = self.emulator.find("athena_calculation", {}, calc_id)
        if query is None:
            raise AwsError("InvalidRequestException", f"Calculation {calc_id} was not found.")
        return query

    def _calculation_status(self, query: Query, state: str) -> dict[str, Any]:
        step = query.step
        status: dict[str, Any] = {"SubmissionDateTime": query.created_at, "State": state}
        if state in {"COMPLETED", "FAILED", "CANCELED"}:
            status["CompletionDateTime"] = query.state_entered_at(state) or time.time()
        if step.reason:
            status["StateChangeReason"] = step.reason
        stats: dict[str, Any] = {"DpuExecutionInMillis": int((time.time() - query.created_at) * 1000)}
        if step.progress:
            stats["Progress"] = step.progress
        return {"Status": status, "Statistics": stats}

    def athena_get_calculation_execution_status(self, body: dict[str, Any]) -> dict[str, Any]:
        query = self._calculation(body)
        return self._calculation_status(query, self.emulator.poll(query).state)

    def athena_get_calculation_execution(self, body: dict[str, Any]) -> dict[str, Any]:
        # A status poll too: the amazon provider's ``calculation_complete`` waiter polls this.
        query = self._calculation(body)
        answer = self._calculation_status(query, self.emulator.poll(query).state)
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

    def athena_stop_calculation_execution(self, body: dict[str, Any]) -> dict[str, Any]:
        query = self._calculation(body)
        self.emulator.stop(query)
        return {"State": self.emulator.peek(query).state}

    # -- STS (query protocol), for assume-role connections ------------------------------------
    async def sts(self, request: web.Request) -> web.StreamResponse:
        form = await request.post()
        self.emulator.count_request(f"sts_{str(form.get('Action', '')).lower()}", _access_key(request))
        if form.get("Action") != "AssumeRole" or not form.get("RoleArn"):
            return web.Response(status=400, content_type="text/xml", text=(
                "<ErrorResponse><Error><Type>Sender</Type><Code>InvalidAction</Code>"
                "<Message>Only AssumeRole is emulated</Message></Error></ErrorResponse>"))
        key, expires = self.emulator.issue_sts_key()
        session = str(form.get("RoleSessionName", "session"))
        xml = (
            '<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleResult>'
            f"<Credentials><AccessKeyId>{key}</AccessKeyId><SecretAccessKey>emulated-{uuid.uuid4().hex}"
            f"</SecretAccessKey><SessionToken>token-{uuid.uuid4().hex}</SessionToken>"
            f"<Expiration>{_iso(expires)}</Expiration></Credentials>"
            f"<AssumedRoleUser><AssumedRoleId>AROAEMULATOR:{session}</AssumedRoleId>"
            f"<Arn>arn:aws:sts::123456789012:assumed-role/emulated/{session}</Arn></AssumedRoleUser>"
            f"</AssumeRoleResult><ResponseMetadata><RequestId>{uuid.uuid4()}</RequestId></ResponseMetadata>"
            "</AssumeRoleResponse>"
        )
        return web.Response(status=200, content_type="text/xml", text=xml)

    # -- control API -------------------------------------------------------------------
    async def control_add_query(self, request: web.Request) -> web.Response:
        """One query (``{"kind", ...}``) or many (``{"queries": [...]}``, answered in order)."""
        body = await request.json()
        try:
            if "queries" in body:
                return _json({"query_ids": [self._plant(spec).query_id for spec in body["queries"]]})
            return _json({"query_id": self._plant(body).query_id})
        except (KeyError, TypeError, ValueError) as err:
            return _json({"error": str(err)}, 400)

    def _plant(self, body: dict[str, Any]) -> Query:
        return self.emulator.add_query(
            body["kind"],
            body.get("identifiers") or {},
            steps=body.get("steps"),
            faults=body.get("faults") or (),
            query_id=body.get("query_id"),
            result_rows=int(body.get("result_rows", 3)),
            text=body.get("text"),
            clock_from_first_poll=bool(body.get("clock_from_first_poll", False)),
        )

    async def control_history(self, request: web.Request) -> web.Response:
        """When each query entered each state (UNIX time), for detection-delay measurements."""
        return _json({q.query_id: q.history for q in self.emulator.queries(request.query.get("kind"))})

    async def control_get_query(self, request: web.Request) -> web.Response:
        try:
            query = self.emulator.query(request.match_info["query_id"])
        except UnknownQuery:
            return _json({"error": "unknown query"}, 404)
        return _json(self._describe(query))

    async def control_list_queries(self, request: web.Request) -> web.Response:
        """``?kind=...&text=...``: the queries of a kind whose text contains ``text``, oldest first
        (e.g. to find the calculation an operator started from a marker in its code)."""
        text = request.query.get("text")
        queries = [q for q in self.emulator.queries(request.query.get("kind"))
                   if text is None or text in (q.text or "")]
        return _json({"queries": [self._describe(q) for q in sorted(queries, key=lambda q: q.created_at)]})

    def _describe(self, query: Query) -> dict[str, Any]:
        return {
            "query_id": query.query_id,
            "kind": query.kind,
            "state": self.emulator.peek(query).state,
            "status_calls": query.status_calls,
            "stopped": query.stopped,
            "history": query.history,
        }

    async def control_set_defaults(self, request: web.Request) -> web.Response:
        self.emulator.set_default_steps(request.match_info["kind"], (await request.json())["steps"])
        return _json({})

    async def control_add_faults(self, request: web.Request) -> web.Response:
        self.emulator.add_global_faults((await request.json())["faults"])
        return _json({})

    async def control_clear_faults(self, request: web.Request) -> web.Response:
        self.emulator.clear_global_faults()
        return _json({})

    async def control_stats(self, request: web.Request) -> web.Response:
        return _json({"requests": dict(self.emulator.requests)})


def ensure_loopback(host: str) -> None:
    """Refuse any address that is not loopback: the emulator must never face a network."""
    try:
        addresses = {str(info[4][0]) for info in socket.getaddrinfo(host, None)}
    except socket.gaierror as err:
        raise ValueError(f"cannot resolve emulator host {host!r}: {err}") from err
    for address in addresses:
        if not ipaddress.ip_address(address.split("%")[0]).is_loopback:
            raise ValueError(f"the emulator binds loopback addresses only; {host!r} resolves to {address}")


class EmulatorServer:
    """Runs the emulator in a background thread with its own event loop.

    ``with EmulatorServer() as server: server.url`` is all a test needs.
    """

    def __init__(
        self,
        emulator: Emulator | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        ensure_loopback(host)
        self.emulator = emulator or Emulator()
        self.host = host
        self.port = port
        self._ssl = ssl_context
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        scheme = "https" if self._ssl else "http"
        return f"{scheme}://{self.host}:{self.port}"

    def start(self) -> EmulatorServer:
        ready = threading.Event()
        failure: list[BaseException] = []

        def serve() -> None:
            loop = self._loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            try:
                self._runner = web.AppRunner(
                    EmulatorApp(self.emulator).build(), access_log=None, shutdown_timeout=1.0
                )
                loop.run_until_complete(self._runner.setup())
                site = web.TCPSite(self._runner, self.host, self.port, ssl_context=self._ssl, backlog=4096)
                loop.run_until_complete(site.start())
                self.port = int(self._runner.addresses[0][1])
            except BaseException as err:  # reported to the starting thread
                failure.append(err)
                ready.set()
                return
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self._runner.cleanup())
            loop.close()

        self._thread = threading.Thread(target=serve, name="querystatus-emulator", daemon=True)
        self._thread.start()
        ready.wait(30)
        if failure:
            raise failure[0]
        return self

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(30)
            self._thread = None

    def __enter__(self) -> EmulatorServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
