"""Neptune Data's query languages (openCypher, Gremlin): a quirk of rest-json.

Their calls are routed like every rest-json call (:func:`.rest_json.routes`, from botocore's
model); what the spec cannot describe is answered here, by the classes :data:`QUIRKS` names.
Neptune lists only running, waiting and cancelling queries: any other id is unknown
(``Emulated.unknown_id``: 400 ``InvalidParameterException``, REFERENCE.md §4). A status or list
answer is a listing with ``queryEvalStats``, whose ``cancelled`` flag is the query's only state.
The execute call answers only when the query ends, with the results and no query id; its query
member and result member come from botocore's model. Neptune's bulk loader (:class:`BulkLoad`) answers its status in the
shape of the Neptune user guide ("Neptune Loader Get-Status Responses"), which botocore's model
leaves a ``Document``.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import TYPE_CHECKING, Any

from aiohttp import web

from airflow_querystatus import status
from airflow_querystatus.emulator.catalogue import CANCELLED_GONE
from airflow_querystatus.emulator.rest_queries import Queries
from airflow_querystatus.emulator.wire import Answer, AwsError, operation_model
from airflow_querystatus.status import SPECS, StatusSpec

if TYPE_CHECKING:
    from airflow_querystatus.emulator.catalogue import Emulated
    from airflow_querystatus.emulator.model import Emulator, Query

#: Listed (known) besides the spec's pending and failure states: a query waiting to run.
_WAITING = "WAITING"


class QueryLanguage(Queries):
    """One Neptune query language's execute, list, status and cancel calls."""

    def __init__(self, emulator: Emulator, spec: StatusSpec, behaviour: Emulated) -> None:
        super().__init__(emulator, spec, behaviour)
        self.listed = spec.pending_states | spec.failure_states | {_WAITING}
        execute = operation_model(spec.service, str(spec.start_operation))
        self.text_member = next(iter(execute.input_shape.required_members))
        self.wire_name = execute.input_shape.members[self.text_member].serialization.get("name", self.text_member)
        self.result_key = next(m for m in ("results", "result") if m in execute.output_shape.members)

    def handlers(self) -> dict[str, Answer]:
        return {**super().handlers(), str(self.spec.list_operation): self.list_queries}

    def known(self, query: Query) -> bool:
        return self.emulator.peek(query).state in self.listed

    def listing(self, query: Query, state: str) -> dict[str, Any]:
        elapsed = int((time.time() - query.created_at) * 1000)
        return {
            "queryId": query.query_id,
            "queryString": (query.text or "")[:1024],
            "queryEvalStats": {"waited": 0, "elapsed": elapsed, "cancelled": state in self.spec.failure_states},
        }

    async def status(self, request: web.Request) -> Any:
        query = self.find(request)
        state = self.emulator.poll(query).state
        if state not in self.listed:  # it finished during this very call
            raise self.unknown(query.query_id)
        return self.listing(query, state)

    async def list_queries(self, request: web.Request) -> Any:
        """Every query the endpoint still knows (running, cancelling, and with
        ``includeWaiting=true`` waiting), as its status call lists it; a finished one is absent.
        ``acceptedQueryCount`` counts every accepted query not yet completed, waiting ones
        included; ``runningQueryCount`` those not waiting (a cancelling query still runs until
        its worker stops [inferred]). No paging: Neptune's listing has none."""
        known = [(q, state) for q in self.emulator.queries(self.spec.key)
                 if (state := self.emulator.peek(q).state) in self.listed]
        waiting = request.query.get("includeWaiting", "false").lower() == "true"
        shown = [self.listing(q, state) for q, state in known if waiting or state != _WAITING]
        running = sum(1 for _, state in known if state != _WAITING)
        return {"acceptedQueryCount": len(known), "runningQueryCount": running, "queries": shown}

    async def stop(self, request: web.Request) -> Any:
        query = self.find(request)
        query.silent_cancel = request.query.get("silent", "false").lower() == "true"
        self.emulator.stop(query)
        return {"status": "200 OK", "payload": True}

    async def start(self, request: web.Request) -> Any:
        """Synchronous, like Neptune: the answer comes when the query ends, with no id."""
        try:  # JSON (botocore), or a form (Neptune's HTTP API, curl)
            form = await request.json()
        except ValueError:
            form = dict(await request.post())
        text = str(form.get(self.wire_name) or form.get(self.text_member) or "")
        if not text.strip():
            raise AwsError("MissingParameterException", "Missing query")
        query = self.add(request, text)
        while (state := self.emulator.peek(query).state) in self.listed:
            await asyncio.sleep(0.05)
        if state in self.spec.success_states:
            return {self.result_key: [{"n": i} for i in range(query.result_rows)]}
        if state == CANCELLED_GONE:
            if query.silent_cancel:
                return {self.result_key: []}
            raise AwsError("CancelledByUserException", "Operation terminated (cancelled by user)")
        raise AwsError("TimeLimitExceededException", "Operation terminated (deadline exceeded)")


#: The error code of a failed load's error log entry when its script gives a reason (the guide's
#: catch-all; a script cannot name another).
LOAD_ERROR_CODE = "UNKNOWN_ERROR"


class BulkLoad(Queries):
    """Neptune's bulk loader: ``GetLoaderJobStatus`` answers ``payload.feedCount`` (the load as one
    feed, ``[{state: 1}]``), ``payload.overallStatus`` (its status, source, time and counts), for a
    failed load ``payload.failedFeeds``, and with ``?errors=true`` ``payload.errors``, whose
    ``errorLogs`` carry the ``reason`` the script's failing step gives (paged by ``page`` and
    ``errorsPerPage``)."""

    async def status(self, request: web.Request) -> Any:
        query = self.find(request)
        step = self.emulator.poll(query)
        failed = step.state in self.spec.failure_states
        source = _source(query)
        logs = [{"errorCode": LOAD_ERROR_CODE, "errorMessage": step.reason, "fileName": source or "", "recordNum": 0}
                ] if failed and step.reason else []
        overall: dict[str, Any] = {
            **({"fullUri": source} if source else {}), "runNumber": 1, "retryNumber": 0, "status": step.state,
            "totalTimeSpent": int(time.time() - query.created_at), "startTime": int(query.created_at),
            "totalRecords": query.result_rows if step.state in self.spec.success_states else 0,
            "totalDuplicates": 0, "parsingErrors": 0, "datatypeMismatchErrors": 0, "insertErrors": len(logs),
        }
        payload: dict[str, Any] = {"feedCount": [{step.state: 1}], "overallStatus": overall}
        if failed:
            payload["failedFeeds"] = [dict(overall)]
        if request.query.get("errors", "false").lower() == "true":
            payload["errors"] = _errors_page(query.query_id, logs, request)
        return self.answer({"payload": payload})


def _source(query: Query) -> str | None:
    """The ``source`` the load was started with (its start request is its text), if any."""
    try:
        started = json.loads(query.text or "")
    except ValueError:
        return None
    return started.get("source") if isinstance(started, dict) and isinstance(started.get("source"), str) else None


def _errors_page(load_id: str, logs: list[dict[str, Any]], request: web.Request) -> dict[str, Any]:
    """``payload.errors``: the ``page`` (from 1) of ``errorsPerPage`` (default 10) error log entries,
    with the 1-based indexes of the first and last shown (0 and 0 when none is)."""
    page, per_page = int(request.query.get("page", 1)), int(request.query.get("errorsPerPage", 10))
    first = (page - 1) * per_page
    shown = logs[first:first + per_page]
    return {"startIndex": first + 1 if shown else 0, "endIndex": first + len(shown) if shown else 0,
            "loadId": load_id, "errorLogs": shown}


#: The Neptune operations answered here rather than by :class:`~.rest_queries.Queries` alone, by
#: their spec's key: every query language (a Neptune spec whose finished queries vanish) and the
#: bulk loader. :func:`.rest_json.routes` reads it.
QUIRKS: dict[str, type[Queries]] = {
    **{spec.key: QueryLanguage for spec in SPECS.values() if spec.service == "neptunedata" and spec.vanishes},
    status.NEPTUNE_LOADER_JOB.key: BulkLoad,
}
