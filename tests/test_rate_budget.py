"""The shared rate budget's decision core, driven by a fake clock (no I/O, no event loop), and
its asyncio layer.

The simulation below is the budget's own queue and rate (``budget_queue``, ``rate``) against
an account-wide token bucket, as AWS enforces API quotas: many waits, each polling every 5 s
and finishing at a random 60-120 s, in one process or two sharing the quota. The targets are
issue 29's: few calls throttled, the quota used, detection near the ideal ``waits / quota``.
"""

from __future__ import annotations

import asyncio
import heapq
import random
from dataclasses import dataclass, field

import pytest

from airflow_querystatus import rate as rate_module
from airflow_querystatus.budget import BudgetKey, RateBudget, parse_rates
from airflow_querystatus.budget_queue import BudgetQueue
from airflow_querystatus.rate import AdaptiveRate

pytestmark = pytest.mark.line_independent


class AccountQuota:
    """AWS's side: one token bucket for the whole account (rate calls/s, burst tokens)."""

    def __init__(self, rate: float, burst: float) -> None:
        self.rate, self.burst, self.tokens, self.at = rate, burst, burst, 0.0

    def admits(self, now: float) -> bool:
        self.tokens = min(self.burst, self.tokens + (now - self.at) * self.rate)
        self.at = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False


@dataclass
class Outcome:
    calls: int = 0
    throttled: int = 0
    #: Successful answers while every wait was still pending (before 60 s).
    answered_early: int = 0
    answered_by_process: list[int] = field(default_factory=list)
    lags: list[float] = field(default_factory=list)
    undetected: int = 0

    def percentile(self, share: float) -> float:
        ordered = sorted(self.lags)
        return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def simulate(waits: int, quota: float, *, processes: int = 1, interval: float = 5.0, latency: float = 0.05,
             seed: int = 7, horizon: float = 400.0, fixed_rate: float | None = None,
             finish: tuple[float, float] = (60.0, 120.0)) -> Outcome:
    """Discrete events: each wait asks its process's budget when its poll falls due, as the
    engine does, and a throttled call asks again with its original due time."""
    rng = random.Random(seed)
    account = AccountQuota(quota, quota)
    budgets = [BudgetQueue[int](0.0, fixed_rate=fixed_rate) for _ in range(processes)]
    events: list[tuple[float, int, str, int, bool, float]] = []
    order = iter(range(10**9))

    def at(when: float, kind: str, who: int, ok: bool = False, sent: float = 0.0) -> None:
        heapq.heappush(events, (when, next(order), kind, who, ok, sent))

    finishes = {w: rng.uniform(*finish) for w in range(waits)}
    due = {w: rng.uniform(0, 1) for w in range(waits)}
    pumping = [False] * processes
    out = Outcome(answered_by_process=[0] * processes)

    def ask(w: int, now: float) -> None:
        budget = budgets[w % processes]
        if budget.take_now(now):
            at(now, "send", w)
        else:
            budget.enqueue(w, now, due=due[w])
        pump(w % processes, now)

    def pump(p: int, now: float) -> None:
        delay = budgets[p].next_release_in()
        if delay is not None and not pumping[p]:
            pumping[p] = True
            at(now + max(delay, 0.005), "pump", p)

    for w in range(waits):
        at(due[w], "due", w)
    while events:
        now, _, kind, who, ok, sent = heapq.heappop(events)
        if now > horizon:
            break
        if kind == "due":
            ask(who, now)
        elif kind == "pump":
            pumping[who] = False
            for w in budgets[who].release(now):
                at(now, "send", w)
            pump(who, now)
        elif kind == "send":
            out.calls += 1
            at(now + latency, "answer", who, account.admits(now + latency / 2), now)
        elif ok:
            budgets[who % processes].answered(now)
            out.answered_by_process[who % processes] += 1
            out.answered_early += now < 60
            if now >= finishes[who]:
                out.lags.append(now - finishes[who])
            else:
                due[who] = now + interval * rng.uniform(0.8, 1.2)
                at(due[who], "due", who)
        else:
            out.throttled += 1
            budgets[who % processes].throttled(sent, now)
            ask(who, now)
    out.undetected = waits - len(out.lags)
    return out


@pytest.mark.parametrize(("waits", "quota"), [(200, 10), (1000, 10), (1000, 50), (3000, 50)])
def test_one_process_uses_the_quota_unthrottled_and_detects_near_the_ideal(waits: int, quota: float) -> None:
    out = simulate(waits, quota)
    ideal = waits / quota
    assert out.undetected == 0
    assert out.throttled / out.calls <= 0.05, out
    assert out.answered_early / (60 * quota) >= 0.85, out
    assert out.percentile(0.99) <= 1.25 * ideal, out


def test_two_processes_sharing_one_quota_split_it_evenly() -> None:
    out = simulate(1000, 50, processes=2)
    assert out.throttled / out.calls <= 0.10, out
    half = sum(out.answered_by_process) / 2
    assert all(abs(share - half) <= 0.25 * half for share in out.answered_by_process), out


def test_slow_answers_do_not_let_slow_start_overshoot_the_quota() -> None:
    """A loaded triggerer or a slow endpoint hears of its first throttle late. 200 waits whose
    queries end 1-2 s in (all of it slow start), answers 0.3 s late: doubling blind was
    throttled on 11 % of calls; clocked by answers, under 5 %."""
    out = simulate(200, 60, interval=0.3, latency=0.3, horizon=60, finish=(1.0, 2.0))
    assert out.undetected == 0
    assert out.throttled / out.calls <= 0.08, out


def test_the_simulation_sees_a_budget_that_does_not_adapt() -> None:
    """The harness can fail: a rate fixed far above the quota (as each wait on its own is) is
    throttled most of the time, so the targets above measure the adaptation."""
    out = simulate(1000, 50, fixed_rate=1000.0)
    assert out.throttled / out.calls > 0.5, out


# ----------------------------------------------------------------------------- the rate
def test_slow_start_doubles_each_second_waits_queue_and_only_then() -> None:
    rate = AdaptiveRate(0.0)
    rate.refill(1.0, queued=False)
    assert rate.rate == rate_module.INITIAL_RATE  # nobody queued: no growth
    for i in range(20):  # the account answered a second's worth of calls
        rate.answered(1.0 + i / 20)
    rate.refill(2.0, queued=True)
    assert rate.rate == pytest.approx(2 * rate_module.INITIAL_RATE)


def test_slow_start_grows_no_faster_than_answers_come_back() -> None:
    """Clocked by answers: at most twice the last second's answers (at least the initial rate)."""
    rate = AdaptiveRate(0.0)
    for now in (1.0, 2.0, 3.0):  # queued for seconds, nothing answered yet
        rate.refill(now, queued=True)
    assert rate.rate == rate_module.INITIAL_RATE
    for i in range(25):
        rate.answered(3.0 + i / 25)
    rate.refill(4.0, queued=True)
    assert rate.rate == pytest.approx(2 * rate_module.INITIAL_RATE)  # doubling, under 2 x 25
    rate.refill(5.0, queued=True)
    assert rate.rate == pytest.approx(2 * rate_module.INITIAL_RATE)  # those answers are over a second old
    for i in range(30):
        rate.answered(5.0 + i / 30)
    rate.refill(6.0, queued=True)
    assert rate.rate == pytest.approx(60.0)  # the doubling (80) capped at twice the 30 answers


def test_a_throttle_cuts_to_the_measured_rate_once_per_round_and_growth_becomes_additive() -> None:
    rate = AdaptiveRate(0.0, initial_rate=100.0)
    for i in range(80):  # 40 answers a second over the last two seconds
        rate.answered(8.0 + i / 40)
    assert rate.throttled(sent_at=9.9, now=10.0)
    assert rate.rate == pytest.approx(rate_module.CUT_FACTOR * 40, rel=0.05)
    cut = rate.rate
    assert not rate.throttled(sent_at=9.95, now=10.01)  # sent before the cut: already answered for
    assert rate.rate == cut
    rate.refill(11.0, queued=True)
    assert rate.rate == pytest.approx(cut + rate_module.ADDITIVE_STEP)


def test_a_fixed_rate_never_moves() -> None:
    fixed = AdaptiveRate(0.0, fixed_rate=7.0)
    assert not fixed.throttled(sent_at=1.0, now=1.1)
    fixed.refill(5.0, queued=True)
    assert fixed.rate == 7.0


def test_throttles_are_absorbed_only_while_the_account_answers_other_calls() -> None:
    """Congestion (some calls answered) is the budget's to correct; throttles with nothing
    answered (an outage, a throttle aimed at one query) go back to the waits' own budgets."""
    queue = BudgetQueue[int](0.0)
    assert not queue.throttled(sent_at=0.0, now=0.1)  # nothing answered yet: an outage
    assert queue.rate.rate == rate_module.INITIAL_RATE  # which says nothing of the rate the account gives
    queue.answered(1.0)
    assert queue.throttled(sent_at=1.0, now=1.1)
    assert not queue.throttled(sent_at=20.0, now=20.0)  # the last answer is too old
    assert queue.report(20.0).figures.absorbed == 1


def test_bad_fixed_rates_are_refused_naming_the_option() -> None:
    assert parse_rates("GetQueryResults=5, *=0.5") == {"GetQueryResults": 5.0, "*": 0.5}
    for bad in ("GetQueryResults", "GetQueryResults=fast", "=3", "GetQueryResults=0", "X=inf"):
        with pytest.raises(ValueError, match="status_call_rates"):
            parse_rates(bad)


# ----------------------------------------------------------------------------- the queue
def test_the_queue_serves_the_earliest_due_first_and_a_last_poll_before_all() -> None:
    queue = BudgetQueue[str](0.0, fixed_rate=1.0)
    assert queue.take_now(0.0)  # the one token
    assert not queue.take_now(0.0)
    queue.enqueue("late", 0.0, due=5.0)
    queue.enqueue("early", 0.0, due=1.0)
    queue.enqueue("last-poll", 0.0, due=9.0, urgent=True)
    queue.enqueue("gone", 0.0, due=0.5)
    assert queue.withdraw("gone")
    assert not queue.take_now(10.0)  # a token is there, but others queue before any newcomer
    served = [name for t in range(1, 4) for name in queue.release(10.0 + t)]
    assert served == ["last-poll", "early", "late"]
    assert queue.queued == 0 and queue.next_release_in() is None


# ----------------------------------------------------------------------------- asyncio
KEY = BudgetKey("key test", "http://127.0.0.1", "us-east-1", "athena", "GetCalculationExecutionStatus")


def test_cancelled_and_timed_out_requests_leave_the_queue_at_once() -> None:
    async def main() -> None:
        budget = RateBudget(asyncio.get_running_loop(), KEY, fixed_rate=0.5)
        assert await budget.admit(due=0.0) is not None  # the token in hand
        loop = asyncio.get_running_loop()
        waiters = [asyncio.ensure_future(budget.admit(due=loop.time())) for _ in range(1000)]
        gave_up = await budget.admit(due=loop.time(), give_up_at=loop.time() + 0.1)
        assert gave_up is None
        assert budget.queue.queued == 1000
        for waiter in waiters:
            waiter.cancel()
        await asyncio.gather(*waiters, return_exceptions=True)
        assert budget.queue.queued == 0
        assert all(w.cancelled() for w in waiters)

    asyncio.run(main())
