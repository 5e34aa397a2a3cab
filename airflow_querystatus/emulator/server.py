"""The emulator's HTTP side: one aiohttp application over every operation in the registry.

Each operation is served by the module of the wire protocol botocore's model gives its service:
:mod:`.rest_json` (Internet Monitor, Network Flow Monitor, Neptune Data, whose query languages
answer through a quirk, :mod:`.neptune`), :mod:`.json_1_1` (Athena, CloudWatch Logs);
:mod:`.sts` serves AssumeRole. Errors come back in each service's own shape, so botocore raises
exactly the exception classes it raises against AWS. This module adds fault injection, expired
keys and the control API under ``/_emulator/``. Signatures made with a key the emulator knows
are verified (:mod:`.sigv4`); others are not checked. The server binds loopback addresses only.
"""

from __future__ import annotations

import asyncio
import dataclasses
import ipaddress
import socket
import ssl
import threading
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from airflow_querystatus.emulator import json_1_1, rest_json
from airflow_querystatus.emulator.catalogue import CATALOGUE
from airflow_querystatus.emulator.errors import ControlError
from airflow_querystatus.emulator.model import (
    KINDS,
    SPECS_BY_KIND,
    Emulator,
    Fault,
    Query,
    Step,
    UnknownQuery,
    _fields,
    resolve_kind,
)
from airflow_querystatus.emulator.quotas import THROTTLED
from airflow_querystatus.emulator.sts import access_key, assume_role
from airflow_querystatus.emulator.wire import (
    AwsError,
    ErrorShape,
    Route,
    json_response,
    operation_model,
    protocol,
    uri_label,
)

_json = json_response
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class EmulatorApp:
    """Builds the aiohttp application over an :class:`Emulator`."""

    def __init__(self, emulator: Emulator) -> None:
        self.emulator = emulator
        #: The JSON 1.1 services by ``X-Amz-Target`` prefix (from botocore's models).
        self.json_services: dict[str, json_1_1.JsonService] = {}

    def build(self) -> web.Application:
        app = web.Application(middlewares=[self._control_errors])
        r = app.router
        self.json_services = json_1_1.services(self.emulator, SPECS_BY_KIND.values())
        served = {(service.service, name) for service in self.json_services.values() for name in service.handlers}
        for spec in SPECS_BY_KIND.values():
            if protocol(spec.service) != "rest-json":
                continue  # JSON 1.1: json_services, above
            for route in rest_json.routes(self.emulator, spec, CATALOGUE[spec.key]):
                # Faults find their query by the label that carries its own id in this route.
                label = uri_label(spec.service, route.operation, spec.identifiers[-1].api_name)
                r.add_route(route.method, route.path, self._handler(route, label, spec.service))
                served.add((spec.service, route.operation))
        # Faults and quotas may name only these: a misspelt name would never fire.
        self.emulator.operations = frozenset(name for _, name in served)
        self.emulator.api_names = {name: operation_model(service, name).name for service, name in served}
        self.emulator.served = frozenset((service, operation_model(service, name).name) for service, name in served)
        # JSON 1.1 and STS's query protocol share ``POST /``.
        r.add_post("/", self.post_root)
        # Control API for out-of-process use (demo, end-to-end tests)
        r.add_post("/_emulator/queries", self.control_add_query)
        r.add_get("/_emulator/queries", self.control_list_queries)
        r.add_get("/_emulator/queries/{query_id}", self.control_get_query)
        r.add_put("/_emulator/defaults/{kind}", self.control_set_defaults)
        r.add_post("/_emulator/faults", self.control_add_faults)
        r.add_delete("/_emulator/faults", self.control_clear_faults)
        r.add_post("/_emulator/log-groups", self.control_add_log_group)
        r.add_get("/_emulator/log-groups", self.control_list_log_groups)
        r.add_post("/_emulator/athena-sessions", self.control_add_athena_session)
        r.add_get("/_emulator/stats", self.control_stats)
        r.add_put("/_emulator/quotas/{operation}", self.control_set_quota)
        r.add_get("/_emulator/quotas", self.control_quotas)
        r.add_delete("/_emulator/quotas", self.control_clear_quotas)
        r.add_get("/_emulator/history", self.control_history)
        return app

    def _handler(self, route: Route, label: str | None, service: str) -> Handler:
        async def handle(request: web.Request) -> web.StreamResponse:
            query_id = request.match_info.get(label) if label else None
            return await self._serve(request, route.error, (service, route.operation), lambda: route.answer(request),
                                     query_id)

        return handle

    async def post_root(self, request: web.Request) -> web.StreamResponse:
        target = request.headers.get("X-Amz-Target", "")
        if not target and request.content_type == "application/x-www-form-urlencoded":
            return await assume_role(self.emulator, request)
        service = self.json_services.get(target.partition(".")[0] + ".")
        if service is None:
            return web.Response(status=404, text="unknown target")
        operation, query_id, answer = await service.dispatch(request)
        return await self._serve(request, service.error, (service.service, operation), answer, query_id,
                                 content_type=service.content_type)

    # -- faults, expired keys, error shapes ---------------------------------------------
    async def _serve(
        self,
        request: web.Request,
        error: ErrorShape,
        call: tuple[str, str],
        answer: Callable[[], Awaitable[Any]],
        query_id: str | None = None,
        content_type: str = "application/json",
    ) -> web.StreamResponse:
        service, operation = call  # boto3 names
        key = access_key(request)
        self.emulator.count_request(operation, key)
        refusal = self.emulator.credentials.refusal(request, await request.read())
        if refusal is not None:
            return error(refusal.code, refusal.message)
        if self.emulator.key_expired(key):
            return error("ExpiredTokenException", "The security token in the request is expired")
        if not self.emulator.admit(service, operation):
            return error(*THROTTLED)  # over the account's quota: nothing else happens
        fault = self.emulator.next_fault(operation, query_id)
        if fault is not None:
            injected = await self._inject(request, error, fault)
            if injected is not None:
                return injected
        try:
            body = await answer()
        except AwsError as err:
            return error(err.code, err.message, err.members)
        if isinstance(body, web.StreamResponse):
            return body
        return _json(body, content_type=content_type)

    @staticmethod
    async def _inject(request: web.Request, error: ErrorShape, fault: Fault) -> web.StreamResponse | None:
        if fault.delay:
            await asyncio.sleep(fault.delay)
        if fault.reset:
            transport = request.transport
            if transport is not None:
                transport.abort()
            return web.Response(status=500)
        if fault.error:
            return error(fault.error, fault.message or f"Injected {fault.error}")
        if fault.http_status:
            return web.Response(status=fault.http_status, text=fault.body or "", content_type=fault.content_type)
        return None  # a pure delay: answer normally afterwards

    # -- control API -------------------------------------------------------------------
    # Documented in docs/emulator.rst. A wrong request answers 400 ``{"error", "field", ...}``
    # naming the field at fault (see ControlError); an unknown query id 404.

    @staticmethod
    async def _body(request: web.Request, allowed: tuple[str, ...], required: tuple[str, ...] = ()) -> dict[str, Any]:
        try:
            body = await request.json() if request.body_exists else {}
        except ValueError as err:
            raise ControlError(f"the request body is not JSON: {err}", "body") from None
        body = _fields(body, allowed, "body")
        for name in required:
            if name not in body:
                raise ControlError(f"missing field {name!r}; this endpoint takes: {', '.join(allowed)}", name)
        return body

    @staticmethod
    def _kind_filter(request: web.Request) -> str | None:
        kind = request.query.get("kind")
        return None if kind is None else resolve_kind(kind)

    @web.middleware
    async def _control_errors(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            return await handler(request)
        except ControlError as err:
            return _json(err.answer(), 400)

    async def control_add_query(self, request: web.Request) -> web.Response:
        """One query (``{"kind", ...}``) or many (``{"queries": [...]}``, answered in order)."""
        body = await self._body(request, (*PLANT_FIELDS, "queries"))
        if "queries" in body:
            if set(body) != {"queries"} or not isinstance(body["queries"], list):
                raise ControlError("a batch is {\"queries\": [query, ...]} and nothing else", "queries")
            batch = [self._query(spec, f"queries[{i}]") for i, spec in enumerate(body["queries"])]
            return _json({"query_ids": [q.query_id for q in self.emulator.plant(batch)]})
        return _json({"query_id": self.emulator.plant([self._query(body, "body")])[0].query_id})

    def _query(self, raw: Any, where: str) -> Query:
        body = _fields(raw, PLANT_FIELDS, where)
        prefix = "" if where == "body" else f"{where}."
        if "kind" not in body:
            raise ControlError(f"missing field {prefix}kind; one of: {', '.join(KINDS)}", f"{prefix}kind",
                               kinds=list(KINDS))
        try:
            return self.emulator.new_query(
                body["kind"],
                body.get("identifiers") or {},
                steps=body.get("steps"),
                faults=body.get("faults") or (),
                query_id=body.get("query_id"),
                result_rows=body.get("result_rows", 3),
                text=body.get("text"),
                session_id=body.get("session_id"),
                clock_from_first_poll=bool(body.get("clock_from_first_poll", False)),
            )
        except ControlError as err:
            if prefix and err.field is not None:
                err.field = prefix + err.field
            raise

    async def control_history(self, request: web.Request) -> web.Response:
        """When each query entered each state (UNIX time), for detection-delay measurements."""
        return _json({q.query_id: q.history for q in self.emulator.queries(self._kind_filter(request))})

    async def control_get_query(self, request: web.Request) -> web.Response:
        query_id = request.match_info["query_id"]
        try:
            query = self.emulator.query(query_id)
        except UnknownQuery:
            return _json({"error": f"unknown query {query_id!r}", "field": "query_id"}, 404)
        return _json(self._describe(query))

    async def control_list_queries(self, request: web.Request) -> web.Response:
        """``?kind=...&text=...``: the queries of a kind whose text contains ``text``, oldest first
        (e.g. to find the calculation an operator started from a marker in its code)."""
        text = request.query.get("text")
        queries = [q for q in self.emulator.queries(self._kind_filter(request))
                   if text is None or text in (q.text or "")]
        return _json({"queries": [self._describe(q) for q in sorted(queries, key=lambda q: q.created_at)]})

    def _describe(self, query: Query) -> dict[str, Any]:
        return {
            "query_id": query.query_id,
            "kind": query.kind,
            "identifiers": query.identifiers,
            "state": self.emulator.peek(query).state,
            "status_calls": query.status_calls,
            "stopped": query.stopped,
            "history": query.history,
        }

    async def control_set_defaults(self, request: web.Request) -> web.Response:
        kind = resolve_kind(request.match_info["kind"])
        self.emulator.set_default_steps(kind, (await self._body(request, ("steps",), ("steps",)))["steps"])
        return _json({"kind": kind, "steps": [_step_json(s) for s in self.emulator.default_steps(kind)]})

    async def control_add_faults(self, request: web.Request) -> web.Response:
        self.emulator.add_global_faults((await self._body(request, ("faults",), ("faults",)))["faults"])
        return _json({})

    async def control_clear_faults(self, request: web.Request) -> web.Response:
        self.emulator.clear_global_faults()
        return _json({})

    async def control_add_log_group(self, request: web.Request) -> web.Response:
        """A CloudWatch Logs log group (``{"name", "events"}``), for Logs Insights queries to run over."""
        body = await self._body(request, ("name", "events"), ("name",))
        if not isinstance(body["name"], str):
            raise ControlError(f"name must be a string, got {body['name']!r}", "name")
        group = self.emulator.create_log_group(body["name"], body.get("events") or ())
        return _json({"name": group.name, "events": len(group.events)})

    async def control_add_athena_session(self, request: web.Request) -> web.Response:
        """An Athena Spark session (``{"work_group"?, "state"?}``, default primary and IDLE) that
        calculations can start in or be created in (``session_id``); answers ``{"session_id"}``."""
        body = await self._body(request, ("work_group", "state"))
        for name in body:
            if not isinstance(body[name], str) or not body[name]:
                raise ControlError(f"{name} must be a non-empty string, got {body[name]!r}", name)
        return _json({"session_id": self.emulator.create_session(body.get("work_group", "primary"),
                                                                 body.get("state", "IDLE"))})

    async def control_list_log_groups(self, request: web.Request) -> web.Response:
        return _json({"log_groups": [{"name": g.name, "events": len(g.events)}
                                     for g in self.emulator.all_log_groups()]})

    async def control_stats(self, request: web.Request) -> web.Response:
        return _json({"requests": dict(self.emulator.requests)})

    async def control_set_quota(self, request: web.Request) -> web.Response:
        """``{"rate", "burst"?}``: the account's quota of the operation in the path (``*``: every
        operation without one), its bucket full. Answers what ``GET /_emulator/quotas`` answers."""
        body = await self._body(request, ("rate", "burst"), ("rate",))
        operation = request.match_info["operation"]
        self.emulator.set_quota(operation, body["rate"], body.get("burst"))
        return _json(self._quotas())

    async def control_quotas(self, request: web.Request) -> web.Response:
        return _json(self._quotas())

    async def control_clear_quotas(self, request: web.Request) -> web.Response:
        self.emulator.clear_quotas()
        return _json(self._quotas())

    def _quotas(self) -> dict[str, Any]:
        """``{"quotas": {operation: {"rate", "burst"}}, "counters": {operation: {"served", "throttled"}}}``."""
        return {"quotas": {op: dataclasses.asdict(q) for op, q in self.emulator.quotas.limits().items()},
                "counters": self.emulator.quota_counters()}


#: What ``POST /_emulator/queries`` (and each item of a batch) may say.
PLANT_FIELDS = ("kind", "identifiers", "steps", "faults", "query_id", "result_rows", "text", "session_id",
                "clock_from_first_poll")


def _step_json(step: Step) -> dict[str, Any]:
    return {k: v for k, v in vars(step).items() if v is not None}


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

    # The account's quotas, as scripts and benchmarks that start a server set them (see :class:`Emulator`).
    def set_quota(self, operation: str, rate: float, burst: float | None = None) -> None:
        """:meth:`Emulator.set_quota`: throttle ``operation`` to ``rate`` calls a second, ``burst`` at once."""
        self.emulator.set_quota(operation, rate, burst)

    def clear_quotas(self) -> None:
        """:meth:`Emulator.clear_quotas`."""
        self.emulator.clear_quotas()

    def quota_counters(self) -> dict[str, dict[str, int]]:
        """:meth:`Emulator.quota_counters`: ``{operation: {"served": n, "throttled": m}}``."""
        return self.emulator.quota_counters()

    def __enter__(self) -> EmulatorServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
