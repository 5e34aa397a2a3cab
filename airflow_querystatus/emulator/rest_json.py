"""REST-JSON operations (Internet Monitor, Network Flow Monitor, Neptune's bulk loader): start,
status, results and stop of one operation.

Routes, parameter names and answer keys come from botocore's service model of each operation
the registry names; where the answers carry the state and the id from the spec (``read_state``'s
path, ``started_id_path``); the script, the results rows and any members every answer carries
(``envelope``) from the operation's entry in :mod:`.catalogue`. Errors take the shape of the service's own modelled
errors (:func:`error_for`).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from functools import cache
from typing import Any

from aiohttp import web

from airflow_querystatus.emulator.catalogue import CATALOGUE
from airflow_querystatus.emulator.model import ControlError, Emulator, Query
from airflow_querystatus.emulator.validation import Invalid, Problem, message, route
from airflow_querystatus.emulator.wire import (
    ERROR_STATUS,
    AwsError,
    ErrorShape,
    Route,
    json_response,
    member_named,
    operation_model,
    service_model,
)
from airflow_querystatus.status import StatusSpec


@cache
def error_for(service: str) -> ErrorShape:
    """Errors as ``service`` answers them: the members its model's error shapes declare (a
    ``message``; Neptune Data's ``code``, ``requestId`` and ``detailedMessage``), the code in the
    body's ``code`` member where there is one, else in the ``x-amzn-ErrorType`` header, and the
    HTTP status the model gives the code (else the usual one)."""
    model = service_model(service)
    shapes = {shape.name: shape for shape in model.error_shapes}
    members = list(model.error_shapes[0].members) if model.error_shapes else ["message"]

    def error(code: str, text: str) -> web.Response:
        modelled = shapes.get(code)
        filled = {"code": code, "requestid": str(uuid.uuid4()), "message": text, "detailedmessage": text}
        body = {name: filled[name.lower()] for name in (modelled.members if modelled else members)
                if name.lower() in filled}
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


def _nest(path: Sequence[str], value: Any) -> dict[str, Any]:
    """``{"a": {"b": value}}`` for the path ``("a", "b")``."""
    for key in reversed(path[1:]):
        value = {key: value}
    return {path[0]: value}


def routes(emulator: Emulator, spec: StatusSpec) -> list[Route]:
    behaviour, kind = CATALOGUE[spec.key], spec.key
    *scope_ids, query_ident = spec.identifiers
    error, invalid = error_for(spec.service), invalid_for(spec.service)
    unknown_code, unknown_text = behaviour.unknown_id or ("ValidationException",
                                                          "Query {} was not found for this resource.")
    codes = {shape.name for shape in service_model(spec.service).error_shapes}
    refused = "ValidationException" if "ValidationException" in codes else "BadRequestException"
    state_path: tuple[str, ...] = spec.read_state.path  # type: ignore[attr-defined]

    def answer(*parts: dict[str, Any]) -> dict[str, Any]:
        return {k: v for part in (behaviour.envelope, *parts) for k, v in part.items()}

    def scope(request: web.Request) -> dict[str, str]:
        return {ident.name: request.match_info[ident.api_name] for ident in scope_ids}

    def find(request: web.Request) -> Query:
        query_id = request.match_info[query_ident.api_name]
        query = emulator.find(kind, scope(request), query_id)
        if query is None:
            raise AwsError(unknown_code, unknown_text.format(query_id))
        return query

    async def start(request: web.Request) -> dict[str, Any]:
        body = await request.json() if request.body_exists else {}
        try:
            query = emulator.add_query(kind, scope(request), text=json.dumps(body, sort_keys=True))
        except ControlError as err:  # a broken ``# emulator-script:`` line
            raise AwsError(refused, f"The emulator cannot play this query: {err}") from None
        return answer(_nest(spec.started_id_path, query.query_id))

    async def status(request: web.Request) -> dict[str, Any]:
        return answer(_nest(state_path, emulator.poll(find(request)).state))

    async def results(request: web.Request) -> dict[str, Any]:
        assert behaviour.page is not None
        results_input = operation_model(spec.service, str(spec.results_operation)).input_shape
        token, size = member_named(results_input, "nexttoken"), member_named(results_input, "maxresults")
        query = find(request)
        state = emulator.peek(query).state
        if state not in spec.success_states:
            raise AwsError("ValidationException", f"Query {query.query_id} is {state}, not finished.")
        start_row = int(request.query.get(str(token)) or 0)
        end_row = min(start_row + int(request.query.get(str(size)) or 100), query.result_rows)
        page = behaviour.page(query.created_at, start_row, end_row)
        if end_row < query.result_rows:
            page[str(token)] = str(end_row)
        return page

    async def stop(request: web.Request) -> dict[str, Any]:
        emulator.stop(find(request))
        return answer()

    return [
        route(spec.service, operation, call, error, invalid)
        for operation, call in ((spec.start_operation, start), (spec.operation, status),
                                (spec.results_operation, results), (spec.stop_operation, stop))
        if operation is not None
    ]
