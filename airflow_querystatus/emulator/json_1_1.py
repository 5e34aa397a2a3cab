"""JSON 1.1 (``POST /`` with ``X-Amz-Target``): Athena's sessions and Spark calculations.

Errors are ``{"__type", "Message"}``; Athena answers 400 for most of them.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from airflow_querystatus.emulator import validation
from airflow_querystatus.emulator.model import ControlError, Emulator, Query
from airflow_querystatus.emulator.wire import ERROR_STATUS, AwsError, json_response, operation_model
from airflow_querystatus.status import StatusSpec

CONTENT_TYPE = "application/x-amz-json-1.1"
_STATUS = {**ERROR_STATUS, "ThrottlingException": 400, "ResourceNotFoundException": 400,
           "AccessDeniedException": 400}


def error(code: str, message: str) -> web.Response:
    return json_response({"__type": code, "Message": message}, _STATUS.get(code, 400), CONTENT_TYPE)


def invalid(found: list[validation.Problem]) -> AwsError:
    """Athena answers broken constraints with InvalidRequestException (400), in AWS's usual
    wording ("1 validation error detected: Value ... at 'queryString' failed to satisfy
    constraint: Member must have length less than or equal to 262144")."""
    return AwsError("InvalidRequestException", validation.message(found))


def _snake(operation: str) -> str:
    return "".join("_" + c.lower() if c.isupper() else c for c in operation).lstrip("_")


class Athena:
    """Athena's session and calculation operations over the emulator's queries."""

    def __init__(self, emulator: Emulator, spec: StatusSpec) -> None:
        assert spec.emulated is not None
        self.emulator = emulator
        self.kind = spec.key
        self.spec = spec

    async def dispatch(self, request: web.Request) -> tuple[str, str, Callable[[], Awaitable[Any]]]:
        """The operation's boto3 name, the calculation id it touches, and how to answer it."""
        operation = request.headers.get("X-Amz-Target", "").removeprefix("AmazonAthena.")
        try:
            body = await request.json() if request.body_exists else {}
        except ValueError:
            body = None
        snake = _snake(operation)

        async def answer() -> Any:
            if snake not in OPERATIONS:
                raise AwsError("InvalidRequestException", f"{operation} is not emulated")
            if not isinstance(body, dict):
                raise AwsError("SerializationException", "The request body must be a JSON object.")
            found = validation.problems(operation_model("athena", snake).input_shape, body)
            if found:
                raise invalid(found)
            return getattr(self, snake)(body)

        query_id = body.get("CalculationExecutionId") if isinstance(body, dict) else None
        return snake, str(query_id or ""), answer

    def start_session(self, body: dict[str, Any]) -> dict[str, Any]:
        session_id = str(uuid.uuid4())
        self.emulator.sessions[session_id] = {"State": "IDLE", "WorkGroup": body["WorkGroup"]}
        return {"SessionId": session_id, "State": "CREATING"}

    def _session(self, body: dict[str, Any]) -> dict[str, Any]:
        session = self.emulator.sessions.get(str(body.get("SessionId")))
        if session is None:
            raise AwsError("InvalidRequestException", f"Session {body.get('SessionId')} not found.")
        return session

    def get_session_status(self, body: dict[str, Any]) -> dict[str, Any]:
        return {"SessionId": body.get("SessionId"), "Status": {"State": self._session(body)["State"]}}

    def get_session(self, body: dict[str, Any]) -> dict[str, Any]:
        session = self._session(body)
        return {"SessionId": body.get("SessionId"), "WorkGroup": session["WorkGroup"],
                "Status": {"State": session["State"]}}

    def terminate_session(self, body: dict[str, Any]) -> dict[str, Any]:
        self._session(body)["State"] = "TERMINATED"
        return {"State": "TERMINATED"}

    def start_calculation_execution(self, body: dict[str, Any]) -> dict[str, Any]:
        session = self._session(body)
        if session["State"] not in {"IDLE", "BUSY"}:
            raise AwsError("InvalidRequestException", f"Session is {session['State']}.")
        code = body.get("CodeBlock") or (body.get("CalculationConfiguration") or {}).get("CodeBlock")
        if not code:
            raise AwsError("InvalidRequestException", "CodeBlock is required.")
        try:
            query = self.emulator.add_query(self.kind, {}, text=code, session_id=str(body["SessionId"]))
        except ControlError as err:  # a broken ``# emulator-script:`` line
            raise AwsError("InvalidRequestException", f"The emulator cannot play this query: {err}") from None
        return {"CalculationExecutionId": query.query_id, "State": "CREATING"}

    def _calculation(self, body: dict[str, Any]) -> Query:
        calc_id = str(body["CalculationExecutionId"])  # present and 1-36 characters: checked by the model
        query = self.emulator.find(self.kind, {}, calc_id)
        if query is None:
            raise AwsError("InvalidRequestException", f"Calculation {calc_id} was not found.")
        return query

    def _status(self, query: Query, state: str) -> dict[str, Any]:
        step = query.step
        status: dict[str, Any] = {"SubmissionDateTime": query.created_at, "State": state}
        if state in self.spec.success_states | self.spec.failure_states:
            status["CompletionDateTime"] = query.state_entered_at(state) or time.time()
        if step.reason:
            status["StateChangeReason"] = step.reason
        stats: dict[str, Any] = {"DpuExecutionInMillis": int((time.time() - query.created_at) * 1000)}
        if step.progress:
            stats["Progress"] = step.progress
        return {"Status": status, "Statistics": stats}

    def get_calculation_execution_status(self, body: dict[str, Any]) -> dict[str, Any]:
        query = self._calculation(body)
        return self._status(query, self.emulator.poll(query).state)

    def get_calculation_execution(self, body: dict[str, Any]) -> dict[str, Any]:
        # A status poll too: the amazon provider's ``calculation_complete`` waiter polls this.
        query = self._calculation(body)
        answer = self._status(query, self.emulator.poll(query).state)
        base = f"s3://emulator-results/{query.session_id}/{query.query_id}"
        answer.update(
            CalculationExecutionId=query.query_id,
            SessionId=query.session_id,
            WorkingDirectory=f"s3://emulator-results/{query.session_id}/",
            Result={
                "StdOutS3Uri": f"{base}/stdout.txt",
                "StdErrorS3Uri": f"{base}/stderr.txt",
                "ResultS3Uri": f"{base}/result.json",
                "ResultType": "application/json",
            },
        )
        return answer

    def stop_calculation_execution(self, body: dict[str, Any]) -> dict[str, Any]:
        query = self._calculation(body)
        self.emulator.stop(query)
        return {"State": self.emulator.peek(query).state}


#: The Athena operations the emulator answers (boto3 names): the public methods of :class:`Athena`.
OPERATIONS = frozenset(name for name in vars(Athena) if not name.startswith("_") and name != "dispatch")
