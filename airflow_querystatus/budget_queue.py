"""Who calls next when waits want more calls than the budget allows: earliest due first.

The queue of one shared budget (:mod:`airflow_querystatus.budget`), with no event loop, so that
a simulation with a fake clock runs the very code the triggerer runs (tests/test_budget_queue.py):

* A wait asks for a call when its poll falls due; if a token is there and nobody is queued, it
  goes at once (the common case: no quota in sight costs a few comparisons).
* Otherwise it queues by the time its poll fell due: the longest-waiting poll goes first, so
  every wait is polled in turn, about every ``max(its interval, waits / rate)`` seconds, and
  none starves.
* A wait's last poll (at its deadline) is **urgent** and goes before every other: the deadline
  must still end the wait on time, however long the queue.
* A queued request can be withdrawn (the wait was cancelled, or its deadline passed while it
  queued); it then holds nothing.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from airflow_querystatus.rate import AdaptiveRate, RateSnapshot

#: What a request is (the async budget queues futures; a simulation, wait numbers).
R = TypeVar("R", bound=Hashable)

#: Urgent requests sort this far ahead of their due time.
URGENT_ADVANCE = 1e9
#: A throttle is congestion (the budget's to absorb) when the account answered one of the
#: budget's calls within this many seconds (the floor rate answers every five seconds).
CONGESTION_WINDOW = 10.0


@dataclass
class QueueFigures:
    """Counts since the last report (see :meth:`BudgetQueue.report`)."""

    granted: int = 0
    answered: int = 0
    throttled: int = 0
    #: Throttles the budget absorbed (the wait polls again, its error budget untouched).
    absorbed: int = 0


@dataclass(frozen=True)
class QueueReport:
    """One budget's figures over one reporting period."""

    snapshot: RateSnapshot
    queued: int
    #: Seconds the longest-queued (not urgent) request has waited, 0 when none is.
    oldest_delay: float
    figures: QueueFigures
    seconds: float


@dataclass(order=True)
class _Entry(Generic[R]):
    key: float
    seq: int
    due: float = field(compare=False)
    request: R = field(compare=False)
    withdrawn: bool = field(default=False, compare=False)


class BudgetQueue(Generic[R]):
    """The tokens and the queue of one budget; times are the caller's clock (seconds)."""

    def __init__(self, now: float, *, fixed_rate: float | None = None) -> None:
        self.rate = AdaptiveRate(now, fixed_rate=fixed_rate)
        self._heap: list[_Entry[R]] = []
        self._entries: dict[R, _Entry[R]] = {}
        self._seq = itertools.count()
        self.figures = QueueFigures()
        self.reported_at = now
        self._answered_at: float | None = None

    @property
    def queued(self) -> int:
        return len(self._entries)

    def take_now(self, now: float) -> bool:
        """True: a call may go at once (a token is there and nobody is queued before it)."""
        self.rate.refill(now, queued=bool(self._entries))
        if not self._entries and self.rate.take(now):
            self.figures.granted += 1
            return True
        return False

    def enqueue(self, request: R, now: float, *, due: float, urgent: bool = False) -> None:
        """Queue ``request`` (after :meth:`take_now` said no) until :meth:`release` names it.
        ``due``: when its poll fell due (the queue's order); ``urgent``: a wait's last poll."""
        entry = _Entry(due - URGENT_ADVANCE if urgent else due, next(self._seq), due, request)
        self._entries[request] = entry
        heapq.heappush(self._heap, entry)
        self.rate.demand_exceeded()

    def withdraw(self, request: R) -> bool:
        """Take a queued request out (True if it was queued)."""
        entry = self._entries.pop(request, None)
        if entry is None:
            return False
        entry.withdrawn = True
        return True

    def release(self, now: float) -> list[R]:
        """The queued requests whose calls may go now, in order."""
        self.rate.refill(now, queued=bool(self._entries))
        released: list[R] = []
        heap = self._heap
        while heap:
            if heap[0].withdrawn:
                heapq.heappop(heap)
                continue
            if not self.rate.take(now):
                break
            entry = heapq.heappop(heap)
            del self._entries[entry.request]
            released.append(entry.request)
        self.figures.granted += len(released)
        if not self._entries:
            heap.clear()  # only withdrawn entries are left
        return released

    def next_release_in(self) -> float | None:
        """Seconds until :meth:`release` can name the next request (None: nobody queued)."""
        return self.rate.next_token_in() if self._entries else None

    def answered(self, now: float) -> None:
        self.figures.answered += 1
        self.rate.answered(now)
        self._answered_at = now

    def throttled(self, sent_at: float, now: float) -> bool:
        """A call sent at ``sent_at`` was throttled: slow down. True when the budget absorbs it:
        the account answered another of its calls within :data:`CONGESTION_WINDOW` seconds, so
        this is the budget asking too much, which it corrects; the wait asks again at once,
        without spending its transient-error budget. False when nothing was answered that
        recently (an outage, or a throttle aimed at this query): the wait counts it as its own
        transient error, so throttling that never ends still fails waits on their budget, and the
        rate is left alone."""
        self.figures.throttled += 1
        if self._answered_at is None or now - self._answered_at > CONGESTION_WINDOW:
            # Not a rate the account gives less of: cutting the budget would only make it crawl
            # back for minutes once the account answers again (measured: 1,000 waits after a
            # 6 s throttling storm took a minute to recover).
            return False
        self.rate.throttled(sent_at, now)
        self.figures.absorbed += 1
        return True

    def oldest_delay(self, now: float) -> float:
        waiting = [now - entry.due for entry in self._entries.values() if entry.key == entry.due]
        return max(waiting, default=0.0)

    def report(self, now: float) -> QueueReport:
        """The figures since the last report, and start counting anew."""
        report = QueueReport(self.rate.snapshot(), self.queued, self.oldest_delay(now), self.figures,
                             now - self.reported_at)
        self.figures = QueueFigures()
        self.reported_at = now
        return report
