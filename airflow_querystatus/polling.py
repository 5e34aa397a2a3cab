"""The one polling engine: decide from each AWS answer whether to keep waiting, and how long.

Two pieces, used by every operation:

* :class:`StatusTracker` turns one answer (or one exception) into a :class:`Verdict`. It is
  synchronous and does no I/O, so the sensor's ``poke`` and the trigger's async loop reach
  the same verdict for the same answers.
* :func:`wait_until_done` is the async loop for triggers: poll at once, then at an adaptive,
  jittered interval, until a verdict is final or the absolute deadline passes.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
import math
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from airflow_querystatus.bounds import (
    ANSWER_GRACE,
    DEADLINE_GRACE,
    DEFAULT_CALL_TIMEOUT,
    StatusCallTimeout,
    answers_read_by,
    call_limit,
)
from airflow_querystatus.errors import CallerMistake, ErrorKind, advice, classify, is_throttle
from airflow_querystatus.jsonsafe import TRANSPORT_KEYS, to_json_safe
from airflow_querystatus.loop_timers import cutoffs, shared_wake_ups
from airflow_querystatus.outcomes import EVENT_STATUSES, Outcome, Verdict
from airflow_querystatus.status import StatusSpec

#: Re-exported: the front doors import the verdict types from the engine they use.
__all__ = ["EVENT_STATUSES", "Outcome", "Verdict"]

log = logging.getLogger(__name__)

DEFAULT_POLL_INTERVAL = 5.0
DEFAULT_MAX_POLL_INTERVAL = 60.0
DEFAULT_TRANSIENT_ERROR_BUDGET = 900.0
DEFAULT_NOT_FOUND_GRACE = 30.0
#: While transient errors last, at most one progress line per this many seconds.
PROGRESS_LOG_INTERVAL = 60.0
#: Growth of the interval after each pending answer, and after each throttled/failed call.
BACKOFF_FACTOR = 1.5
ERROR_BACKOFF_FACTOR = 2.0
#: Each sleep is the interval times a random factor in [1 - JITTER, 1 + JITTER], so that
#: thousands of triggers deferred in the same second do not poll in lock-step.
JITTER = 0.2
#: One generator for every schedule in the process (seeding one per wait costs a syscall).
_RNG = random.Random()
#: Triggers wake up on a grid of this many seconds of the event loop's clock: the polls that
#: fall due within the same 100 ms share one loop iteration and reach the connection pool
#: together, instead of one wake-up (and one emulator/AWS round of syscalls) each. Measured
#: with ``make benchmark``: about 12% less CPU at N = 1,000, loop lag p99 still under 10 ms;
#: a poll happens at most this much later than its jittered time.
WAKE_UP_GRID = 0.1


class LogSink(Protocol):
    """What the tracker needs of a logger (stdlib ``logging`` and Airflow's structlog both fit)."""

    def info(self, event: Any, *args: Any) -> Any: ...

    def warning(self, event: Any, *args: Any) -> Any: ...


class MetricsSink(Protocol):
    """What the tracker reports (:class:`~airflow_querystatus.metrics.WaitMetrics` sends it
    through Airflow's ``Stats``); passed in, so that the decision core needs no Airflow."""

    def poll(self) -> None: ...

    def transient(self, *, throttled: bool) -> None: ...

    def outcome(self, outcome: str, waited_seconds: float | None) -> None: ...


class _NoMetrics:
    def poll(self) -> None:
        pass

    def transient(self, *, throttled: bool) -> None:
        pass

    def outcome(self, outcome: str, waited_seconds: float | None) -> None:
        pass



@dataclass(frozen=True)
class WaitOptions:
    """How to wait; validated once, shared by sensors and triggers."""

    poll_interval: float = DEFAULT_POLL_INTERVAL
    max_poll_interval: float = DEFAULT_MAX_POLL_INTERVAL
    #: Seconds of unbroken throttling/transient errors tolerated before giving up (retryable).
    transient_error_budget: float = DEFAULT_TRANSIENT_ERROR_BUDGET
    #: Seconds after the first poll during which "not found" is taken for eventual consistency.
    not_found_grace: float = DEFAULT_NOT_FOUND_GRACE

    @classmethod
    def checked(cls, owner: str, **kwargs: Any) -> WaitOptions:
        """Build the options, naming ``owner`` (the task or trigger) in any complaint."""
        try:
            return cls(**kwargs)
        except ValueError as err:
            raise ValueError(f"{owner}: {err}") from None

    def __post_init__(self) -> None:
        for name in ("poll_interval", "max_poll_interval", "transient_error_budget"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < math.inf:
                raise ValueError(f"`{name}` must be a positive, finite number of seconds, got {value!r}.")
        if isinstance(self.not_found_grace, bool) or not isinstance(self.not_found_grace, (int, float)):
            raise ValueError(f"`not_found_grace` must be a number of seconds, got {self.not_found_grace!r}.")
        if self.not_found_grace < 0:
            raise ValueError(f"`not_found_grace` must not be negative, got {self.not_found_grace!r}.")
        if self.max_poll_interval < self.poll_interval:
            raise ValueError(
                f"`max_poll_interval` ({self.max_poll_interval}) must be at least "
                f"`poll_interval` ({self.poll_interval})."
            )




class StatusTracker:
    """Remembers what one wait has seen and turns each answer into a :class:`Verdict`.

    Logs a state once when it changes, never on every poll: thousands of waits in one
    triggerer must not flood its log.
    """

    def __init__(
        self,
        spec: StatusSpec,
        identifiers: Mapping[str, str],
        options: WaitOptions,
        *,
        aws_conn_id: str | None,
        seen_running: bool = False,
        extras: Mapping[str, Any] | None = None,
        logger: LogSink | None = None,
        metrics: MetricsSink | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.spec = spec
        self.identifiers = dict(identifiers)
        self.options = options
        #: The operation's own arguments (see ``StatusSpec.extras``).
        self.extras: Mapping[str, Any] = extras or {}
        self.aws_conn_id = aws_conn_id
        self.seen_running = seen_running
        self.last_state: str | None = None
        #: The last answer, without what ``last_response`` leaves out: kept from one poll to the
        #: next, so the less it holds, the less the garbage collector has to promote.
        self._last_answer: Mapping[str, Any] | None = None
        self._left_out = TRANSPORT_KEYS | spec.omitted_members
        self.polls = 0
        self._log: LogSink = logger or log
        self._clock = clock
        self._first_poll_at: float | None = None
        self._errors_since: float | None = None
        #: Errors in the current run of transient errors, and when progress was last logged.
        self._errors = 0
        self._last_progress_at = 0.0
        self._credentials_refreshed = False
        self._warned: set[str] = set()
        self._metrics: MetricsSink = metrics or _NoMetrics()

    @property
    def subject(self) -> str:
        """``Athena calculation execution (calculation_execution_id='...')``, for messages."""
        return self.spec.describe(self.identifiers)

    @property
    def last_response(self) -> dict[str, Any] | None:
        """The last successful answer, JSON-safe (converted only when a verdict needs it), without
        the members the operation leaves out (``StatusSpec.omitted_members``)."""
        return None if self._last_answer is None else to_json_safe(self._last_answer)

    # -- answers ------------------------------------------------------------------------
    def observe(self, response: Mapping[str, Any]) -> Verdict:
        """Judge a successful status answer."""
        return self._reported(self._judge_answer(response))

    def observe_error(self, exc: BaseException) -> Verdict:
        """Judge an exception raised by the status call."""
        return self._reported(self._judge_error(exc))

    def throttled(self, exc: BaseException) -> bool:
        """Whether ``exc`` is AWS throttling the call (a shared budget may absorb it)."""
        return is_throttle(exc, not_found_codes=self.spec.not_found_codes, vanished_codes=self.spec.vanished_codes)

    def timed_out(self, deadline: float) -> Verdict:
        """The verdict when the deadline (UNIX time) passed while the query was still pending."""
        return self._reported(self._timeout_verdict(deadline))

    def _reported(self, verdict: Verdict) -> Verdict:
        if verdict.done:
            waited = None if self._first_poll_at is None else self._clock() - self._first_poll_at
            self._metrics.outcome(verdict.outcome.wire, waited)
        return verdict

    def _judge_answer(self, response: Mapping[str, Any]) -> Verdict:
        self._count_poll()
        self._errors_since = None
        self._credentials_refreshed = False
        self._last_answer = {k: v for k, v in response.items() if k not in self._left_out}
        state = self.spec.read_state(response)
        if not isinstance(state, str) or not state:
            self._warn_once(
                "no-state",
                "%s: AWS answered without a state (%r); still waiting until a state appears or the "
                "timeout passes.",
                self.subject,
                state,
            )
            return Verdict(Outcome.PENDING, self.last_state, "answer had no state")
        self._log_change(state, response)
        if state in self.spec.success_states:
            return Verdict(Outcome.SUCCESS, state, f"{self.subject} reached {state}.", self.last_response)
        if state in self.spec.failure_states:
            reason = self.spec.read_reason(response)
            because = f": {reason}" if reason else " (AWS gave no reason)"
            return Verdict(Outcome.FAILURE, state, f"{self.subject} ended in state {state}{because}.",
                           self.last_response)
        self.seen_running = True
        if state not in self.spec.pending_states:
            self._warn_once(
                f"state:{state}",
                "%s: state %r is not one this provider knows (%s); treating it as still running "
                "until it becomes a known state or the timeout passes.",
                self.subject,
                state,
                ", ".join(sorted(self.spec.pending_states | self.spec.success_states | self.spec.failure_states)),
            )
        return Verdict(Outcome.PENDING, state, state)

    def _judge_error(self, exc: BaseException) -> Verdict:
        self._count_poll()
        if isinstance(exc, CallerMistake):  # ours, and it says what to do (a missing connection)
            return Verdict(Outcome.ERROR, self.last_state, f"{self.subject}: {exc}", self.last_response)
        error = classify(exc, not_found_codes=self.spec.not_found_codes, vanished_codes=self.spec.vanished_codes)
        detail = error.detail
        if error.kind is ErrorKind.VANISHED:
            return self._vanished(detail)
        if error.kind is ErrorKind.NOT_FOUND and self._within_not_found_grace():
            return self._transient(detail, "not found yet (waiting for eventual consistency)", throttled=False)
        if error.kind is ErrorKind.REJECTED_CREDENTIALS and not self._credentials_refreshed:
            self._credentials_refreshed = True
            self._log.warning("%s: AWS refused the credentials (%s); rebuilding the AWS client from %s and "
                              "polling again.", self.subject, detail, self._connection)
            return Verdict(Outcome.REBUILD_CLIENT, self.last_state, detail)
        if error.kind is ErrorKind.TRANSIENT:
            return self._transient(detail, "throttled" if error.throttled else "transient error",
                                   throttled=error.throttled)
        what_to_do = advice(error, iam_action=self.spec.iam_action, aws_conn_id=self.aws_conn_id)
        return Verdict(
            Outcome.ERROR,
            self.last_state,
            f"{self.spec.operation} for {self.subject} failed with {detail}. {what_to_do}",
            self.last_response,
        )

    def _timeout_verdict(self, deadline: float) -> Verdict:
        when = datetime.datetime.fromtimestamp(deadline, datetime.timezone.utc).isoformat(timespec="seconds")
        return Verdict(
            Outcome.TIMEOUT,
            self.last_state,
            f"Timed out waiting for {self.subject}: the deadline {when} passed with the query "
            f"still {self.last_state or 'in an unknown state'}.",
            self.last_response,
        )

    # -- helpers ------------------------------------------------------------------------
    def _count_poll(self) -> None:
        self.polls += 1
        self._metrics.poll()
        if self._first_poll_at is None:
            self._first_poll_at = self._clock()

    @property
    def _connection(self) -> str:
        return f"connection {self.aws_conn_id!r}" if self.aws_conn_id else "the default boto3 credentials"

    def _within_not_found_grace(self) -> bool:
        return self._first_poll_at is not None and self._clock() - self._first_poll_at < self.options.not_found_grace

    def _vanished(self, detail: str) -> Verdict:
        """The operation's queries vanish when they end: its quirk decides what that means."""
        quirk = self.spec.vanishes
        assert quirk is not None  # only such operations classify errors as VANISHED
        return quirk.verdict(subject=self.subject, api_ids=self.spec.api_params(self.identifiers),
                             seen_running=self.seen_running, strict=bool(self.extras.get("fail_on_unknown_query_id")),
                             detail=detail, last_answer=self.last_response, log=self._log)

    def _transient(self, detail: str, what: str, *, throttled: bool) -> Verdict:
        self._metrics.transient(throttled=throttled)
        now = self._clock()
        if self._errors_since is None:
            self._errors_since = self._last_progress_at = now
            self._errors = 1
            self._log.warning("%s: %s (%s); backing off and retrying.", self.subject, what, detail)
            return Verdict(Outcome.BACKING_OFF, self.last_state, detail)
        self._errors += 1
        if now - self._errors_since > self.options.transient_error_budget:
            return Verdict(
                Outcome.UNAVAILABLE,
                self.last_state,
                f"{self.spec.operation} for {self.subject} kept failing for "
                f"{now - self._errors_since:.0f}s (budget {self.options.transient_error_budget:g}s); "
                f"last error {detail}. AWS is throttling or unavailable: the task can be retried; "
                "raise `transient_error_budget` to wait longer.",
                self.last_response,
            )
        if now - self._last_progress_at >= PROGRESS_LOG_INTERVAL:
            self._last_progress_at = now
            left = self.options.transient_error_budget - (now - self._errors_since)
            self._log.warning("%s: still failing: %d errors in %.0fs, the last %s; %.0fs left of the transient "
                              "error budget.", self.subject, self._errors, now - self._errors_since, detail, left)
        return Verdict(Outcome.BACKING_OFF, self.last_state, detail)

    def _log_change(self, state: str, response: Mapping[str, Any]) -> None:
        if state == self.last_state:
            return
        self.last_state = state
        details = {name: read(response) for name, read in self.spec.progress.items()}
        reason = self.spec.read_reason(response)
        if reason:
            details["reason"] = reason
        shown = ", ".join(f"{k}={v}" for k, v in details.items() if v is not None)
        self._log.info("%s is %s%s", self.subject, state, f" ({shown})" if shown else "")

    def _warn_once(self, key: str, msg: str, *args: Any) -> None:
        if key not in self._warned:
            self._warned.add(key)
            self._log.warning(msg, *args)


class PollSchedule:
    """Adaptive interval: grows by ``BACKOFF_FACTOR`` per pending answer (faster after
    errors) up to ``max_poll_interval``, each sleep jittered by ±``JITTER``."""

    def __init__(self, options: WaitOptions, rng: random.Random | None = None) -> None:
        self._interval = options.poll_interval
        self._ceiling = options.max_poll_interval
        self._rng = rng or _RNG

    def next_delay(self, verdict: Verdict) -> float:
        delay = self._interval * self._rng.uniform(1 - JITTER, 1 + JITTER)
        factor = ERROR_BACKOFF_FACTOR if verdict.outcome is Outcome.BACKING_OFF else BACKOFF_FACTOR
        self._interval = min(self._interval * factor, self._ceiling)
        return delay


class StatusFetcher(Protocol):
    """One status call, plus a way to rebuild the client after credentials expire."""

    async def fetch(self) -> Mapping[str, Any]: ...

    async def refresh(self) -> None: ...


class Pacer(Protocol):
    """One wait's way into its shared rate budget (:mod:`airflow_querystatus.budget`)."""

    async def admit(self, *, due: float, urgent: bool, give_up_at: float | None) -> float | None:
        """Wait for a token (loop times); the send time, or None when ``give_up_at`` passed first."""
        ...

    def answered(self) -> None: ...

    def throttled(self, sent_at: float) -> bool:
        """True when the budget absorbs this throttle (the wait asks again at once)."""
        ...


class Lister(Protocol):
    """One wait's way to the list call that answers many waits at once (:mod:`airflow_querystatus.status_lists`)."""

    async def listed(self, *, give_up_at: float | None) -> Mapping[str, Any] | None:
        """The list's entry for this wait when it answers the poll; None: make the own status call."""
        ...


class PollLoop:
    """The decisions between polls, shared by the async (trigger) and sync (worker) drivers.

    After each verdict that is not REBUILD_CLIENT (the drivers rebuild the client and poll
    again at once), :meth:`next_step` answers: the final :class:`Verdict` to return, or the
    seconds to sleep before the next poll. The last poll happens at the deadline itself, so
    a query that finishes just before it is reported as finished rather than timed out.
    """

    def __init__(
        self,
        tracker: StatusTracker,
        deadline: float | None,
        rng: random.Random | None = None,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.tracker = tracker
        self.deadline = deadline
        self._schedule = PollSchedule(tracker.options, rng)
        self._clock = clock

    def remaining(self) -> float | None:
        """Seconds left before the deadline (None: no deadline)."""
        return None if self.deadline is None else self.deadline - self._clock()

    def next_step(self, verdict: Verdict) -> Verdict | float:
        if verdict.done:
            return verdict
        if self.deadline is None:
            return self._schedule.next_delay(verdict)
        remaining = self.deadline - self._clock()
        if remaining <= 0:
            return self.tracker.timed_out(self.deadline)
        return min(self._schedule.next_delay(verdict), remaining)


def _grid_index(delay: float, remaining: float | None, now: float) -> int | None:
    """The wake-up grid instant (its index) at which a sleep of ``delay`` seconds from loop
    time ``now`` ends, stretched by less than :data:`WAKE_UP_GRID`; None when that would pass
    the deadline (``remaining`` seconds away): the last poll happens at the deadline itself."""
    index = math.ceil((now + delay) / WAKE_UP_GRID)
    return None if remaining is not None and index * WAKE_UP_GRID - now >= remaining else index


def _sleep_on_the_grid(delay: float, remaining: float | None) -> Awaitable[None]:
    """The sleep between two polls, on the grid through the loop's shared wake-ups (one loop
    timer per grid instant, not one per wait: :mod:`airflow_querystatus.loop_timers`)."""
    index = _grid_index(delay, remaining, asyncio.get_running_loop().time())
    return asyncio.sleep(delay) if index is None else shared_wake_ups(WAKE_UP_GRID).at(index)


class _CallCutoff:
    """Cancels the calling task when its call's limit passes (through the loop's shared
    :class:`~airflow_querystatus.loop_timers.Cutoffs`, which leaves no timer behind).

    An answer read whole just before the limit is not thrown away: when the limit passes
    within :data:`~airflow_querystatus.bounds.ANSWER_GRACE` seconds after the call's last
    answer was read (parsing it, and the events after it, are all that is left), the call gets
    that much longer, once. A call whose answer is older than that (botocore sleeping before
    a retry) is cut off as any other."""

    __slots__ = ("_graced", "_shared", "answered_at", "expired", "task", "tokens")

    def __init__(self, task: asyncio.Task[Any], shared: Any) -> None:
        self.task = task
        self._shared = shared
        self.expired = False
        self.answered_at: float | None = None
        self._graced = False
        self.tokens: list[int] = []

    def answer_read(self) -> None:
        self.answered_at = asyncio.get_running_loop().time()

    def fire(self) -> None:
        if (not self._graced and self.answered_at is not None
                and asyncio.get_running_loop().time() - self.answered_at < ANSWER_GRACE):
            self._graced = True
            self.tokens.append(self._shared.arm(ANSWER_GRACE, self.fire))
            return
        self.expired = True
        self.task.cancel()


async def _bounded_fetch(fetcher: StatusFetcher, operation: str, limit: float) -> Mapping[str, Any]:
    """One status call, cut off (as :class:`StatusCallTimeout`) when ``limit`` passes.

    As ``asyncio.timeout`` does: the task is cancelled, and the cancellation is turned into
    the timeout unless someone else cancelled the task too."""
    task = asyncio.current_task()
    assert task is not None  # the engine runs in a task (the trigger's)
    cancelling = task.cancelling()
    shared = cutoffs()
    cutoff = _CallCutoff(task, shared)
    cutoff.tokens.append(shared.arm(limit, cutoff.fire))
    try:
        with answers_read_by(cutoff.answer_read):
            return await fetcher.fetch()
    except asyncio.CancelledError as err:
        if cutoff.expired and task.uncancel() <= cancelling:
            raise StatusCallTimeout(operation, limit) from err
        raise
    finally:
        for token in cutoff.tokens:
            shared.disarm(token)


async def wait_until_done(
    tracker: StatusTracker,
    fetcher: StatusFetcher,
    *,
    deadline: float | None,
    call_timeout: float = DEFAULT_CALL_TIMEOUT,
    rng: random.Random | None = None,
    pacer: Pacer | None = None,
    lister: Lister | None = None,
) -> Verdict:
    """Poll asynchronously until a final verdict or until ``deadline`` (UNIX time) passes.

    Each call is bounded by :func:`~airflow_querystatus.bounds.call_limit`, so whatever the
    endpoint does, the final verdict comes within a few seconds of the deadline. With a
    ``pacer``, each call first waits for its shared rate budget's token (not counted in the
    call's limit), and throttles the budget absorbs are polled again without reaching the
    tracker. With a ``lister``, each poll but the last first asks the list call its wait shares
    with others, and makes its own call only when the list does not answer it.
    """
    loop = PollLoop(tracker, deadline, rng)
    while True:
        verdict = await _poll(tracker, fetcher, loop, call_timeout, pacer, lister)
        if verdict.outcome is Outcome.REBUILD_CLIENT:
            await fetcher.refresh()
            continue
        step = loop.next_step(verdict)
        if isinstance(step, Verdict):
            return step
        del verdict  # nothing of this poll stays alive across the sleep but the tracker's answer
        await _sleep_on_the_grid(step, loop.remaining())


async def _poll(tracker: StatusTracker, fetcher: StatusFetcher, loop: PollLoop, call_timeout: float,
                pacer: Pacer | None, lister: Lister | None) -> Verdict:
    """One poll's verdict: the shared list's entry (if any answers), else a token from the budget
    (if any), then the bounded call."""
    operation = tracker.spec.operation
    if lister is not None:
        remaining = loop.remaining()
        if remaining is None or remaining > WAKE_UP_GRID:  # the last poll is the wait's own call
            clock = asyncio.get_running_loop().time
            entry = await lister.listed(give_up_at=None if remaining is None else clock() + remaining)
            if entry is not None:
                return tracker.observe(entry)
    if pacer is None:
        try:
            # No local keeps the answer: only the tracker's copy lives on across the sleep.
            return tracker.observe(await _bounded_fetch(fetcher, operation, call_limit(call_timeout, loop.remaining())))
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # every error is classified; none is swallowed
            return tracker.observe_error(exc)
    clock = asyncio.get_running_loop().time
    due = clock()
    remaining = loop.remaining()
    #: The last poll (at the deadline) goes before every other poll of its budget.
    urgent = remaining is not None and remaining <= WAKE_UP_GRID
    while True:
        remaining = loop.remaining()
        sent_at: float | None = None
        try:  # finding the budget makes the client: a missing connection is the tracker's to judge
            if urgent:  # a last poll waits a few seconds at most, then goes without a token
                sent_at = await pacer.admit(due=due, urgent=True, give_up_at=clock() + DEADLINE_GRACE) or clock()
            else:
                give_up_at = None if remaining is None else clock() + max(remaining, 0.0)
                admitted = await pacer.admit(due=due, urgent=False, give_up_at=give_up_at)
                if admitted is None:  # the deadline passed while queued: this is the last poll
                    urgent = True
                    continue
                sent_at = admitted
            response = await _bounded_fetch(fetcher, operation, call_limit(call_timeout, loop.remaining()))
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # every error is classified; none is swallowed
            remaining = loop.remaining()
            if (sent_at is not None and (remaining is None or remaining > 0) and tracker.throttled(exc)
                    and pacer.throttled(sent_at)):
                continue
            return tracker.observe_error(exc)
        pacer.answered()
        return tracker.observe(response)


def wait_until_done_sync(
    tracker: StatusTracker,
    fetch: Callable[[float | None], Mapping[str, Any]],
    refresh: Callable[[], None],
    *,
    deadline: float | None,
    rng: random.Random | None = None,
) -> Verdict:
    """The same loop for a worker that waits in place (non-deferrable operators).

    ``fetch`` is given the seconds left before the deadline, to bound its call by.
    """
    loop = PollLoop(tracker, deadline, rng)
    while True:
        try:
            verdict = tracker.observe(fetch(loop.remaining()))
        except Exception as exc:  # every error is classified; none is swallowed
            verdict = tracker.observe_error(exc)
        if verdict.outcome is Outcome.REBUILD_CLIENT:
            refresh()
            continue
        step = loop.next_step(verdict)
        if isinstance(step, Verdict):
            return step
        time.sleep(step)
