"""What one status answer means: an :class:`Outcome` and the :class:`Verdict` that carries it.

Its own module, free of Airflow and of the engine, because the engine, the front doors and
the operations' quirks (``status.FinishedQueriesVanish``) all speak in verdicts.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


class Outcome(str, enum.Enum):
    """What one answer means. Three kinds of "keep waiting", four of "done"."""

    #: Keep waiting: the query is still running.
    PENDING = "pending"
    #: Keep waiting, backing off harder: the call was throttled or failed transiently.
    BACKING_OFF = "backing_off"
    #: Keep waiting: AWS refused the credentials; rebuild the client and poll again at once.
    REBUILD_CLIENT = "rebuild_client"
    SUCCESS = "success"
    FAILURE = "failure"
    #: Done: a caller mistake (ids, IAM, input); a retry will not help.
    ERROR = "error"
    #: Done: throttling or transient errors outlasted the budget; a retry may help.
    UNAVAILABLE = "unavailable"
    TIMEOUT = "timeout"

    @property
    def done(self) -> bool:
        return self not in _KEEP_WAITING

    @property
    def wire(self) -> str:
        """The event's and metric's name: UNAVAILABLE travels as ``error`` with
        ``retryable: true``, as it did before it had a name, so mixed-version workers and
        triggerers keep understanding each other's events."""
        return Outcome.ERROR.value if self is Outcome.UNAVAILABLE else self.value

    @classmethod
    def from_wire(cls, status: str, *, retryable: bool) -> Outcome:
        outcome = cls(status)
        return cls.UNAVAILABLE if outcome is cls.ERROR and retryable else outcome


_KEEP_WAITING = frozenset({Outcome.PENDING, Outcome.BACKING_OFF, Outcome.REBUILD_CLIENT})
#: The ``status`` values a trigger event may carry.
EVENT_STATUSES = frozenset(outcome.wire for outcome in Outcome if outcome.done)


@dataclass(frozen=True)
class Verdict:
    """What one answer means. ``response`` is the JSON-safe last successful answer (final
    verdicts only: pending ones are not worth the conversion)."""

    outcome: Outcome
    state: str | None
    message: str
    response: dict[str, Any] | None = None

    @property
    def done(self) -> bool:
        return self.outcome.done

    @property
    def retryable(self) -> bool:
        """Whether an Airflow retry of the task may help."""
        return self.outcome is Outcome.UNAVAILABLE

    @classmethod
    def from_event(cls, event: Mapping[str, Any]) -> Verdict:
        """The verdict a trigger event carries (see :meth:`event_payload`)."""
        outcome = Outcome.from_wire(str(event["status"]), retryable=bool(event.get("retryable")))
        return cls(outcome, event.get("state"), str(event.get("message")), event.get("response"))

    def event_payload(self, identifiers: Mapping[str, str]) -> dict[str, Any]:
        """The trigger event payload (see the sensors' and operators' ``execute_complete``).

        It names the query (its identifiers): a resumed operator reads its results and stops
        its query from the event alone, since ``dag.test()`` drops the ``defer()`` kwargs."""
        return {
            "status": self.outcome.wire,
            "state": self.state,
            "message": self.message,
            "retryable": self.retryable,
            "response": self.response,
            **identifiers,
        }
