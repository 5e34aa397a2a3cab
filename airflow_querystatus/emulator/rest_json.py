"""REST-JSON operations (Internet Monitor, Network Flow Monitor, Neptune Data): start, status,
results, stop (and list) of one operation.

Routes, parameter names and answer keys come from botocore's service model of each operation
the registry names; where the answers carry the state and the id from the spec (``read_state``'s
path, ``started_id_path``); the script, the results rows and any members every answer carries
(``envelope``) from the operation's entry in :mod:`.catalogue`. Errors take the shape of the
service's own modelled errors (:func:`error_for`). An operation whose answers the spec cannot
describe answers through a quirk (a :class:`~.rest_queries.Queries` subclass, e.g. :mod:`.neptune`'s
query languages, :data:`.neptune.QUIRKS`) over the same generic routes.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from functools import cache
from typing import TYPE_CHECKING, Any

from aiohttp import web

from airflow_querystatus.emulator.neptune import QUIRKS
from airflow_querystatus.emulator.rest_queries import Queries
from airflow_querystatus.emulator.validation import Invalid, Problem, message, route
from airflow_querystatus.emulator.wire import (
    ERROR_STATUS,
    AwsError,
    ErrorShape,
    Route,
    json_response,
    service_model,
)
from airflow_querystatus.status import StatusSpec

if TYPE_CHECKING:
    from airflow_querystatus.emulator.catalogue import Emulated
    from airflow_querystatus.emulator.model import Emulator


@cache
def error_for(service: str) -> ErrorShape:
    """Errors as ``service`` answers them: the members its model's error shapes declare (a
    ``message``; Neptune Data's ``code``, ``requestId`` and ``detailedMessage``), the code in the
    body's ``code`` member where there is one, else in the ``x-amzn-ErrorType`` header, and the
    HTTP status the model gives the code (else the usual one)."""
    model = service_model(service)
    shapes = {shape.name: shape for shape in model.error_shapes}
    members = list(model.error_shapes[0].members) if model.error_shapes else ["message"]

    def error(code: str, text: str, extra: Mapping[str, Any] | None = None) -> web.Response:
        modelled = shapes.get(code)
        filled = {"code": code, "requestid": str(uuid.uuid4()), "message": text, "detailedmessage": text}
        body = {name: filled[name.lower()] for name in (modelled.members if modelled else members)
                if name.lower() in filled}
        body.update(extra or {})
        status = (modelled.metadata.get("error", {}).get("httpStatusCode") if modelled else None)
        response = json_response(body, status or ERROR_STATUS.get(code, 400))
        if "code" not in body:
            response.headers["x-amzn-ErrorType"] = code
        return response

    return error


@cache
def invalid_for(service: str) -> Invalid:
    """Broken constraints, answered as the service does: ``ValidationException`` where the
    model has it; else (Neptune's engine) ``MissingParameterException`` for missing parameters
    and ``BadRequestException`` for other bad input (400 both; AWS's usual wording)."""
    codes = {shape.name for shape in service_model(service).error_shapes}

    def invalid(found: list[Problem]) -> AwsError:
        if "ValidationException" in codes:
            return AwsError("ValidationException", message(found))
        missing = all(p.missing for p in found) and "MissingParameterException" in codes
        return AwsError("MissingParameterException" if missing else "BadRequestException", message(found))

    return invalid


def routes(emulator: Emulator, spec: StatusSpec, behaviour: Emulated) -> list[Route]:
    """Every call of ``spec``, routed where botocore's model puts it, answered by
    :class:`~.rest_queries.Queries` or the quirk that answers it (:data:`.neptune.QUIRKS`)."""
    queries = QUIRKS.get(spec.key, Queries)(emulator, spec, behaviour)
    error, invalid = error_for(spec.service), invalid_for(spec.service)
    return [route(spec.service, operation, answer, error, invalid) for operation, answer in queries.handlers().items()]
