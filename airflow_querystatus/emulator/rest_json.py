"""REST-JSON query operations (Internet Monitor, Network Flow Monitor): start, status, results, stop.

Routes, parameter names and answer keys come from botocore's service model of each
operation the registry names; the script and the results rows from ``StatusSpec.emulated``.
Errors carry their code in the ``x-amzn-ErrorType`` header.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from airflow_querystatus.emulator.model import ControlError, Emulator, Query
from airflow_querystatus.emulator.validation import Problem, message, route
from airflow_querystatus.emulator.wire import (
    ERROR_STATUS,
    AwsError,
    Route,
    json_response,
    member_named,
    operation_model,
)
from airflow_querystatus.status import StatusSpec


def error(code: str, message: str) -> web.Response:
    response = json_response({"message": message, "Message": message}, ERROR_STATUS.get(code, 400))
    response.headers["x-amzn-ErrorType"] = code
    return response


def invalid(found: list[Problem]) -> AwsError:
    """rest-json services answer broken constraints with ValidationException (400)."""
    return AwsError("ValidationException", message(found))


def routes(emulator: Emulator, spec: StatusSpec) -> list[Route]:
    assert spec.emulated is not None and spec.emulated.page is not None
    kind, page = spec.key, spec.emulated.page
    *scope_ids, query_ident = spec.identifiers

    def scope(request: web.Request) -> dict[str, str]:
        return {ident.name: request.match_info[ident.api_name] for ident in scope_ids}

    def find(request: web.Request) -> Query:
        query_id = request.match_info[query_ident.api_name]
        query = emulator.find(kind, scope(request), query_id)
        if query is None:
            raise AwsError("ValidationException", f"Query {query_id} was not found for this resource.")
        return query

    async def start(request: web.Request) -> dict[str, Any]:
        body = await request.json() if request.body_exists else {}
        try:
            query = emulator.add_query(kind, scope(request), text=json.dumps(body, sort_keys=True))
        except ControlError as err:  # a broken ``# emulator-script:`` line
            raise AwsError("ValidationException", f"The emulator cannot play this query: {err}") from None
        return {query_ident.api_name: query.query_id}

    state_key = member_named(operation_model(spec.service, spec.operation).output_shape, "status")

    async def status(request: web.Request) -> dict[str, Any]:
        return {str(state_key): emulator.poll(find(request)).state}

    results_input = operation_model(spec.service, str(spec.results_operation)).input_shape
    token = member_named(results_input, "nexttoken")
    size = member_named(results_input, "maxresults")

    async def results(request: web.Request) -> dict[str, Any]:
        query = find(request)
        state = emulator.peek(query).state
        if state not in spec.success_states:
            raise AwsError("ValidationException", f"Query {query.query_id} is {state}, not finished.")
        start_row = int(request.query.get(str(token)) or 0)
        end_row = min(start_row + int(request.query.get(str(size)) or 100), query.result_rows)
        answer = page(query.created_at, start_row, end_row)
        if end_row < query.result_rows:
            answer[str(token)] = str(end_row)
        return answer

    async def stop(request: web.Request) -> dict[str, Any]:
        emulator.stop(find(request))
        return {}

    return [
        route(spec.service, str(operation), answer, error, invalid)
        for operation, answer in ((spec.start_operation, start), (spec.operation, status),
                                  (spec.results_operation, results), (spec.stop_operation, stop))
    ]
