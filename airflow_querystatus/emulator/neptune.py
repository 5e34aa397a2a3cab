"""Neptune Data's REST dialect: synchronous execute, status, list and cancel of one query language.

Neptune lists only running, waiting and cancelling queries: any other id is answered with
400 ``InvalidParameterException``, its text in ``detailedMessage`` (REFERENCE.md §4). The
execute call answers only when the query ends, with no query id. Routes, the execute call's
body and result names and the error shapes come from botocore's service model. (Neptune's bulk
loader is plain rest-json: :mod:`.rest_json`.)
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from aiohttp import web

from airflow_querystatus.emulator.model import ControlError, Emulator, Query
from airflow_querystatus.emulator.rest_json import error_for, invalid_for
from airflow_querystatus.emulator.validation import route
from airflow_querystatus.emulator.wire import AwsError, Route, operation_model
from airflow_querystatus.status import StatusSpec


def routes(emulator: Emulator, spec: StatusSpec) -> list[Route]:
    kind = spec.key
    # Neptune Data's errors: ``{"code", "requestId", "detailedMessage"}``, throttling with 500;
    # bad input is MissingParameterException or BadRequestException (all from botocore's model).
    error, invalid = error_for(spec.service), invalid_for(spec.service)
    listed = spec.pending_states | spec.failure_states | {"WAITING"}
    execute = operation_model(spec.service, str(spec.start_operation))
    text_member = next(iter(execute.input_shape.required_members))
    wire_name = execute.input_shape.members[text_member].serialization.get("name", text_member)
    result_key = next(m for m in ("results", "result") if m in execute.output_shape.members)
    unknown_id = "Supplied queryId {} is invalid"

    def find(request: web.Request) -> Query:
        query_id = request.match_info["queryId"]
        query = emulator.find(kind, {}, query_id)
        if query is None or emulator.peek(query).state not in listed:
            raise AwsError("InvalidParameterException", unknown_id.format(query_id))
        return query

    def listing(query: Query, state: str) -> dict[str, Any]:
        elapsed = int((time.time() - query.created_at) * 1000)
        return {
            "queryId": query.query_id,
            "queryString": (query.text or "")[:1024],
            "queryEvalStats": {"waited": 0, "elapsed": elapsed, "cancelled": state in spec.failure_states},
        }

    async def status(request: web.Request) -> dict[str, Any]:
        query = find(request)
        state = emulator.poll(query).state
        if state not in listed:  # it finished during this very call
            raise AwsError("InvalidParameterException", unknown_id.format(query.query_id))
        return listing(query, state)

    async def list_queries(request: web.Request) -> dict[str, Any]:
        shown = [listing(q, state) for q in emulator.queries(kind) if (state := emulator.peek(q).state) in listed]
        running = sum(1 for q in shown if not q["queryEvalStats"]["cancelled"])
        return {"acceptedQueryCount": len(shown), "runningQueryCount": running, "queries": shown}

    async def cancel(request: web.Request) -> dict[str, Any]:
        query = find(request)
        query.silent_cancel = request.query.get("silent", "false").lower() == "true"
        emulator.stop(query)
        return {"status": "200 OK", "payload": True}

    async def run(request: web.Request) -> dict[str, Any]:
        """Synchronous, like Neptune: the answer comes when the query ends, with no id."""
        try:  # JSON (botocore), or a form (Neptune's HTTP API, curl)
            form = await request.json()
        except ValueError:
            form = dict(await request.post())
        text = str(form.get(wire_name) or form.get(text_member) or "")
        if not text.strip():
            raise AwsError("MissingParameterException", "Missing query")
        try:
            query = emulator.add_query(kind, {}, text=text)
        except ControlError as err:  # a broken ``# emulator-script:`` line
            raise AwsError("BadRequestException", f"The emulator cannot play this query: {err}") from None
        while (state := emulator.peek(query).state) in listed:
            await asyncio.sleep(0.05)
        if state in spec.success_states:
            return {result_key: [{"n": i} for i in range(query.result_rows)]}
        if state == "CANCELLED_GONE":
            if query.silent_cancel:
                return {result_key: []}
            raise AwsError("CancelledByUserException", "Operation terminated (cancelled by user)")
        raise AwsError("TimeLimitExceededException", "Operation terminated (deadline exceeded)")

    return [
        route(spec.service, str(operation), answer, error, invalid)
        for operation, answer in ((spec.start_operation, run), (spec.list_operation, list_queries),
                                  (spec.operation, status), (spec.stop_operation, cancel))
    ]
