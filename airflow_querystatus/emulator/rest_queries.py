"""One spec's rest-json calls (start, status, results, stop), answered from the spec, its catalogue
entry and botocore's model: :class:`Queries`, which :func:`.rest_json.routes` routes and the
quirks of :mod:`.neptune` extend.

Its own module, below :mod:`.rest_json` (which picks each spec's answerer, quirks included) and
above :mod:`.model` and :mod:`.catalogue` (the state and the script it answers from), so that
the emulator's modules import each other in one direction only.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from aiohttp import web

from airflow_querystatus.emulator.errors import ControlError
from airflow_querystatus.emulator.wire import Answer, AwsError, member_named, operation_model, service_model
from airflow_querystatus.status import StatusSpec

if TYPE_CHECKING:
    from airflow_querystatus.emulator.catalogue import Emulated
    from airflow_querystatus.emulator.model import Emulator, Query


def _nest(path: Sequence[str], value: Any) -> dict[str, Any]:
    """``{"a": {"b": value}}`` for the path ``("a", "b")``."""
    for key in reversed(path[1:]):
        value = {key: value}
    return {path[0]: value}


class Queries:
    """One spec's rest-json calls (start, status, results, stop), answered from the spec, its
    catalogue entry and botocore's model; each is routed where the model says (:func:`routes`).

    What the spec cannot say (Neptune's query languages: a synchronous execute call, listings
    with ``queryEvalStats``) is a quirk: a subclass, named for its specs in :data:`.neptune.QUIRKS`,
    that answers those calls its own way. The routes stay generic.
    """

    def __init__(self, emulator: Emulator, spec: StatusSpec, behaviour: Emulated) -> None:
        self.emulator, self.spec, self.behaviour = emulator, spec, behaviour
        *self.scope_ids, self.query_ident = spec.identifiers
        self.unknown_code, self.unknown_text = behaviour.unknown_id or (
            "ValidationException", "Query {} was not found for this resource.")
        codes = {shape.name for shape in service_model(spec.service).error_shapes}
        #: What a start the emulator cannot play is refused with (Neptune's engine has no ValidationException).
        self.refused = "ValidationException" if "ValidationException" in codes else "BadRequestException"

    def handlers(self) -> dict[str, Answer]:
        """The answer of each boto3 operation the spec names."""
        spec = self.spec
        named = {spec.start_operation: self.start, spec.operation: self.status,
                 spec.results_operation: self.results, spec.stop_operation: self.stop}
        return {name: answer for name, answer in named.items() if name is not None}

    def answer(self, *parts: dict[str, Any]) -> dict[str, Any]:
        """An answer: the catalogue's ``envelope`` members, then ``parts``."""
        return {k: v for part in (self.behaviour.envelope, *parts) for k, v in part.items()}

    def scope(self, request: web.Request) -> dict[str, str]:
        return {ident.name: request.match_info[ident.api_name] for ident in self.scope_ids}

    def known(self, query: Query) -> bool:
        """Whether the service still knows ``query`` (every query, unless a quirk says otherwise)."""
        return True

    def unknown(self, query_id: str) -> AwsError:
        return AwsError(self.unknown_code, self.unknown_text.format(query_id))

    def find(self, request: web.Request) -> Query:
        query_id = request.match_info[self.query_ident.api_name]
        query = self.emulator.find(self.spec.key, self.scope(request), query_id)
        if query is None or not self.known(query):
            raise self.unknown(query_id)
        return query

    def add(self, request: web.Request, text: str) -> Query:
        """A new query of this kind in the request's scope, playing the script its text may carry."""
        try:
            return self.emulator.add_query(self.spec.key, self.scope(request), text=text)
        except ControlError as err:  # a broken ``# emulator-script:`` line
            raise AwsError(self.refused, f"The emulator cannot play this query: {err}") from None

    async def start(self, request: web.Request) -> Any:
        body = await request.json() if request.body_exists else {}
        query = self.add(request, json.dumps(body, sort_keys=True))
        return self.answer(_nest(self.spec.started_id_path, query.query_id))

    async def status(self, request: web.Request) -> Any:
        state_path: tuple[str, ...] = self.spec.read_state.path  # type: ignore[attr-defined]
        return self.answer(_nest(state_path, self.emulator.poll(self.find(request)).state))

    async def results(self, request: web.Request) -> Any:
        spec, page = self.spec, self.behaviour.page
        assert page is not None
        results_input = operation_model(spec.service, str(spec.results_operation)).input_shape
        token, size = member_named(results_input, "nexttoken"), member_named(results_input, "maxresults")
        query = self.find(request)
        state = self.emulator.peek(query).state
        if state not in spec.success_states:
            raise AwsError("ValidationException", f"Query {query.query_id} is {state}, not finished.")
        start_row = int(request.query.get(str(token)) or 0)
        end_row = min(start_row + int(request.query.get(str(size)) or 100), query.result_rows)
        answer = page(query.created_at, start_row, end_row)
        if end_row < query.result_rows:
            answer[str(token)] = str(end_row)
        return answer

    async def stop(self, request: web.Request) -> Any:
        self.emulator.stop(self.find(request))
        return self.answer()
