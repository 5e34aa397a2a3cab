"""The decision core with a fake clock: every branch of the tracker and of the poll schedule.

No emulator, no sleeping: each test drives :class:`StatusTracker`, :class:`PollSchedule` and
:class:`PollLoop` directly, so they are fast and deterministic.
"""

from __future__ import annotations

import asyncio
import logging
import random
import subprocess
import sys
import time

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from airflow_querystatus.polling import (
    BACKOFF_FACTOR,
    ERROR_BACKOFF_FACTOR,
    JITTER,
    WAKE_UP_GRID,
    Outcome,
    PollLoop,
    PollSchedule,
    StatusTracker,
    Verdict,
    WaitOptions,
    _grid_index,
    wait_until_done,
)
from airflow_querystatus.status import (
    ATHENA_CALCULATION_EXECUTION,
    INTERNET_MONITOR_QUERY,
    NEPTUNE_OPEN_CYPHER_QUERY,
    StatusSpec,
)

pytestmark = pytest.mark.line_independent

IDS = {"monitor_name": "m", "query_id": "q"}


class Clock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def error(code: str, status: int = 400) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": f"{code}!"},
                        "ResponseMetadata": {"HTTPStatusCode": status}}, "GetQueryStatus")


def tracker(spec: StatusSpec = INTERNET_MONITOR_QUERY, ids: dict[str, str] = IDS, clock: Clock | None = None,
            **kwargs: object) -> StatusTracker:
    options = WaitOptions(poll_interval=1, max_poll_interval=8, transient_error_budget=10, not_found_grace=5)
    return StatusTracker(spec, ids, options, aws_conn_id="aws_default", clock=clock or Clock(),
                         logger=logging.getLogger("test"), **kwargs)  # type: ignore[arg-type]


# -- answers ---------------------------------------------------------------------------------
def test_success_failure_pending_and_reason() -> None:
    t = tracker()
    assert t.observe({"Status": "RUNNING"}).outcome is Outcome.PENDING and t.seen_running
    done = t.observe({"Status": "SUCCEEDED"})
    assert done.outcome is Outcome.SUCCESS and done.response == {"Status": "SUCCEEDED"}
    athena = tracker(ATHENA_CALCULATION_EXECUTION, {"calculation_execution_id": "c"})
    failed = athena.observe({"Status": {"State": "FAILED", "StateChangeReason": "boom"}})
    assert failed.outcome is Outcome.FAILURE and failed.message.endswith("FAILED: boom.")
    bare = tracker().observe({"Status": "CANCELED"})
    assert "(AWS gave no reason)" in bare.message


def test_unknown_state_and_missing_state_keep_waiting_and_warn_once(caplog) -> None:
    t = tracker()
    for _ in range(3):
        assert t.observe({"Status": "REBALANCING"}).outcome is Outcome.PENDING
        assert t.observe({}).outcome is Outcome.PENDING
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2


# -- not-found grace -----------------------------------------------------------------------
def test_not_found_is_pending_within_the_grace_and_an_error_after_it() -> None:
    clock = Clock()
    t = tracker(clock=clock)
    first = t.observe_error(error("ResourceNotFoundException", 404))
    assert first.outcome is Outcome.BACKING_OFF and not first.done
    clock.now += 4.999
    assert t.observe_error(error("ResourceNotFoundException", 404)).outcome is Outcome.BACKING_OFF
    clock.now += 0.001  # exactly at the grace: no longer eventual consistency
    late = t.observe_error(error("ResourceNotFoundException", 404))
    assert late.outcome is Outcome.ERROR and not late.retryable


# -- transient budget ----------------------------------------------------------------------
def test_transient_errors_are_pending_until_the_budget_then_retryable() -> None:
    clock = Clock()
    t = tracker(clock=clock)
    assert t.observe_error(error("ThrottlingException", 429)).outcome is Outcome.BACKING_OFF
    clock.now += 10  # at the budget: still tolerated
    assert t.observe_error(EndpointConnectionError(endpoint_url="x")).outcome is Outcome.BACKING_OFF
    clock.now += 0.001
    over = t.observe_error(error("InternalServerException", 500))
    assert over.outcome is Outcome.UNAVAILABLE and over.done and over.retryable and "budget 10s" in over.message


@pytest.mark.parametrize("code", ["BandwidthLimitExceeded", "TransactionInProgressException", "RequestThrottled",
                                  "LimitExceededException"])
def test_every_code_botocore_calls_throttling_is_waited_out_with_status_400(code: str) -> None:
    """botocore's standard retry mode lists these; a 400 with such a code is not a caller error."""
    verdict = tracker().observe_error(error(code, 400))
    assert verdict.outcome is Outcome.BACKING_OFF


def test_a_400_that_is_not_throttling_is_the_callers_mistake() -> None:
    assert tracker().observe_error(error("ValidationException", 400)).outcome is Outcome.ERROR


def test_a_good_answer_resets_the_budget() -> None:
    clock = Clock()
    t = tracker(clock=clock)
    t.observe_error(error("ThrottlingException", 429))
    clock.now += 9
    t.observe({"Status": "RUNNING"})
    clock.now += 9
    assert t.observe_error(error("ThrottlingException", 429)).outcome is Outcome.BACKING_OFF
    clock.now += 9
    assert t.observe_error(error("ThrottlingException", 429)).outcome is Outcome.BACKING_OFF


def test_expired_credentials_refresh_once_then_fail() -> None:
    t = tracker()
    assert t.observe_error(error("ExpiredTokenException", 403)).outcome is Outcome.REBUILD_CLIENT
    again = t.observe_error(error("ExpiredTokenException", 403))
    assert again.outcome is Outcome.ERROR and "expired" in again.message


@pytest.mark.parametrize("code", ["UnrecognizedClientException", "InvalidClientTokenId", "InvalidSignatureException",
                                  "SignatureDoesNotMatch", "AuthFailure"])
def test_refused_credentials_rebuild_the_client_once_then_fail_naming_the_connection(code: str) -> None:
    """A rotated or deactivated key: the client is rebuilt from the connection (which holds the
    new key) and polled again; only a second refusal in a row ends the wait."""
    t = tracker()
    assert t.observe_error(error(code, 403)).outcome is Outcome.REBUILD_CLIENT
    assert t.observe({"Status": "RUNNING"}).outcome is Outcome.PENDING  # the fresh client works
    assert t.observe_error(error(code, 403)).outcome is Outcome.REBUILD_CLIENT  # a later rotation is survived too
    again = t.observe_error(error(code, 403))
    assert again.outcome is Outcome.ERROR and not again.retryable
    assert "'aws_default'" in again.message and "rotated" in again.message


def test_transient_errors_log_progress_at_most_once_a_minute(caplog) -> None:
    clock = Clock()
    options = WaitOptions(poll_interval=1, max_poll_interval=8, transient_error_budget=600)
    t = StatusTracker(INTERNET_MONITOR_QUERY, IDS, options, aws_conn_id="aws_default", clock=clock,
                      logger=logging.getLogger("test"))
    caplog.set_level(logging.WARNING)
    for _ in range(50):  # 250 s of errors, one every 5 s
        assert t.observe_error(error("ServiceUnavailableException", 503)).outcome is Outcome.BACKING_OFF
        clock.now += 5
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 + 4  # the first error, then one line a minute
    assert "still failing: 13 errors in 60s" in warnings[1]
    assert "ServiceUnavailableException" in warnings[1] and "540s left" in warnings[1]
    t.observe({"Status": "RUNNING"})  # the run of errors ends: the next one starts a new run
    caplog.clear()
    t.observe_error(error("ThrottlingException", 429))
    assert next(r.getMessage() for r in caplog.records).endswith("backing off and retrying.")


def test_caller_errors_fail_at_once_naming_the_iam_action() -> None:
    denied = tracker().observe_error(error("AccessDeniedException", 403))
    assert denied.outcome is Outcome.ERROR and "internetmonitor:GetQueryStatus" in denied.message


# -- a finished query vanishes ---------------------------------------------------------------
@pytest.mark.parametrize(("seen", "strict", "outcome"), [
    (True, False, Outcome.SUCCESS), (True, True, Outcome.SUCCESS),
    (False, False, Outcome.SUCCESS), (False, True, Outcome.ERROR),
])
def test_vanished_ids(seen: bool, strict: bool, outcome: Outcome) -> None:
    t = tracker(NEPTUNE_OPEN_CYPHER_QUERY, {"query_id": "q"}, extras={"fail_on_unknown_query_id": strict})
    if seen:
        assert t.observe({"queryEvalStats": {"cancelled": False}}).state == "RUNNING"
    verdict = t.observe_error(error("InvalidParameterException"))
    assert verdict.outcome is outcome
    if outcome is Outcome.SUCCESS:
        assert verdict.response is not None and verdict.response["outcomeReported"] is False


def test_a_cancelled_listing_is_a_failure() -> None:
    t = tracker(NEPTUNE_OPEN_CYPHER_QUERY, {"query_id": "q"})
    assert t.observe({"queryEvalStats": {"cancelled": True}}).outcome is Outcome.FAILURE


# -- the schedule ------------------------------------------------------------------------------
class Edge(random.Random):
    """Jitter at one of its bounds."""

    def __init__(self, at: float) -> None:
        super().__init__(0)
        self.at = at

    def uniform(self, a: float, b: float) -> float:
        return a if self.at < 0 else b


PENDING = Verdict(Outcome.PENDING, "RUNNING", "")
ERRORED = Verdict(Outcome.BACKING_OFF, None, "")


def test_interval_grows_by_its_factor_to_the_cap() -> None:
    schedule = PollSchedule(WaitOptions(poll_interval=1, max_poll_interval=3), Edge(-1))
    delays = [schedule.next_delay(PENDING) for _ in range(5)]
    lower = 1 - JITTER
    assert delays == pytest.approx([lower, lower * BACKOFF_FACTOR, lower * BACKOFF_FACTOR**2, 3 * lower, 3 * lower])


def test_errors_back_off_faster_and_are_capped_too() -> None:
    schedule = PollSchedule(WaitOptions(poll_interval=1, max_poll_interval=3), Edge(+1))
    upper = 1 + JITTER
    assert [schedule.next_delay(ERRORED) for _ in range(3)] == pytest.approx(
        [upper, upper * ERROR_BACKOFF_FACTOR, 3 * upper])


def test_jitter_stays_within_its_bounds() -> None:
    schedule = PollSchedule(WaitOptions(poll_interval=2, max_poll_interval=2), random.Random(7))
    delays = [schedule.next_delay(PENDING) for _ in range(1000)]
    assert min(delays) >= 2 * (1 - JITTER) and max(delays) <= 2 * (1 + JITTER)
    assert max(delays) - min(delays) > 0.5  # really jittered


# -- the loop's decisions and the deadline ---------------------------------------------------
def test_final_verdicts_end_the_loop() -> None:
    loop = PollLoop(tracker(), deadline=None, rng=Edge(-1))
    done = Verdict(Outcome.SUCCESS, "SUCCEEDED", "")
    assert loop.next_step(done) is done
    assert loop.next_step(PENDING) == pytest.approx(1 - JITTER)  # no deadline: the schedule alone


def test_the_last_sleep_ends_at_the_deadline_and_then_it_times_out() -> None:
    clock = Clock(5000.0)
    t = tracker()
    t.observe({"Status": "RUNNING"})
    loop = PollLoop(t, deadline=5000.5, rng=Edge(+1), clock=clock)
    assert loop.next_step(PENDING) == pytest.approx(0.5)  # clipped to what is left
    clock.now = 5000.5  # exactly at the deadline: the poll there was the last one
    timeout = loop.next_step(PENDING)
    assert isinstance(timeout, Verdict) and timeout.outcome is Outcome.TIMEOUT
    assert "still RUNNING" in timeout.message and "deadline" in timeout.message


def test_wake_ups_land_on_the_grid_but_never_after_the_deadline() -> None:
    """Polls due within the same grid step share one loop iteration; the deadline's own poll
    is never pushed past the deadline."""

    for now in (0.0, 12345.678, 98765.4321):
        for delay in (0.01, 0.37, 2.0, 59.99):
            index = _grid_index(delay, None, now)
            assert index is not None
            assert delay <= index * WAKE_UP_GRID - now < delay + WAKE_UP_GRID + 1e-6
        assert _grid_index(0.37, 0.37, now) is None  # the poll at the deadline itself, not on the grid
        index = _grid_index(0.37, 10.0, now)
        assert index is not None and index * WAKE_UP_GRID - now >= 0.37


class _ScriptedFetcher:
    """The network boundary, scripted: each fetch sleeps, raises or answers in turn."""

    def __init__(self, *steps: object) -> None:
        self.steps = list(steps)
        self.calls = 0

    async def fetch(self) -> dict[str, str]:
        self.calls += 1
        step = self.steps.pop(0) if len(self.steps) > 1 else self.steps[0]
        if isinstance(step, float):
            await asyncio.sleep(step)  # longer than any limit: never answers in time
            return {"Status": "RUNNING"}
        if isinstance(step, BaseException):
            raise step
        assert isinstance(step, dict)
        return step

    async def refresh(self) -> None:
        pass


def test_a_call_over_its_limit_is_cut_off_as_a_transient_error(caplog) -> None:
    """A call that outlives its limit is a transient error naming the limit; one that ends in a
    timeout of its own (the HTTP stack's) keeps its own message. The wait goes on and succeeds."""
    fetcher = _ScriptedFetcher(3600.0, TimeoutError("read timed out"), {"Status": "SUCCEEDED"})
    t = StatusTracker(INTERNET_MONITOR_QUERY, IDS,
                      WaitOptions(poll_interval=0.01, max_poll_interval=0.01, transient_error_budget=60),
                      aws_conn_id="aws_default", logger=logging.getLogger("test"))
    caplog.set_level(logging.WARNING)
    started = time.monotonic()
    verdict = asyncio.run(wait_until_done(t, fetcher, deadline=None, call_timeout=0.2))
    assert verdict.outcome is Outcome.SUCCESS and fetcher.calls == 3
    assert time.monotonic() - started < 5
    warnings = " ".join(r.getMessage() for r in caplog.records)
    assert "get_query_status did not answer within 0.2s" in warnings


def test_the_last_call_is_bounded_by_the_deadline_plus_a_grace() -> None:
    from airflow_querystatus.bounds import DEADLINE_GRACE, call_limit

    assert call_limit(30.0, None) == 30.0
    assert call_limit(30.0, 100.0) == 30.0
    assert call_limit(30.0, 1.0) == 1.0 + DEADLINE_GRACE
    assert call_limit(30.0, -5.0) == DEADLINE_GRACE  # past the deadline: only the grace


# -- the event on the wire ---------------------------------------------------------------------
@pytest.mark.parametrize("outcome", [o for o in Outcome if o.done], ids=lambda o: o.value)
def test_every_final_outcome_survives_the_trigger_event(outcome: Outcome) -> None:
    verdict = Verdict(outcome, "S", "m", {"a": 1})
    payload = verdict.event_payload({"query_id": "q"})
    assert Verdict.from_event(payload) == verdict and payload["query_id"] == "q"


def test_unavailable_travels_as_a_retryable_error_so_older_workers_understand_it() -> None:
    payload = Verdict(Outcome.UNAVAILABLE, None, "m").event_payload({})
    assert payload["status"] == "error" and payload["retryable"] is True
    old_style = {"status": "error", "state": None, "message": "m", "retryable": False, "response": None}
    assert Verdict.from_event(old_style).outcome is Outcome.ERROR


def test_the_decision_core_imports_without_airflow() -> None:
    """Side effects (logging, metrics) are passed in: the core is usable, and testable, alone."""
    code = (
        "import builtins, sys\n"
        "real = builtins.__import__\n"
        "def guard(name, *args, **kwargs):\n"
        "    if name.split('.')[0] == 'airflow':\n"
        "        raise ImportError('the decision core imported ' + name)\n"
        "    return real(name, *args, **kwargs)\n"
        "builtins.__import__ = guard\n"
        "import airflow_querystatus.polling\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, timeout=60)


def test_omitted_members_are_left_out_of_every_final_verdict_response() -> None:
    """``StatusSpec.omitted_members`` (result rows in a status answer) never reach a sensor's XCom,
    a trigger event or a log line; the rest of the answer does."""
    import dataclasses

    spec = dataclasses.replace(INTERNET_MONITOR_QUERY, omitted_members=frozenset({"Rows"}))
    rows = [[{"field": "f", "value": str(i)}] for i in range(1000)]
    t = tracker(spec)
    assert t.observe({"Status": "RUNNING", "Rows": rows[:10]}).outcome is Outcome.PENDING
    done = t.observe({"Status": "SUCCEEDED", "Rows": rows, "Statistics": {"n": 1000.0}})
    assert done.response == {"Status": "SUCCEEDED", "Statistics": {"n": 1000.0}}
    assert "Rows" not in done.event_payload(IDS)["response"]
    failed = tracker(spec).observe({"Status": "FAILED", "Rows": rows})
    assert failed.response == {"Status": "FAILED"}
    # Without the declaration the answer is returned whole.
    assert tracker().observe({"Status": "SUCCEEDED", "Rows": rows[:1]}).response == {
        "Status": "SUCCEEDED", "Rows": rows[:1]}
