"""How fast one AWS account may be called for one operation: an adaptive token bucket.

AWS enforces API quotas per account, region and operation (Athena documents 100 calls/s for
GetQueryExecution; the calculation and Logs APIs publish less). Thousands of waits that each
back off on their own leave part of the quota unused while most of their calls are throttled.
This is the decision core of the one shared budget (:mod:`airflow_querystatus.budget`), with
no I/O and no event loop, so that a fake clock drives it in tests:

* **Tokens** accrue at ``rate`` per second, at most :data:`BURST_SECONDS` of the rate at a
  time (at least one): calls leave at an even pace, not in bursts an account-wide bucket
  would refuse.
* **Slow start**: from :data:`INITIAL_RATE`, the rate doubles every second in which waits had
  to queue for a token, until the first throttle, but never past twice the answers of the last
  second (growth clocked by answers). A thousand waits deferred at once then reach the quota
  within seconds without a burst of a thousand throttles, even when answers come late.
* **After the first throttle**: each throttle of a call sent after the last cut cuts the rate
  to :data:`CUT_FACTOR` of the rate of successful answers measured over the last
  :data:`MEASURE_WINDOW` seconds (what the account actually gave us), or of the current rate
  when too few answers were measured; then the rate grows by :data:`ADDITIVE_STEP` calls/s
  every second in which waits queued. Additive growth with multiplicative cuts (TCP's AIMD) is
  what makes several processes sharing one quota converge to equal shares.
* Growth happens only while demand exceeds the rate: a budget that is not the limit does not
  grow without bound and then flood the account when demand rises.

A fixed rate (``[querystatus] status_call_rates``) turns adaptation off.
"""

from __future__ import annotations

import collections
from dataclasses import dataclass

#: Calls per second a budget starts at before it knows the account's quota.
INITIAL_RATE = 20.0
#: The slowest an adaptive budget goes (one call every five seconds).
MIN_RATE = 0.2
#: The fastest it may grow to without a throttle.
MAX_RATE = 10_000.0
#: Most tokens held at once, in seconds of the rate (at least one token).
BURST_SECONDS = 0.25
#: Growth per second of queueing during slow start (a factor), and afterwards (calls/s).
SLOW_START_FACTOR = 2.0
ADDITIVE_STEP = 1.0
#: After a throttle: this share of the measured successful rate.
CUT_FACTOR = 0.9
#: Seconds of successful answers the cut measures, and the fewest answers it trusts.
MEASURE_WINDOW = 2.0
MIN_MEASURED = 5


@dataclass(frozen=True)
class RateSnapshot:
    """What a budget reports (the once-a-minute line and the metrics)."""

    rate: float
    adaptive: bool
    slow_start: bool


class AdaptiveRate:
    """Tokens for one account, region and operation (see module docstring)."""

    def __init__(self, now: float, *, fixed_rate: float | None = None, initial_rate: float = INITIAL_RATE) -> None:
        if fixed_rate is not None and not (fixed_rate > 0 and fixed_rate < float("inf")):
            raise ValueError(f"a fixed rate must be a positive number of calls per second, got {fixed_rate!r}")
        self.adaptive = fixed_rate is None
        self.rate = fixed_rate if fixed_rate is not None else initial_rate
        self.slow_start = self.adaptive
        self.tokens = self._capacity()
        self._refilled_at = now
        #: When the rate was last cut: throttles of calls sent before it are already answered for.
        self._cut_at = float("-inf")
        #: Whether waits queued for a token since the rate last grew.
        self._demand_exceeded = False
        self._answers: collections.deque[float] = collections.deque()
        #: Slow start only: the answers of the last second (:meth:`_slow_start_ceiling`).
        self._recent_answers: collections.deque[float] = collections.deque()
        self._initial_rate = initial_rate

    def _capacity(self) -> float:
        return max(1.0, self.rate * BURST_SECONDS)

    # -- tokens -------------------------------------------------------------------------
    def refill(self, now: float, *, queued: bool) -> None:
        """Accrue tokens up to ``now``; grow the rate if waits queued meanwhile (``queued``:
        some are queued right now)."""
        elapsed = now - self._refilled_at
        if elapsed <= 0:
            return
        self._refilled_at = now
        if self.adaptive and (queued or self._demand_exceeded):
            if self.slow_start:
                grown = self.rate * SLOW_START_FACTOR ** min(elapsed, 1.0)
                self.rate = min(MAX_RATE, max(self.rate, min(grown, self._slow_start_ceiling(now))))
            else:
                self.rate = min(MAX_RATE, self.rate + ADDITIVE_STEP * min(elapsed, 1.0))
        self._demand_exceeded = queued
        self.tokens = min(self._capacity(), self.tokens + elapsed * self.rate)

    def _slow_start_ceiling(self, now: float) -> float:
        """Slow start grows to at most :data:`SLOW_START_FACTOR` times the answers of the last
        second (at least the initial rate): growth is clocked by answers, as TCP's slow start is
        by acknowledgements. When answers come late (a loaded triggerer, a slow endpoint) the
        rate waits for them instead of doubling blind past the quota, so the overshoot before
        the first throttle is heard of stays under twice the quota."""
        return max(self._initial_rate, SLOW_START_FACTOR * _kept_since(self._recent_answers, now - 1.0))

    def take(self, now: float) -> bool:
        """Spend a token if one is there (after :meth:`refill`); False means: queue."""
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        self.demand_exceeded()
        return False

    def demand_exceeded(self) -> None:
        """A call had to queue (the rate may grow)."""
        self._demand_exceeded = True

    def next_token_in(self) -> float:
        """Seconds until the next token (after :meth:`refill`)."""
        return max(0.0, (1.0 - self.tokens) / self.rate)

    # -- what the account answered ------------------------------------------------------
    def answered(self, now: float) -> None:
        """A call was answered (not throttled)."""
        self._answers.append(now)
        _kept_since(self._answers, now - MEASURE_WINDOW)
        if self.slow_start:
            self._recent_answers.append(now)
            _kept_since(self._recent_answers, now - 1.0)

    def throttled(self, sent_at: float, now: float) -> bool:
        """A call sent at ``sent_at`` was throttled: cut the rate, once per round of calls.
        Returns whether this throttle cut it."""
        if not self.adaptive or sent_at < self._cut_at:
            return False
        answers = _kept_since(self._answers, now - MEASURE_WINDOW)
        measured = answers / MEASURE_WINDOW if answers >= MIN_MEASURED else self.rate
        self.rate = max(MIN_RATE, CUT_FACTOR * min(measured, self.rate))
        self.slow_start = False
        self._recent_answers.clear()
        self._cut_at = now
        self.tokens = min(self.tokens, self._capacity())
        return True

    def snapshot(self) -> RateSnapshot:
        return RateSnapshot(self.rate, self.adaptive, self.slow_start)


def _kept_since(times: collections.deque[float], since: float) -> int:
    """Drop the times before ``since`` (oldest first) and return how many are left."""
    while times and times[0] < since:
        times.popleft()
    return len(times)
