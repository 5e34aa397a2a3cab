"""Bounds on every status call: how long it may take as a whole, and how big its answer may be.

What the world sends does not always end. An endpoint (a proxy, a VPC endpoint, a wrong
``endpoint_url``) can accept a connection and never answer; it can send a byte every few
seconds, which aiohttp's and urllib3's read timeouts never catch because they restart at
every byte; it can answer hundreds of MiB. botocore bounds none of these as a whole, and its
own retries multiply what it does bound (60 s read timeout times its attempts). So:

* **Time.** Each status call, botocore's attempts included, gets :func:`call_limit`: the
  smaller of ``[querystatus] status_call_timeout`` and the time left before the wait's
  deadline plus :data:`DEADLINE_GRACE`. The trigger's engine cancels the call when it passes
  (which also frees its client slot and connection); the worker's path runs the call in a
  daemon thread (:func:`call_with_limit`) and stops waiting for it. Either way the call
  raises :class:`StatusCallTimeout`, a transient error: the engine backs off, polls again,
  and a deadline still ends the wait on time.
* **Size.** Status answers are a few KiB. Each client reads its status answers through
  :func:`limit_answers`: the client's own HTTP session sends them without reading the answer,
  and the body is read in chunks, refusing one over ``[querystatus] max_answer_bytes`` (by its
  Content-Length at once, else as soon as the chunks pass the cap) with
  :class:`AnswerTooLarge`. Nothing bigger than the cap is ever buffered or parsed, so no
  answer can hold the triggerer's event loop.

The bound sits in the HTTP session, botocore's default sender, not in a ``before-send``
handler, so that it never stands in for another answerer: botocore and aiobotocore call every
``before-send`` handler and use the first answer, and send through the session only when none
answered. A handler of ours that sent would run (and send) even after moto's ``mock_aws``
stubber, a user's handler or any other had answered, and being first it would win. botocore's
``Stubber`` answers earlier still, at ``before-call``. :func:`sent_by_session` tells the
prepared path whether a status request it captured was really sent (see :mod:`prepared`).

:func:`limit_answers` reads the client's ``_endpoint.http_session`` and wraps that session's
``send`` for this client alone: with :mod:`prepared`, the only modules that touch a private
botocore/aiobotocore attribute (see CONTRIBUTING.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import math
import threading
import weakref
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

import aiohttp
import urllib3
from botocore.awsrequest import AWSPreparedRequest, AWSResponse
from botocore.exceptions import ConnectionClosedError

T = TypeVar("T")

#: The ``[querystatus]`` options (declared in the provider info, ``get_provider_info``).
CALL_TIMEOUT_OPTION = "status_call_timeout"
MAX_ANSWER_OPTION = "max_answer_bytes"
#: A status call answers in well under a second; 30 s covers a slow region and botocore's own
#: retry of a reset connection, and is short enough that a stuck call frees its slot quickly.
DEFAULT_CALL_TIMEOUT = 30.0
#: The largest real status answer of the registered operations is a Neptune status with its
#: ``queryString`` (truncated by Neptune to 1,024 characters) and ``subqueries``: a few KiB.
#: 1 MiB is hundreds of times that, and parses in a few milliseconds.
DEFAULT_MAX_ANSWER_BYTES = 1024 * 1024
#: How long past the wait's deadline its last call may run: the last poll happens at the
#: deadline itself, and must still end within a few seconds of it.
DEADLINE_GRACE = 3.0
#: Chunks in which answers are read: small enough that one read is cheap on the loop.
_CHUNK = 64 * 1024
#: A call whose limit passes less than this many seconds after its answer was read whole gets
#: this much longer, once, to parse it (``polling``): an answer that arrived is used.
ANSWER_GRACE = 1.0
#: Told when a status answer has been read whole (the engine's cut-off of the current call).
_answer_read: contextvars.ContextVar[Callable[[], None] | None] = contextvars.ContextVar(
    "querystatus_answer_read", default=None)


@contextlib.contextmanager
def answers_read_by(callback: Callable[[], None]) -> Iterator[None]:
    """Within the block, ``callback()`` runs each time a status answer has been read whole."""
    token = _answer_read.set(callback)
    try:
        yield
    finally:
        _answer_read.reset(token)


def _note_answer_read() -> None:
    callback = _answer_read.get()
    if callback is not None:
        callback()


class StatusCallTimeout(TimeoutError):
    """A status call did not end within its limit (transient: the wait polls again)."""

    def __init__(self, operation: str, limit: float) -> None:
        super().__init__(
            f"{operation} did not answer within {limit:.1f}s (the endpoint accepted the call but did not "
            f"finish answering; `[querystatus] {CALL_TIMEOUT_OPTION}` sets the limit)"
        )
        self.operation = operation
        self.limit = limit


class AnswerTooLarge(Exception):
    """A status answer over the size cap: not a status answer, most likely a wrong endpoint."""

    def __init__(self, operation: str, size: int | None, cap: int) -> None:
        told = f"{size:,} bytes" if size is not None else f"more than {cap:,} bytes"
        super().__init__(f"The answer to {operation} is {told}, over the {cap:,}-byte cap for status answers.")
        self.operation = operation
        self.size = size
        self.cap = cap


def _positive(option: str, value: float) -> float:
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"`[querystatus] {option}` must be a positive, finite number, got {value!r}.")
    return value


def configured_call_timeout() -> float:
    """``[querystatus] status_call_timeout`` in seconds (read when a client or hook is made)."""
    from airflow_querystatus.compat import conf  # here: the decision core imports this module without Airflow

    value = conf.getfloat("querystatus", CALL_TIMEOUT_OPTION, fallback=DEFAULT_CALL_TIMEOUT)
    return _positive(CALL_TIMEOUT_OPTION, value)


def configured_max_answer_bytes() -> int:
    """``[querystatus] max_answer_bytes`` (read when a client is made)."""
    from airflow_querystatus.compat import conf

    value = conf.getint("querystatus", MAX_ANSWER_OPTION, fallback=DEFAULT_MAX_ANSWER_BYTES)
    return int(_positive(MAX_ANSWER_OPTION, value))


def call_limit(per_call: float, remaining: float | None) -> float:
    """The time one call may take: ``per_call``, or less when the deadline is nearer."""
    if remaining is None:
        return per_call
    return min(per_call, max(remaining, 0.0) + DEADLINE_GRACE)


def call_with_limit(call: Callable[[], T], limit: float, operation: str) -> T:
    """Run a blocking call for at most ``limit`` seconds (the worker's path).

    The call runs in a daemon thread; when the limit passes we stop waiting and raise
    :class:`StatusCallTimeout`. The thread itself ends when its socket does (it cannot be
    interrupted), and with the task's process at the latest. boto3 clients are thread-safe.
    """
    outcome: list[Any] = []
    finished = threading.Event()

    def run() -> None:
        try:
            outcome.append((True, call()))
        except BaseException as exc:  # handed to the caller below
            outcome.append((False, exc))
        finally:
            finished.set()

    threading.Thread(target=run, name=f"querystatus-{operation}", daemon=True).start()
    if not finished.wait(limit):
        raise StatusCallTimeout(operation, limit)
    ok, value = outcome[0]
    if ok:
        return value
    raise value


# --------------------------------------------------------------------------- size
class _Body:
    """An answer already read (and bounded): what botocore's and aiobotocore's responses read."""

    __slots__ = ("_data",)

    def __init__(self, data: bytes) -> None:
        self._data = data

    def stream(self, *_: Any, **__: Any) -> Iterator[bytes]:  # botocore's AWSResponse.content
        yield self._data

    async def read(self) -> bytes:  # aiobotocore's AioAWSResponse.content
        return self._data


def _announced_size(headers: Any) -> int | None:
    value = headers.get("content-length") if headers is not None else None
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


class _Reader:
    """Accumulates one answer's body, refusing it once it passes the cap."""

    __slots__ = ("body", "cap", "operation")

    def __init__(self, response: Any, cap: int, operation: str) -> None:
        self.cap = cap
        self.operation = operation
        self.body = bytearray()
        size = _announced_size(response.headers)
        if size is not None and size > cap:
            raise AnswerTooLarge(operation, size, cap)

    def add(self, chunk: bytes) -> None:
        self.body += chunk
        if len(self.body) > self.cap:
            raise AnswerTooLarge(self.operation, None, self.cap)


def _cut_off(request: Any, err: Exception) -> ConnectionClosedError:
    """An answer that broke off while being read: transient, as botocore reports a reset."""
    error = ConnectionClosedError(endpoint_url=request.url)
    error.__cause__ = err
    return error


def _streamed(request: AWSPreparedRequest) -> AWSPreparedRequest:
    """A copy the HTTP session sends without reading the answer (we read it, bounded). A copy:
    observers of ``before-send`` (prepared calls' capture) keep the request as botocore made it. The
    request's context goes along: the HTTP session reads a per-request ``read_timeout`` from it."""
    return AWSPreparedRequest(request.method, request.url, request.headers, request.body, True,
                              getattr(request, "context", None))


async def send_bounded_async(send: Callable[[Any], Any], request: Any, cap: int, operation: str) -> Any:
    """Send with an aiobotocore HTTP session's ``send``; the answer read whole only if within ``cap``."""
    from aiobotocore.awsrequest import AioAWSResponse

    request = _streamed(request)
    response = await send(request)
    raw = response.raw  # aiohttp's ClientResponse, body not read yet
    try:
        reader = _Reader(response, cap, operation)
        while chunk := await raw.content.read(_CHUNK):
            reader.add(chunk)
    except AnswerTooLarge:
        raw.close()
        raise
    except (aiohttp.ClientError, asyncio.TimeoutError) as err:
        raw.close()
        raise _cut_off(request, err) from err
    raw.release()
    _note_answer_read()
    return AioAWSResponse(response.url, response.status_code, response.headers, _Body(bytes(reader.body)))


def send_bounded_sync(send: Callable[[Any], Any], request: Any, cap: int, operation: str) -> AWSResponse:
    """Send with a botocore HTTP session's ``send``; the answer read whole only if within ``cap``."""
    request = _streamed(request)
    response = send(request)
    raw = response.raw  # urllib3's HTTPResponse, preload_content=False
    try:
        reader = _Reader(response, cap, operation)
        for chunk in raw.stream(_CHUNK):
            reader.add(chunk)
    except AnswerTooLarge:
        raw.close()
        raise
    except (urllib3.exceptions.HTTPError, OSError) as err:
        raw.close()
        raise _cut_off(request, err) from err
    raw.release_conn()
    return AWSResponse(response.url, response.status_code, response.headers, _Body(bytes(reader.body)))


_limited: weakref.WeakSet[Any] = weakref.WeakSet()
#: Status requests marked at ``before-send`` (the request -> its operation), until sent.
_status_requests: weakref.WeakKeyDictionary[Any, str] = weakref.WeakKeyDictionary()
#: Status requests that a bounded client's own HTTP session sent.
_sent: weakref.WeakSet[Any] = weakref.WeakSet()


def sent_by_session(request: Any) -> bool:
    """Whether a bounded client's HTTP session sent this status request. False when a
    ``before-send`` handler answered it instead (moto's ``mock_aws``, a user's handler)."""
    return request in _sent


def limit_answers(client: Any, methods: Iterable[str], cap: int, *, asynchronous: bool) -> None:
    """Make ``client`` read the answers of its ``methods`` (boto3 names) within ``cap`` bytes.

    An observer on the service's ``before-send`` marks the status requests; the client's HTTP
    session, which botocore uses only when no ``before-send`` handler answered (see the module
    docstring), sends a marked request without reading the answer and reads it bounded. Other
    operations (starting a query, reading its results) are sent as botocore sends them.
    Idempotent per client; the session's ``send`` is wrapped on this client's session only.
    """
    if client in _limited:
        return
    _limited.add(client)
    http_session = client._endpoint.http_session
    send = http_session.send  # the session's own, bound: what botocore would call
    service_id = client.meta.service_model.service_id.hyphenize()
    operations = frozenset(client.meta.method_to_api_mapping[method] for method in methods)

    def mark(request: Any, event_name: str = "", **_: Any) -> None:
        operation = event_name.rpartition(".")[2]
        if operation in operations:
            _status_requests[request] = operation

    if asynchronous:
        async def send_async(request: Any) -> Any:
            operation = _status_requests.pop(request, None)
            if operation is None:
                return await send(request)
            _sent.add(request)
            return await send_bounded_async(send, request, cap, operation)

        http_session.send = send_async
    else:
        def send_sync(request: Any) -> Any:
            operation = _status_requests.pop(request, None)
            if operation is None:
                return send(request)
            _sent.add(request)
            return send_bounded_sync(send, request, cap, operation)

        http_session.send = send_sync
    client.meta.events.register(f"before-send.{service_id}", mark, unique_id="querystatus-status-requests")
