"""What every wire protocol module shares: AWS errors, JSON answers, the service models' routes."""

from __future__ import annotations

import base64
import binascii
import datetime
import json
from collections.abc import Awaitable, Callable, Iterable, Mapping
from functools import cache
from typing import Any, NamedTuple, Protocol, TypeVar

from aiohttp import web

#: HTTP status of each error code, as the service models declare them.
ERROR_STATUS = {
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

#: Answers one request; may raise :class:`AwsError`.
Answer = Callable[[web.Request], Awaitable[Any]]


class ErrorShape(Protocol):
    """Builds the error response in a protocol's own shape: the code, its message and any
    members the error's model shape carries besides (``queryCompileError``)."""

    def __call__(self, code: str, message: str, members: Mapping[str, Any] | None = None, /) -> web.Response: ...


class AwsError(Exception):
    def __init__(self, code: str, message: str, members: Mapping[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        #: Members of the error's own shape besides its message (Logs' ``queryCompileError``).
        self.members = dict(members or {})


class Route(NamedTuple):
    """One emulated operation: HTTP method and path, its boto3 name, how to answer, error shape."""

    method: str
    path: str
    operation: str
    answer: Answer
    error: ErrorShape


def iso(ts: float) -> str:
    return datetime.datetime.fromtimestamp(ts, datetime.timezone.utc).isoformat().replace("+00:00", "Z")


def json_response(body: Any, status: int = 200, content_type: str = "application/json") -> web.Response:
    return web.Response(status=status, body=json.dumps(body).encode(), content_type=content_type)


@cache
def service_model(service: str) -> Any:
    """botocore's model of ``service`` (boto3 client name)."""
    import botocore.session

    return botocore.session.get_session().get_service_model(service)


def protocol(service: str) -> str:
    """The wire protocol botocore's model gives ``service`` (``rest-json``, ``json``): it says
    which module serves the service's operations."""
    return str(service_model(service).metadata["protocol"])


@cache
def operation_model(service: str, operation: str) -> Any:
    """botocore's model of ``service``'s boto3 method ``operation`` (snake_case)."""
    from botocore import xform_name

    model = service_model(service)
    name = next(n for n in model.operation_names if xform_name(n) == operation)
    return model.operation_model(name)


def http_route(service: str, operation: str) -> tuple[str, str]:
    """The HTTP method and aiohttp path of a REST operation, from the service model.

    Path labels match any character but "/" (aiohttp's default also refuses braces), so that
    every id botocore can percent-encode reaches its query.
    """
    http = operation_model(service, operation).http
    path = http["requestUri"].split("?", 1)[0]
    return http["method"], path.replace("}", ":[^/]+}").replace("+:[^/]+}", ":.+}")


def uri_label(service: str, operation: str, member: str) -> str | None:
    """The path label that carries the input ``member`` of ``operation``, if its model puts it in the URI."""
    shape = operation_model(service, operation).input_shape
    found = shape.members.get(member) if shape is not None else None
    if found is None or found.serialization.get("location") != "uri":
        return None
    return str(found.serialization.get("name", member))


def member_named(shape: Any, *lowercase: str) -> str | None:
    """The member of ``shape`` whose lowercased name is one of ``lowercase``."""
    members = getattr(shape, "members", {}) or {}
    return next((m for m in members if m.lower() in lowercase), None)


_Item = TypeVar("_Item")


def newest_first(items: Iterable[_Item], key: Callable[[_Item], tuple[float, str]], size: int,
                 token: str | None) -> tuple[list[_Item], str | None]:
    """One page of a list call that lists newest first (Logs' DescribeQueries, Athena's
    ListCalculationExecutions): at most ``size`` items after the one ``token`` names, by
    ``key`` (creation time, id) descending, and the token of the next page if there is one.
    A token names the last item shown, so a query started between two pages does not shift
    the second. ``ValueError`` if ``token`` is not one this function gave."""
    ordered = sorted(items, key=key, reverse=True)
    if token is not None:
        try:
            created, last = json.loads(base64.urlsafe_b64decode(token.encode()))
            cursor = (float(created), str(last))
        except (ValueError, TypeError, binascii.Error):
            raise ValueError(f"The token {token!r} is not valid.") from None
        ordered = [item for item in ordered if key(item) < cursor]
    shown = ordered[:size]
    if len(ordered) <= size:
        return shown, None
    return shown, base64.urlsafe_b64encode(json.dumps(list(key(shown[-1]))).encode()).decode()
