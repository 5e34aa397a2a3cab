"""The calls an operator makes besides its status polls (start, results, stop), under one policy.

The status polls have the engine's error classes (:mod:`airflow_querystatus.errors`); these
calls get the same ones, so that a task fails the same way whichever call AWS refused:

* a caller mistake (access denied, validation, not found, malformed query, bad request, refused
  credentials, a missing connection) fails at once as :class:`QueryCallerError`, an
  ``AirflowFailException``: an Airflow retry would send the same request and meet the same
  refusal, and for a start call it would start (and stop) a new query each time;
* throttling, and an endpoint that could not be reached, are waited out with backoff within the
  wait's ``transient_error_budget``: AWS did not act on those requests, so repeating them is safe;
* a 5xx or a timeout leaves open whether AWS acted on the request. A read (results) or a call
  that is safe to repeat (an idempotency token, a model marked idempotent) is repeated like a
  throttle; a start call that is not is never repeated by the provider
  (:class:`QueryStartUncertainError`, retryable: the message says what a retry may cause).

Stops report what really happened (:class:`StopReport`): an operator's error says "stopped"
only when the stop call succeeded.
"""

from __future__ import annotations

import enum
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from airflow_querystatus.errors import CallerMistake, ClassifiedError, ErrorKind, advice, classify
from airflow_querystatus.exceptions import (
    QueryCallerError,
    QueryError,
    QueryStartUncertainError,
    QueryStatusUnavailableError,
)
from airflow_querystatus.polling import WaitOptions

T = TypeVar("T")

log = logging.getLogger(__name__)


class Phase(enum.Enum):
    START = "start"
    RESULTS = "results"
    STOP = "stop"


@dataclass(frozen=True)
class TaskCall:
    """One call an operator makes, as its messages name it."""

    #: ``Task 'x'``.
    owner: str
    #: The boto3 method (``start_query``).
    operation: str
    phase: Phase
    #: The IAM action the call needs (``logs:StartQuery``), for AccessDenied advice.
    iam_action: str
    aws_conn_id: str | None
    #: What the call is about: ``CloudWatch Logs Insights query (query_id='...')``, or for a
    #: start, the operation's title.
    subject: str
    identifiers: Mapping[str, str] = field(default_factory=dict)
    #: Whether repeating the call after a 5xx or a timeout is safe (reads always are).
    repeatable: bool = True

    def error_fields(self) -> dict[str, Any]:
        return {"operation": self.operation, "identifiers": self.identifiers}


def call_for_task(
    call: Callable[[], T],
    what: TaskCall,
    options: WaitOptions,
    *,
    logger: logging.Logger | Any = log,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> T:
    """Make ``call`` under the policy in this module's docstring and return its answer."""
    delay = options.poll_interval
    first_error_at: float | None = None
    while True:
        try:
            return call()
        except QueryError:
            raise  # ours already, with its fields
        except Exception as exc:
            if isinstance(exc, CallerMistake):
                raise
            error = classify(exc)
            if error.kind is not ErrorKind.TRANSIENT:
                raise QueryCallerError(
                    f"{what.owner}: {what.operation} for {what.subject} failed with {error.detail}. "
                    f"{_what_to_fix(error, what)}",
                    **what.error_fields(),
                ) from exc
            if not (error.request_not_processed or what.repeatable):
                raise QueryStartUncertainError(
                    f"{what.owner}: {what.operation} for {what.subject} failed with {error.detail}. AWS may have "
                    f"started it anyway, and {what.operation} has no idempotency token, so the provider does not "
                    "repeat the call: a second query could run beside the first. An Airflow retry of this task "
                    "starts a new one; if the first did start, it runs until it ends or is stopped.",
                    **what.error_fields(),
                ) from exc
            now = clock()
            first_error_at = now if first_error_at is None else first_error_at
            if now - first_error_at + delay > options.transient_error_budget:
                raise QueryStatusUnavailableError(
                    f"{what.owner}: {what.operation} for {what.subject} kept failing for {now - first_error_at:.0f}s "
                    f"(budget {options.transient_error_budget:g}s); last error {error.detail}. AWS is throttling or "
                    "unavailable: the task can be retried; raise `transient_error_budget` to wait longer.",
                    **what.error_fields(),
                ) from exc
            logger.warning("%s: %s for %s: %s (%s); retrying in %.1fs.", what.owner, what.operation, what.subject,
                           "throttled" if error.throttled else "transient error", error.detail, delay)
            sleep(delay)
            delay = min(delay * 2, options.max_poll_interval)


#: What to check when AWS refused a start call for its input: it names no query yet.
_CHECK_THE_ARGUMENTS = ("Check the task's arguments against AWS's reason above (the log group, session, monitor or "
                        "scope must exist in this account and region).")


def _what_to_fix(error: ClassifiedError, what: TaskCall) -> str:
    said = advice(error, iam_action=what.iam_action, aws_conn_id=what.aws_conn_id,
                  otherwise=_CHECK_THE_ARGUMENTS if what.phase is Phase.START else None)
    return f"{said} Not retried: a retry would send the same request."


class StopOutcome(enum.Enum):
    STOPPED = "stopped"
    ALREADY_ENDED = "already_ended"
    NOT_STOPPED = "not_stopped"
    NOT_STOPPABLE = "not_stoppable"


@dataclass(frozen=True)
class StopReport:
    """What became of an attempt to stop a query, as a sentence for the task's error."""

    outcome: StopOutcome
    subject: str
    #: How to stop it by hand (the boto3 call and its parameters), when it may still run.
    by_hand: str = ""
    detail: str = ""
    state: str | None = None

    @property
    def stopped(self) -> bool:
        return self.outcome is StopOutcome.STOPPED

    def sentence(self) -> str:
        if self.outcome is StopOutcome.STOPPED:
            return "The query was stopped."
        if self.outcome is StopOutcome.ALREADY_ENDED:
            return f"The query had already ended ({self.state}) when the provider went to stop it."
        if self.outcome is StopOutcome.NOT_STOPPABLE:
            return f"{self.subject} has no stop call: it may still be running."
        return (f"The query was NOT stopped ({self.detail}): it may still be running. Stop it by hand: "
                f"{self.by_hand}.")
