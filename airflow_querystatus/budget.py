"""One rate budget per AWS account, region and operation, shared by every wait of a process.

AWS's API quotas are per account: a triggerer's thousand waits share one. Each wait backing off
on its own leaves half the quota unused while most calls are throttled, and logs a warning per
wait. So every status call of a trigger first asks the budget of its account, region, service
and operation (:class:`BudgetKey`) for a token:

* the budget's rate adapts to what the account gives (:mod:`airflow_querystatus.rate`), or is
  fixed by ``[querystatus] status_call_rates`` for accounts that know their quota;
* when waits want more calls than that, they queue earliest-due first, a wait's last poll
  before its deadline ahead of all (:mod:`airflow_querystatus.budget_queue`): each wait is
  polled about every ``max(its interval, waits / rate)`` seconds and none starves;
* a throttled call slows the budget, and the wait asks again at once, without spending its
  transient-error budget and without a warning of its own: the budget logs one line a
  minute (rate, waits queued, throttles, the oldest queued poll's delay) and sends the same
  figures as metrics (``querystatus.budget.<operation>.*``);
* time queued for a token is not time the call takes: the call's cut-off starts when it is
  sent (``polling``), and cancelling a queued wait frees its place at once.

The account is the credentials' identity as the connection gives it (the role it assumes,
else its access key), with the endpoint: two connections with the same credentials share one
budget. Two accounts reached through the same role cannot be told apart without an STS call,
and share one too, which only makes them more careful.

Only triggers use a budget: a worker (poke, reschedule, or a non-deferrable operator) runs one
wait per process and polls it on its own schedule, as before. ``[querystatus] rate_budget =
off`` turns budgets off (each wait backs off on its own, as before this existed).
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from airflow_querystatus.budget_queue import BudgetQueue, QueueReport
from airflow_querystatus.loop_timers import cutoffs, per_running_loop

log = logging.getLogger(__name__)

#: ``[querystatus]`` options (declared in the provider info).
BUDGET_OPTION = "rate_budget"
RATES_OPTION = "status_call_rates"
#: Seconds between two report lines of one budget (only while it throttles or queues).
REPORT_INTERVAL = 60.0
#: The pump never wakes more often than this (seconds): at high rates it releases in batches.
MIN_PUMP_DELAY = 0.005


@dataclass(frozen=True)
class BudgetKey:
    """What shares one budget: an account (credentials and endpoint), a region, an operation."""

    identity: str
    endpoint: str
    region: str | None
    service: str
    operation: str

    def describe(self) -> str:
        return f"{self.service} {self.operation} ({self.region or 'default region'}, {self.identity})"


#: A client's account (identity and endpoint), set once by the client pool when it makes it.
_accounts: weakref.WeakKeyDictionary[Any, tuple[str, str]] = weakref.WeakKeyDictionary()


def set_account(client: Any, identity: str) -> None:
    """Remember whose credentials ``client`` signs with (see :func:`identity_of`)."""
    _accounts[client] = (identity, str(getattr(client.meta, "endpoint_url", "")))


def identity_of(role_arn: str | None, access_key: str | None, aws_conn_id: str | None) -> str:
    """The credentials' identity, as far as the connection tells it without an AWS call."""
    if role_arn:
        return f"role {role_arn}"
    if access_key:
        return f"key {access_key}"
    return f"connection {aws_conn_id!r} (default credential chain)"


def key_for(client: Any, method: str) -> BudgetKey:
    """The budget of ``client``'s account for its boto3 ``method`` (keyed by the API's name,
    ``GetCalculationExecutionStatus``, as quotas and ``status_call_rates`` name it)."""
    meta = client.meta
    identity, endpoint = _accounts.get(client, ("unknown credentials", str(getattr(meta, "endpoint_url", ""))))
    operation = meta.method_to_api_mapping.get(method, method)
    return BudgetKey(identity, endpoint, meta.region_name, meta.service_model.service_name, operation)


class _GaveUp:
    """The result of a queued request whose give-up time passed."""


_GAVE_UP = _GaveUp()


class RateBudget:
    """The shared budget of one :class:`BudgetKey` in one event loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop, key: BudgetKey, *, fixed_rate: float | None) -> None:
        self.key = key
        self._loop = loop
        self.queue: BudgetQueue[asyncio.Future[Any]] = BudgetQueue(loop.time(), fixed_rate=fixed_rate)
        self._pump_due = False
        from airflow_querystatus.metrics import BudgetMetrics  # Airflow's Stats: only when a budget is made

        self._metrics = BudgetMetrics(key.operation)

    async def admit(self, *, due: float, urgent: bool = False, give_up_at: float | None = None) -> float | None:
        """Wait for a token; returns the loop time the call may go at, or None when
        ``give_up_at`` (loop time) passed first. ``due``: when the poll fell due."""
        loop = self._loop
        now = loop.time()
        queue = self.queue
        if queue.take_now(now):
            return now
        waiter: asyncio.Future[Any] = loop.create_future()
        queue.enqueue(waiter, now, due=due, urgent=urgent)
        self._schedule_pump()
        shared = cutoffs()
        token = None if give_up_at is None else shared.arm(max(0.0, give_up_at - now), lambda: self._give_up(waiter))
        try:
            result = await waiter
        finally:
            if token is not None:
                shared.disarm(token)
            queue.withdraw(waiter)  # cancelled while queued: its place goes at once
        return None if result is _GAVE_UP else loop.time()

    def answered(self) -> None:
        self.queue.answered(self._loop.time())

    def throttled(self, sent_at: float) -> bool:
        """A call sent at ``sent_at`` was throttled; True when the budget absorbs it."""
        now = self._loop.time()
        absorbed = self.queue.throttled(sent_at, now)
        self._maybe_report(now)
        return absorbed

    def _give_up(self, waiter: asyncio.Future[Any]) -> None:
        if self.queue.withdraw(waiter) and not waiter.done():
            waiter.set_result(_GAVE_UP)

    def _schedule_pump(self) -> None:
        if self._pump_due:
            return
        delay = self.queue.next_release_in()
        if delay is None:
            return
        self._pump_due = True
        self._loop.call_later(max(delay, MIN_PUMP_DELAY), self._pump)

    def _pump(self) -> None:
        self._pump_due = False
        now = self._loop.time()
        for waiter in self.queue.release(now):
            if not waiter.done():
                waiter.set_result(None)
        self._schedule_pump()
        self._maybe_report(now)

    def _maybe_report(self, now: float) -> None:
        if now - self.queue.reported_at < REPORT_INTERVAL:
            return
        report = self.queue.report(now)
        self._metrics.report(report)
        if report.figures.throttled or report.queued:
            log.warning("%s", describe(self.key, report))


def describe(key: BudgetKey, report: QueueReport) -> str:
    """The once-a-minute line of one budget."""
    figures, snapshot = report.figures, report.snapshot
    how = "adaptive" if snapshot.adaptive else "fixed by [querystatus] status_call_rates"
    return (f"Rate budget {key.describe()}: {snapshot.rate:.1f} calls/s ({how}); {report.queued} waits queued, the "
            f"oldest for {report.oldest_delay:.1f}s; in the last {report.seconds:.0f}s {figures.granted} calls, "
            f"{figures.throttled} throttled ({figures.absorbed} absorbed by the budget).")


class BudgetRegistry:
    """The budgets of one event loop (one triggerer process)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, fixed_rates: Mapping[str, float]) -> None:
        self._loop = loop
        self._fixed_rates = dict(fixed_rates)
        self._budgets: dict[BudgetKey, RateBudget] = {}

    def for_key(self, key: BudgetKey) -> RateBudget:
        budget = self._budgets.get(key)
        if budget is None:
            rate = self._fixed_rates.get(key.operation, self._fixed_rates.get("*"))
            budget = self._budgets[key] = RateBudget(self._loop, key, fixed_rate=rate)
        return budget


def parse_rates(text: str) -> dict[str, float]:
    """``GetCalculationExecutionStatus=40, *=10`` -> {operation: calls per second}."""
    rates: dict[str, float] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        operation, sep, value = item.partition("=")
        try:
            rate = float(value) if sep else float("nan")
        except ValueError:
            rate = float("nan")
        if not operation.strip() or not (0 < rate < float("inf")):
            raise ValueError(f"`[querystatus] {RATES_OPTION}`: {item!r} is not OPERATION=CALLS_PER_SECOND (a positive "
                             "number), e.g. GetCalculationExecutionStatus=40 or *=10.")
        rates[operation.strip()] = rate
    return rates


def budgets_enabled() -> bool:
    from airflow_querystatus.compat import conf

    value = conf.get("querystatus", BUDGET_OPTION, fallback="adaptive").strip().lower()
    if value not in {"adaptive", "off"}:
        raise ValueError(f"`[querystatus] {BUDGET_OPTION}` must be adaptive or off, got {value!r}.")
    return value == "adaptive"


def _make_registry(loop: asyncio.AbstractEventLoop) -> BudgetRegistry:
    from airflow_querystatus.compat import conf

    return BudgetRegistry(loop, parse_rates(conf.get("querystatus", RATES_OPTION, fallback="")))


_registries: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, BudgetRegistry] = weakref.WeakKeyDictionary()


def shared_budgets() -> BudgetRegistry:
    """The running loop's budgets."""
    return per_running_loop(_registries, _make_registry)
