"""Prepared status calls: the same request as the plain client call, at half its CPU.

A status poll sends the same request every time: the operation, the identifiers, the endpoint
and the headers never change during a wait; only the date, the credentials and the signature
do. botocore nevertheless runs its whole per-call pipeline for each poll (parameter validation,
serialization, endpoint ruleset resolution, the user-agent string, a dozen event emissions),
which is about half the CPU of a call. A :class:`StatusCall` therefore

* makes the first poll of a wait through the plain client call, and keeps the request that
  call sent (observed on the client's ``before-send`` event) as the wait's template;
* for each later poll, signs a copy of the template (fresh frozen credentials from the
  client's credential provider each time, so refreshable and assume-role credentials keep
  working) with :class:`~airflow_querystatus.signing.FixedRequestSigner`, which keeps
  botocore's canonical form of the request and is proven byte-identical to botocore's SigV4
  signer, sends it through the client's own HTTP session
  (proxies, timeouts, TLS settings and the connection pool kept) and parses the answer with
  the client's own parser, raising errors exactly as the plain call raises them.

What a prepared poll bypasses, and why that is safe here:

* botocore's in-call retries: the polling engine already owns backoff and error budgets, and
  a throttled poll is simply the next poll a little later;
* parameter validation and serialization, already done once for the identical parameters.

What a prepared poll does not bypass: event handlers. botocore calls every handler registered on
a call's events (``before-call``, ``request-created``, ``before-sign``, ``before-send``,
``after-call``...) on every call, so a client with a handler from outside botocore, aiobotocore
and this package on the status operation's events (a user's tracing hook, say), or whose
``_make_api_call`` is wrapped (tracing instrumentation), uses plain calls only, with one log line
naming the event: checked at each poll, in O(1) until the client's handlers change
(:meth:`PreparedClient.hooks_allow`). Settings a template cannot honour the way botocore does (a
signature other than SigV4 in the header, an operation with checksums, compression or streaming)
turn the client's prepared calls off, with one log line naming the setting. README.md,
"Prepared status calls", lists every botocore setting and what the prepared path does with it.

Safety valves: the first poll of every wait, the first poll after the client was rebuilt, and
any poll after an error the engine does not expect (see ``keep_template``) go through the
plain call. A plain call answered without the client sending it (by botocore's ``Stubber`` at
``before-call``, or at ``before-send`` by moto's ``mock_aws`` or a user's handler: see
:func:`bounds.sent_by_session`) turns the client's prepared calls off, with one log line, so
that its polls keep going to whoever answers them and never past it.
The ``[querystatus] prepared_status_calls`` option or a connection's ``prepared_status_calls``
extra turns the whole path off.

This module and :mod:`airflow_querystatus.bounds` are the only ones that read private attributes
of botocore and aiobotocore. They are
read once per client (:class:`_ClientParts`); if one is missing, or if the self-check finds
that a prepared request differs from the plain client's request (method, URL, body, every
header including the signature, made in the same second with the same credentials), the
client falls back to plain calls with one warning.
"""

from __future__ import annotations

import asyncio
import contextvars
import datetime
import functools
import logging
import os
import uuid
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import aiobotocore
import botocore
from aiobotocore.endpoint import convert_to_response_dict
from botocore import parsers as botocore_parsers
from botocore.awsrequest import AWSPreparedRequest
from dateutil.tz import tzlocal

from airflow_querystatus import bounds
from airflow_querystatus.signing import ALGORITHM, FixedRequestSigner, SigningKeys

log = logging.getLogger(__name__)

#: Headers that are made anew for every request: by the signer, the length (as botocore's ``prepare()``),
#: and botocore's per-call invocation id.
_PER_REQUEST_HEADERS = frozenset(
    {"authorization", "x-amz-date", "x-amz-security-token", "content-length", "amz-sdk-invocation-id"}
)
_SIGV4 = f"{ALGORITHM} Credential="
#: Methods for which botocore's ``AWSRequest.prepare()`` sets no Content-Length.
_NO_CONTENT_LENGTH = frozenset({"GET", "HEAD", "OPTIONS"})
#: Attempts at making the self-check's two requests within the same second (same X-Amz-Date).
_SELF_CHECK_ATTEMPTS = 5

#: The events of one client call whose handlers botocore (aiobotocore's client, endpoint and
#: signer) calls on every call: a prepared poll calls none of them.
CALL_EVENTS = ("provide-client-params", "before-parameter-build", "before-endpoint-resolution", "before-call",
               "request-created", "choose-signer", "before-sign", "before-send", "response-received", "needs-retry",
               "after-call", "after-call-error")
#: Handlers from these modules are the call's own machinery, which a prepared poll stands in for
#: (proven by the self-check): botocore's, aiobotocore's and this package's.
_OWN_MODULES = ("botocore.", "aiobotocore.", "airflow_querystatus.")
#: moto registers its stubber on every client's ``before-send`` once imported; it answers only
#: under ``mock_aws``, and a call it answers turns prepared calls off (``sent_by_session``).
_ANSWERERS = ("moto.core.botocore_stubber.BotocoreStubber",)

_warned: set[str] = set()


def _warn_once(key: str, message: str, *args: Any) -> None:
    if key not in _warned:
        _warned.add(key)
        log.warning(message, *args)


#: One local time zone for every epoch timestamp a prepared poll parses. botocore's default
#: parser makes a new ``tzlocal()`` for each (an object the collector tracks, kept alive with
#: the answer until the next poll: see ``loop_timers``); the datetimes are equal either way.
_LOCAL_ZONE = tzlocal()


def handler_origin(handler: Any) -> str:
    """``module.qualname`` of an event handler (functions, bound methods, partials, callables)."""
    while isinstance(handler, functools.partial):
        handler = handler.func
    handler = getattr(handler, "__func__", handler)
    module = getattr(handler, "__module__", None) or type(handler).__module__
    name = getattr(handler, "__qualname__", None) or type(handler).__qualname__
    return f"{module}.{name}"


def _is_own(origin: str) -> bool:
    return origin.startswith(_OWN_MODULES) or origin in _ANSWERERS


#: Where botocore's and aiobotocore's code lives: the layers of a client's ``_make_api_call``
#: (aiobotocore wraps its own) must all be theirs.
_OWN_CODE = tuple(os.path.dirname(module.__file__ or "") + os.sep for module in (botocore, aiobotocore))


def _foreign_layer(function: Any) -> str | None:
    """The first layer of a wrapped function (``__wrapped__`` chain) that is not botocore's or
    aiobotocore's code, e.g. a tracing library's wrapper; None if there is none."""
    layer = function
    while layer is not None:
        code = getattr(layer, "__code__", None)
        if code is None or not code.co_filename.startswith(_OWN_CODE):
            return handler_origin(layer)
        layer = getattr(layer, "__wrapped__", None)
    return None


def _parse_timestamp(value: Any) -> datetime.datetime:
    """botocore's default timestamp parsing, with one shared local time zone for epoch numbers."""
    if isinstance(value, (int, float)):
        try:
            return datetime.datetime.fromtimestamp(value, _LOCAL_ZONE)
        except (OSError, OverflowError):
            pass  # botocore's own fallbacks (out of the platform's range)
    return botocore_parsers.DEFAULT_TIMESTAMP_PARSER(value)


# --------------------------------------------------------------------------- capture
@dataclass
class _Capture:
    """Set for the duration of one plain call: receives the request it sends."""

    dry_run: bool
    request: AWSPreparedRequest | None = None


class _DryRunStop(Exception):
    """Raised by the ``before-send`` observer to end a dry run before anything is sent."""


_capture: contextvars.ContextVar[_Capture | None] = contextvars.ContextVar("querystatus_capture", default=None)


def _observe_before_send(request: AWSPreparedRequest, **_: Any) -> None:
    """``before-send`` observer: records the signed request of the call being captured.

    Event handlers run inside the calling task, so the context variable names exactly the
    call that asked; every other call on the shared client passes through untouched.
    """
    capture = _capture.get()
    if capture is None:
        return
    capture.request = request
    if capture.dry_run:
        raise _DryRunStop


# --------------------------------------------------------------------------- per client
@dataclass(eq=False)
class _ClientParts:
    """Every private attribute of one aiobotocore client the prepared path uses."""

    signer: Any  # aiobotocore AioRequestSigner: get_auth_instance() gives fresh credentials
    endpoint: Any  # aiobotocore AioEndpoint: http_session, _add_modeled_error_fields
    parser: Any  # the protocol's response parser, as the endpoint creates it
    #: botocore's HierarchicalEmitter behind ``client.meta.events``: ``_handlers.prefix_search``
    #: lists an event's handlers, and ``_lookup_cache`` is a new dict after every (un)register.
    emitter: Any

    @classmethod
    def read(cls, client: Any) -> _ClientParts:
        endpoint = client._endpoint
        protocol = client.meta.service_model.resolved_protocol
        parts = cls(client._request_signer, endpoint, endpoint._response_parser_factory.create_parser(protocol),
                    client.meta.events._emitter)
        for owner, name in ((parts.signer, "get_auth_instance"), (endpoint, "http_session"),
                            (endpoint, "_add_modeled_error_fields"), (parts.parser, "parse"),
                            (parts.emitter, "_lookup_cache"), (parts.emitter._handlers, "prefix_search"),
                            (type(client), "_make_api_call")):
            if not hasattr(owner, name):
                raise AttributeError(f"{type(owner).__name__} has no {name!r}")
        if getattr(parts.parser, "_timestamp_parser", None) is botocore_parsers.DEFAULT_TIMESTAMP_PARSER:
            parts.parser._timestamp_parser = _parse_timestamp  # only botocore's default is replaced
        return parts


@dataclass(eq=False)
class PreparedClient:
    """The prepared-call state of one client: enabled or not, and each operation's self-check."""

    client: Any
    enabled: bool
    #: The cap on one status answer (``airflow_querystatus.bounds``).
    max_answer_bytes: int = bounds.DEFAULT_MAX_ANSWER_BYTES
    parts: _ClientParts | None = None
    #: Operation name -> the self-check's result (a future while it runs).
    _checks: dict[str, asyncio.Future[bool | None]] = field(default_factory=dict)
    #: One copy of each template part that waits have in common (headers, URL, scope), so
    #: that ten thousand waits hold ten thousand bodies, not ten thousand header sets.
    _shared: dict[Any, Any] = field(default_factory=dict)
    #: The client's last derived SigV4 signing key, shared by its templates.
    signing_keys: SigningKeys = field(default_factory=SigningKeys)
    #: The emitter's lookup cache when its handlers were last checked (a new dict after every
    #: register or unregister), and the operations found to have only the call's own handlers.
    _hooks_seen_in: Any = None
    _api_call_checked: Any = None
    _hooks_clear: set[str] = field(default_factory=set)

    def shared(self, value: Any) -> Any:
        """The copy of ``value`` (a str or a dict of str) that this client's templates share."""
        key = tuple(sorted(value.items())) if isinstance(value, dict) else value
        return self._shared.setdefault(key, value)

    @classmethod
    def attach(cls, client: Any, *, enabled: bool, max_answer_bytes: int) -> PreparedClient:
        prepared = cls(client, enabled, max_answer_bytes)
        if enabled:
            try:
                prepared.parts = _ClientParts.read(client)
                service_id = client.meta.service_model.service_id.hyphenize()
                client.meta.events.register(f"before-send.{service_id}", _observe_before_send,
                                            unique_id="airflow-querystatus-capture")
            except Exception as err:  # an aiobotocore whose internals moved: plain calls only
                prepared.enabled = False
                _warn_once("parts", "Prepared status calls are off: this botocore/aiobotocore does not have "
                           "what they need (%s); every poll uses the plain client call.", err)
        return prepared

    async def plain_call(self, method: str, params: Mapping[str, Any]) -> tuple[Any, _Template | None]:
        """The plain client call, and the template of the request it sent (if it can serve)."""
        capture = _Capture(dry_run=False) if self.enabled else None
        token = _capture.set(capture)
        try:
            response = await getattr(self.client, method)(**params)
        finally:
            _capture.reset(token)
        if capture is None:
            return response, None
        if capture.request is None or not bounds.sent_by_session(capture.request):
            self._answered_before_sending(method, at_before_call=capture.request is None)
            return response, None
        template = _Template.from_request(self, method, capture.request)
        if isinstance(template, _Unsuitable):
            if not template.this_request_only:
                self._step_aside(template.setting, template.why)
            return response, None
        return response, template

    def _step_aside(self, setting: str, why: str) -> None:
        """Prepared calls off on this client, with one log line naming the setting that needs it."""
        self.enabled = False
        log.info("Prepared status calls are off on this client because of %s: %s. Every poll uses the plain "
                 "client call, as botocore makes it.", setting, why)

    def hooks_allow(self, operation: str) -> bool:
        """Whether botocore would call only its own handlers for this operation's call, as a
        prepared poll stands in for them; else the client steps aside (one log line naming the
        event). O(1) per poll while the client's handlers stay as they were last checked."""
        parts = self.parts
        assert parts is not None  # checked only for enabled clients
        api_call = type(self.client)._make_api_call
        if api_call is not self._api_call_checked:
            wrapper = _foreign_layer(api_call)
            if wrapper is not None:
                self._step_aside("a wrapped _make_api_call", f"the client's API calls go through {wrapper} "
                                 "(tracing instrumentation, say), which a prepared poll would not go through")
                return False
            self._api_call_checked = api_call
        cache = parts.emitter._lookup_cache
        if cache is self._hooks_seen_in and operation in self._hooks_clear:
            return True
        if cache is not self._hooks_seen_in:
            self._hooks_seen_in, self._hooks_clear = cache, set()
        service_id = self.client.meta.service_model.service_id.hyphenize()
        for event in CALL_EVENTS:
            for handler in parts.emitter._handlers.prefix_search(f"{event}.{service_id}.{operation}"):
                origin = handler_origin(handler)
                if not _is_own(origin):
                    self._step_aside(f"an event hook on {event}", f"{origin} is registered on {event}, and "
                                     "botocore calls it on every call, which a prepared poll would not")
                    return False
        self._hooks_clear.add(operation)
        return True

    def _answered_before_sending(self, method: str, *, at_before_call: bool) -> None:
        """The plain call was answered without the client sending it: by a ``before-call``
        handler (botocore's ``Stubber``) or a ``before-send`` one (moto's ``mock_aws``, a
        user's). A prepared poll would send by itself, past that answerer: this client uses
        plain calls only, which it keeps answering (so this is logged once per client)."""
        self.enabled = False
        log.info("Prepared status calls are off on this client: its %s call was answered by a %s handler "
                 "(botocore's Stubber, moto's mock_aws or one of your own) without being sent, so every "
                 "poll uses the plain client call, which that handler answers.",
                 method, "before-call" if at_before_call else "before-send")

    async def dry_run(self, method: str, params: Mapping[str, Any]) -> AWSPreparedRequest:
        """The request the plain client call would send, made through its whole pipeline."""
        capture = _Capture(dry_run=True)
        token = _capture.set(capture)
        try:
            await getattr(self.client, method)(**params)
        except _DryRunStop:
            pass
        finally:
            _capture.reset(token)
        if capture.request is None:
            raise RuntimeError("the plain call ended without reaching before-send")
        return capture.request

    async def verified(self, template: _Template, params: Mapping[str, Any]) -> bool:
        """Whether prepared requests for this operation match the plain client's (checked once
        per client and operation; an inconclusive check is made again on the next poll)."""
        check = self._checks.get(template.operation)
        if check is not None and check.done() and check.result() is not None:
            return bool(check.result())  # the steady state: one dict look-up per poll
        if check is None or check.done():
            check = self._checks[template.operation] = asyncio.ensure_future(self._self_check(template, params))
        verdict = await asyncio.shield(check)
        if verdict is None and self._checks.get(template.operation) is check:
            del self._checks[template.operation]
        return bool(verdict)

    async def _self_check(self, template: _Template, params: Mapping[str, Any]) -> bool | None:
        """Make a prepared request and the plain client's request (not sent) in the same second
        with the same credentials, and compare them; None when that could not be arranged
        (credentials that botocore refreshes on every call)."""
        try:
            for _ in range(_SELF_CHECK_ATTEMPTS):
                ours = await template.signed_request()
                theirs = await self.dry_run(template.client_method, params)
                if _signing_inputs(ours) == _signing_inputs(theirs):
                    break
            else:
                return None
            differences = request_differences(ours, theirs)
        except Exception as err:
            differences = [f"the check itself failed: {err!r}"]
        if differences:
            self.enabled = False
            log.warning(
                "Prepared status calls are off for %s on this client: a prepared request differs from the "
                "plain client's (%s). Every poll uses the plain client call; please report this with your "
                "botocore and aiobotocore versions.",
                template.operation,
                "; ".join(differences),
            )
            return False
        log.debug("Prepared %s requests match the plain client's; using them.", template.operation)
        return True


def request_differences(ours: AWSPreparedRequest, theirs: AWSPreparedRequest) -> list[str]:
    """What differs between two requests (names only: values may hold credentials)."""
    differences = [name for name in ("method", "url") if getattr(ours, name) != getattr(theirs, name)]
    if _as_bytes(ours.body) != _as_bytes(theirs.body):
        differences.append("body")
    mine, other = _header_map(ours), _header_map(theirs)
    for name in sorted(mine.keys() | other.keys()):
        if name == "amz-sdk-invocation-id":  # random per call: present on both is all we ask
            if (name in mine) != (name in other):
                differences.append(f"header {name}")
        elif mine.get(name) != other.get(name):
            differences.append(f"header {name}")
    return differences


def _signing_inputs(request: AWSPreparedRequest) -> tuple[str, str]:
    """The date and the access key a request was signed with."""
    headers = _header_map(request)
    return headers.get("x-amz-date", ""), headers.get("authorization", "").partition("/")[0]


def _header_map(request: AWSPreparedRequest) -> dict[str, str]:
    return {str(k).lower(): v.decode() if isinstance(v, bytes) else str(v) for k, v in request.headers.items()}


def _as_bytes(body: Any) -> bytes:
    if body is None:
        return b""
    return body.encode() if isinstance(body, str) else bytes(body)


_clients: weakref.WeakKeyDictionary[Any, PreparedClient] = weakref.WeakKeyDictionary()


def attach(client: Any, *, enabled: bool, max_answer_bytes: int = bounds.DEFAULT_MAX_ANSWER_BYTES) -> None:
    """Called once when a client is built: whether its status polls may be prepared."""
    _clients[client] = PreparedClient.attach(client, enabled=enabled, max_answer_bytes=max_answer_bytes)


def prepared_client(client: Any) -> PreparedClient:
    prepared = _clients.get(client)
    if prepared is None:  # a client built elsewhere: plain calls, nothing registered on it
        prepared = _clients[client] = PreparedClient(client, enabled=False)
    return prepared


# --------------------------------------------------------------------------- per wait
@dataclass(frozen=True)
class _Unsuitable:
    """Why a captured request cannot be a template: the botocore setting behind it, for the log."""

    setting: str
    why: str
    #: Only this request cannot serve (a retried attempt): the client keeps prepared calls.
    this_request_only: bool = False


@dataclass(frozen=True, eq=False, slots=True)
class _Template:
    """The unchanging part of one wait's status request."""

    owner: PreparedClient
    client_method: str  # the client method, e.g. get_calculation_execution_status
    operation: str
    operation_model: Any
    #: The request's method, URL, body and the headers the plain call signed.
    signer: FixedRequestSigner
    #: The headers botocore adds after signing (``amz-sdk-request``, ``user-agent``...), which
    #: are added after the signature here too.
    unsigned_headers: dict[str, str]

    @classmethod
    def from_request(cls, owner: PreparedClient, method: str, request: AWSPreparedRequest) -> _Template | _Unsuitable:
        """The template of a captured request, or why a template cannot stand for it."""
        headers = _header_map(request)
        authorization = headers.get("authorization", "")
        retry_info = {part.strip() for part in headers.get("amz-sdk-request", "attempt=1").split(";")}
        if "attempt=1" not in retry_info:
            return _Unsuitable("retries", "a retried attempt's headers", this_request_only=True)
        if not authorization.startswith(_SIGV4):
            scheme = authorization.partition(" ")[0] or "no Authorization header"
            return _Unsuitable("signature_version", f"the status requests are signed with {scheme}, and prepared "
                               "polls re-sign only SigV4 (AWS4-HMAC-SHA256) in the Authorization header")
        operation = owner.client.meta.method_to_api_mapping[method]
        model = owner.client.meta.service_model.operation_model(operation)
        if model.http_checksum:
            return _Unsuitable("request_checksum_calculation/response_checksum_validation",
                               f"{operation} has checksums, which prepared polls do not compute or validate")
        if model.request_compression:
            return _Unsuitable("disable_request_compression/request_min_compression_size_bytes",
                               f"{operation} compresses its requests, which prepared polls do not")
        if (model.has_streaming_input or model.has_streaming_output or model.has_event_stream_output
                or not isinstance(request.body, (bytes, str, type(None))) or request.stream_output):
            return _Unsuitable("streaming", f"{operation} streams its request or answer")
        credential, _, rest = authorization[len(_SIGV4):].partition(",")
        scope = credential.split("/")
        signed = rest.partition("SignedHeaders=")[2].partition(",")[0].split(";")
        if len(scope) != 5 or scope[4] != "aws4_request" or signed == [""]:
            return _Unsuitable("signature_version", "the SigV4 Authorization header is not in the usual form")
        kept = {name: value for name, value in headers.items() if name not in _PER_REQUEST_HEADERS}
        share = owner.shared
        signer = FixedRequestSigner(
            share(request.method), request.url, share({name: value for name, value in kept.items() if name in signed}),
            None if request.body is None else _as_bytes(request.body), share(scope[2]), share(scope[3]),
            owner.signing_keys)
        if signer.signed_header_names(with_token="x-amz-security-token" in headers) != ";".join(signed):
            return _Unsuitable("signature_version", "botocore signed other headers than its SigV4 signer would "
                               "sign for a copy of the request")
        return cls(
            owner=owner,
            client_method=method,
            operation=operation,
            operation_model=model,
            signer=signer,
            unsigned_headers=share({name: value for name, value in kept.items() if name not in signed}),
        )

    async def signed_request(self) -> AWSPreparedRequest:
        """A copy of the template, signed now with the client's current credentials."""
        signer = self.signer
        auth = await self.owner.parts.signer.get_auth_instance(  # type: ignore[union-attr]
            signing_name=signer.service, region_name=signer.region, signature_version="v4"
        )
        headers = {**signer.headers, **signer.sign(auth.credentials), **self.unsigned_headers,
                   "amz-sdk-invocation-id": str(uuid.uuid4())}
        if signer.method not in _NO_CONTENT_LENGTH:  # as botocore's AWSRequest.prepare() sets it
            headers["content-length"] = str(len(signer.body or b""))
        return AWSPreparedRequest(signer.method, signer.url, headers, signer.body, False)

    async def send(self) -> dict[str, Any]:
        """One prepared poll: sign, send, parse; errors raised as the plain call raises them."""
        parts = self.owner.parts
        assert parts is not None  # templates exist only for enabled clients
        request = await self.signed_request()
        http = await bounds.send_bounded_async(parts.endpoint.http_session.send, request, self.owner.max_answer_bytes,
                                               self.operation)
        model = self.operation_model
        response_dict = await convert_to_response_dict(http, model)
        parsed: dict[str, Any] = await parts.parser.parse(response_dict, model.output_shape)
        if http.status_code >= 300:
            await parts.endpoint._add_modeled_error_fields(response_dict, parsed, model, parts.parser)
            code = parsed.get("Error", {}).get("Code")
            raise self.owner.client.exceptions.from_code(code)(parsed, self.operation)
        metadata = parsed.get("ResponseMetadata")
        if isinstance(metadata, dict):
            metadata["RetryAttempts"] = 0
        return parsed


class StatusCall:
    """One wait's status call: plain for the first poll, prepared afterwards when it can be.

    ``keep_template(exc)`` says whether an error raised by a prepared poll is one the engine
    expects (throttling, 5xx, not found): after any other, the next poll is plain again.
    """

    __slots__ = ("_keep_template", "_method", "_params", "_template", "plain_polls", "prepared_polls")

    def __init__(self, method: str, params: Mapping[str, Any], keep_template: Callable[[BaseException], bool]) -> None:
        self._method = method
        self._params = params
        self._keep_template = keep_template
        self._template: _Template | None = None
        self.prepared_polls = 0
        self.plain_polls = 0

    async def __call__(self, client: Any) -> Mapping[str, Any]:
        template = self._template
        if (
            template is not None
            and template.owner.client is client
            and template.owner.enabled
            and template.owner.hooks_allow(template.operation)
            and await template.owner.verified(template, self._params)
        ):
            self.prepared_polls += 1
            try:
                return await template.send()
            except Exception as exc:
                if not self._keep_template(exc):
                    self._template = None
                raise
        self.plain_polls += 1
        response, self._template = await prepared_client(client).plain_call(self._method, self._params)
        return response
