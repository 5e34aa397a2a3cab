"""Counters and timers for large deployments, through Airflow's own ``Stats``.

So they reach StatsD, Datadog or OpenTelemetry exactly as the deployment configured Airflow's
metrics (``[metrics]``); with metrics off, ``Stats`` does nothing. Each name carries the
operation (``querystatus.<operation>.<what>``) for plain StatsD, and the same value is a
``operation`` tag for backends that take tags:

* ``polls``: status calls made (poke or trigger);
* ``throttled``, ``transient_errors``: calls AWS throttled, or that failed in a way worth
  waiting out (5xx, resets, timeouts);
* ``outcome.<success|failure|error|timeout>``: waits that ended so;
* ``wait_duration``: a timer, milliseconds from the first poll of a wait to its outcome
  (in reschedule mode each poke is a wait of its own).
"""

from __future__ import annotations

from airflow_querystatus import compat

PREFIX = "querystatus"


class WaitMetrics:
    """What one wait reports; one per :class:`~airflow_querystatus.polling.StatusTracker`."""

    def __init__(self, operation: str) -> None:
        self.operation = operation
        self._tags = {"operation": operation}

    def _name(self, what: str) -> str:
        return f"{PREFIX}.{self.operation}.{what}"

    def poll(self) -> None:
        compat.Stats.incr(self._name("polls"), tags=self._tags)

    def transient(self, *, throttled: bool) -> None:
        compat.Stats.incr(self._name("throttled" if throttled else "transient_errors"), tags=self._tags)

    def outcome(self, outcome: str, waited_seconds: float | None) -> None:
        compat.Stats.incr(self._name(f"outcome.{outcome}"), tags=self._tags)
        if waited_seconds is not None:
            compat.Stats.timing(self._name("wait_duration"), waited_seconds * 1000.0, tags=self._tags)
