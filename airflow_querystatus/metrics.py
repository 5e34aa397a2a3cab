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

Each shared rate budget (:mod:`airflow_querystatus.budget`) reports, once a minute while it is
active, under ``querystatus.budget.<operation>.``: gauges ``rate`` (calls/s), ``queued``
(waits waiting for a token) and ``oldest_delay`` (seconds), and counters ``calls``,
``throttled`` and ``absorbed`` (throttles the budget took on instead of the waits).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from airflow_querystatus import compat

if TYPE_CHECKING:
    from airflow_querystatus.budget_queue import QueueReport

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


class BudgetMetrics:
    """What one shared rate budget reports (see the module docstring)."""

    def __init__(self, operation: str) -> None:
        self._prefix = f"{PREFIX}.budget.{operation}"
        self._tags = {"operation": operation}

    def report(self, report: QueueReport) -> None:
        stats, prefix, tags = compat.Stats, self._prefix, self._tags
        stats.gauge(f"{prefix}.rate", report.snapshot.rate, tags=tags)
        stats.gauge(f"{prefix}.queued", report.queued, tags=tags)
        stats.gauge(f"{prefix}.oldest_delay", report.oldest_delay, tags=tags)
        stats.incr(f"{prefix}.calls", report.figures.granted, tags=tags)
        stats.incr(f"{prefix}.throttled", report.figures.throttled, tags=tags)
        stats.incr(f"{prefix}.absorbed", report.figures.absorbed, tags=tags)
