"""Every emulated call's input checked against botocore's model of its operation, as AWS does.

AWS's front end refuses a request whose parameters break the operation's model (a missing
required member, a value outside its enum, a string too long or not matching its pattern, a
number out of range, a wrong type) before the service sees it, with one message listing every
problem::

    1 validation error detected: Value 'MEASURMENTS' at 'queryType' failed to satisfy constraint:
    Member must satisfy enum value set: [MEASUREMENTS, TOP_LOCATIONS, ...]

The checks are derived from the service model generically, so a new operation is covered by
declaring it. botocore checks only some of these on the client side (required members, types,
minimums), and only when ``parameter_validation`` is on; the emulator checks them all, so a test
that passes against it does not fail against AWS on input AWS refuses. Which error code carries
the message is each protocol's business (``ValidationException`` for rest-json services,
``InvalidRequestException`` for Athena): see ``invalid`` in :mod:`.rest_json`, :mod:`.json_1_1`
and :mod:`.neptune`.

Patterns are matched against the whole value (Java's ``matches``), as the sensors' own checks
(:class:`airflow_querystatus.status.Identifier`) do.
"""

from __future__ import annotations

import datetime
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

from aiohttp import web

from airflow_querystatus.emulator.wire import Answer, AwsError, ErrorShape, Route, http_route, operation_model

#: Turns the problems of one request into the protocol's error (its code and wording).
Invalid = Callable[[list["Problem"]], AwsError]


@dataclass(frozen=True)
class Problem:
    """One broken constraint: where (``queryType``, ``tags.1.member.key``), the value, which rule."""

    path: str
    value: Any
    constraint: str

    @property
    def missing(self) -> bool:
        return self.value is None

    def __str__(self) -> str:
        shown = "null" if self.value is None else f"'{self.value}'"
        return f"Value {shown} at '{self.path}' failed to satisfy constraint: {self.constraint}"


def message(problems: list[Problem]) -> str:
    """AWS's wording: ``N validation error(s) detected: ...; ...``."""
    count = len(problems)
    return f"{count} validation error{'s' if count > 1 else ''} detected: " + "; ".join(map(str, problems))


def _wire_name(member: str) -> str:
    """How AWS names a member in its messages: lower camel case (``QueryType`` -> ``queryType``)."""
    return member[:1].lower() + member[1:]


@cache
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def _timestamp(value: Any) -> bool:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return True
    if not isinstance(value, str):
        return False
    try:
        datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


_TYPES: dict[str, tuple[str, Any]] = {
    "string": ("a string", lambda v: isinstance(v, str)),
    "blob": ("a base64 string", lambda v: isinstance(v, str)),
    "boolean": ("a boolean", lambda v: isinstance(v, bool)),
    "integer": ("an integer", lambda v: isinstance(v, int) and not isinstance(v, bool)),
    "long": ("an integer", lambda v: isinstance(v, int) and not isinstance(v, bool)),
    "float": ("a number", lambda v: isinstance(v, (int, float)) and not isinstance(v, bool)),
    "double": ("a number", lambda v: isinstance(v, (int, float)) and not isinstance(v, bool)),
    "timestamp": ("a timestamp", _timestamp),
    "structure": ("a structure", lambda v: isinstance(v, Mapping)),
    "list": ("a list", lambda v: isinstance(v, list)),
    "map": ("a map", lambda v: isinstance(v, Mapping)),
}


def problems(shape: Any, value: Any, path: str = "") -> list[Problem]:
    """Every constraint of ``shape`` (a botocore shape) that ``value`` breaks; members of a
    structure that the model does not know are ignored, as AWS ignores them."""
    found: list[Problem] = []
    kind, accepts = _TYPES.get(shape.type_name, ("", lambda v: True))
    if not accepts(value):
        return [Problem(path, value, f"Member must be {kind}")]
    meta = shape.metadata
    if shape.type_name in {"string", "blob", "list", "map"}:
        if "min" in meta and len(value) < meta["min"]:
            found.append(Problem(path, value, f"Member must have length greater than or equal to {meta['min']}"))
        if "max" in meta and len(value) > meta["max"]:
            found.append(Problem(path, value, f"Member must have length less than or equal to {meta['max']}"))
    if shape.type_name in {"integer", "long", "float", "double"}:
        if "min" in meta and value < meta["min"]:
            found.append(Problem(path, value, f"Member must have value greater than or equal to {meta['min']}"))
        if "max" in meta and value > meta["max"]:
            found.append(Problem(path, value, f"Member must have value less than or equal to {meta['max']}"))
    if shape.type_name == "string":
        enum = getattr(shape, "enum", None)
        if enum and value not in enum:
            found.append(Problem(path, value, f"Member must satisfy enum value set: [{', '.join(enum)}]"))
        if "pattern" in meta and not _compiled(meta["pattern"]).fullmatch(value):
            found.append(Problem(path, value, f"Member must satisfy regular expression pattern: {meta['pattern']}"))
    if shape.type_name == "structure":
        prefix = f"{path}." if path else ""
        for name, member in shape.members.items():
            where = prefix + _wire_name(name)
            if value.get(name) is None:
                if name in shape.required_members:
                    found.append(Problem(where, None, "Member must not be null"))
                continue
            found += problems(member, value[name], where)
    elif shape.type_name == "list":
        for i, item in enumerate(value, 1):
            found += problems(shape.member, item, f"{path}.{i}.member")
    elif shape.type_name == "map":
        for key, item in value.items():
            found += problems(shape.key, key, f"{path}.{key}.key") + problems(shape.value, item, f"{path}.{key}")
    return found


def _from_text(shape: Any, text: str) -> Any:
    """A query-string or header value as the type the model declares (kept as text if it is
    not one, so that the type check reports it)."""
    if shape.type_name in {"integer", "long"} and re.fullmatch(r"-?\d+", text):
        return int(text)
    if shape.type_name in {"float", "double"}:
        try:
            return float(text)
        except ValueError:
            return text
    if shape.type_name == "boolean" and text in {"true", "false"}:
        return text == "true"
    return text


async def rest_params(request: web.Request, model: Any) -> dict[str, Any]:
    """The input members of a REST request by member name, from its path, query string,
    headers and JSON (or form) body, as the operation's model places them."""
    shape = model.input_shape
    if shape is None:
        return {}
    body: Mapping[str, Any] = {}
    if request.body_exists:
        # JSON whatever the content type says (``curl -d`` says form); a form only where it
        # is one (Neptune's HTTP API takes both).
        try:
            body = json.loads(await request.read() or b"{}")
        except ValueError:
            if request.content_type != "application/x-www-form-urlencoded":
                raise AwsError("SerializationException", "The request body is not valid JSON.") from None
            body = dict(await request.post())
        if not isinstance(body, Mapping):
            raise AwsError("SerializationException", "The request body must be a JSON object.")
    params: dict[str, Any] = {}
    for name, member in shape.members.items():
        where = member.serialization.get("location")
        wire = member.serialization.get("name", name)
        if where == "uri":
            value: Any = request.match_info.get(wire)
        elif where == "querystring":
            if member.type_name == "list":
                value = [_from_text(member.member, v) for v in request.query.getall(wire, [])] or None
            else:
                text = request.query.get(wire)
                value = None if text is None else _from_text(member, text)
        elif where == "header":
            text = request.headers.get(wire)
            value = None if text is None else _from_text(member, text)
        elif where is None:
            value = body.get(wire, body.get(name))
        else:  # prefixed header maps, status codes: nothing to check
            continue
        if value is not None:
            params[name] = value
    return params


def route(service: str, operation: str, answer: Answer, error: ErrorShape, invalid: Invalid) -> Route:
    """The REST route of ``operation`` whose requests are checked against its model before
    ``answer`` sees them."""
    model = operation_model(service, operation)

    async def checked(request: web.Request) -> Any:
        found = problems(model.input_shape, await rest_params(request, model)) if model.input_shape else []
        if found:
            raise invalid(found)
        return await answer(request)

    return Route(*http_route(service, operation), operation, checked, error)
