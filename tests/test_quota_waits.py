"""Many triggers against an account-wide quota (the emulator's token bucket): they share one
rate budget, so they are rarely throttled, every completion is seen, throttles do not spend
the waits' own error budgets or log a line per wait, and cancelling them all is prompt
(issues 29 and 30). Through the public triggers, against the emulator."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import pytest

from airflow_querystatus.triggers.athena import AthenaCalculationExecutionTrigger
from tests.harness import first_event, until_polled

pytestmark = [pytest.mark.prepared_sensitive, pytest.mark.line_independent]

OPERATION = "GetCalculationExecutionStatus"


def triggers(emulator: Any, n: int, **kwargs: Any) -> tuple[list[AthenaCalculationExecutionTrigger], list[Any]]:
    queries = [emulator.add_query("athena_calculation", steps=[{"state": "RUNNING", "seconds": 1.0 + i % 3 * 0.5},
                                                                "COMPLETED"], clock_from_first_poll=True)
               for i in range(n)]
    args = {"poll_interval": 0.3, "max_poll_interval": 0.3, "transient_error_budget": 0.5, **kwargs}
    return [AthenaCalculationExecutionTrigger(calculation_execution_id=q.query_id, **args) for q in queries], queries


def run_all(waits: list[AthenaCalculationExecutionTrigger]) -> list[dict]:
    async def go() -> list[dict]:
        return [e.payload for e in await asyncio.gather(*(first_event(t, timeout=180) for t in waits))]

    return asyncio.run(go())


def per_wait_throttle_lines(text: str) -> list[str]:
    """The tracker's own line for a throttle it counts ("...: throttled (...); backing off")."""
    return [line for line in text.splitlines() if ": throttled (" in line and "backing off" in line]


@pytest.mark.parametrize("retries", ["standard", "adaptive"])
def test_waits_sharing_a_quota_are_rarely_throttled_and_all_finish(emulator, logs, retries: str) -> None:
    """200 waits want about 660 calls a second of a 60-call quota. Each wait's transient-error
    budget (0.5 s) is far shorter than the queueing: absorbed throttles must not spend it.
    botocore's adaptive mode (one limiter per shared client) must not stall them either."""
    emulator.set_quota(OPERATION, 60, 60)
    # One attempt per call: botocore's own retries of a throttled plain call (each wait's first
    # poll, every poll with prepared calls off) are not paced by the budget (README, "Quotas").
    waits, _ = triggers(emulator, 200, botocore_config={"retries": {"mode": retries, "total_max_attempts": 1}})
    payloads = run_all(waits)
    assert Counter(p["status"] for p in payloads) == {"success": 200}, Counter(p["message"] for p in payloads)
    counts = emulator.quota_counters()[OPERATION]
    assert counts["throttled"] <= 0.10 * (counts["served"] + counts["throttled"]), counts
    assert per_wait_throttle_lines(logs()) == []


def test_without_the_budget_the_same_waits_are_mostly_throttled(emulator, logs, monkeypatch) -> None:
    """The comparison that shows the test above can fail: each wait backing off on its own is
    throttled far more, and says so once per wait."""
    monkeypatch.setenv("AIRFLOW__QUERYSTATUS__RATE_BUDGET", "off")
    emulator.set_quota(OPERATION, 60, 60)
    waits, _ = triggers(emulator, 200, transient_error_budget=600)
    payloads = run_all(waits)
    assert Counter(p["status"] for p in payloads) == {"success": 200}
    counts = emulator.quota_counters()[OPERATION]
    assert counts["throttled"] > 0.25 * (counts["served"] + counts["throttled"]), counts
    assert len(per_wait_throttle_lines(logs())) >= 50


def test_a_throttle_aimed_at_one_query_still_fails_that_wait_on_its_own_budget(emulator) -> None:
    """Nothing else answered: not congestion, so the wait's transient-error budget applies."""
    query = emulator.add_query("athena_calculation", steps=["RUNNING"],
                               faults=[{"error": "TooManyRequestsException", "count": 10_000}])
    (payload,) = run_all([AthenaCalculationExecutionTrigger(calculation_execution_id=query.query_id,
                                                            poll_interval=0.1, max_poll_interval=0.2,
                                                            transient_error_budget=0.5)])
    assert payload["status"] == "error" and payload["retryable"] is True
    assert "transient_error_budget" in payload["message"]


@pytest.mark.parametrize("retries", ["standard", "adaptive"])
def test_cancelling_a_thousand_queued_waits_ends_them_all_at_once(emulator, retries: str) -> None:
    """A 5-call quota keeps most of 1,000 waits queued for a token; cancelled, each ends at once
    and leaves nothing queued (issue 30: with adaptive mode, cancelled triggers hung for 30 s)."""
    emulator.set_quota(OPERATION, 5, 5)
    waits, queries = triggers(emulator, 1000, transient_error_budget=600,
                              botocore_config={"retries": {"mode": retries}})

    async def go() -> tuple[int, int]:
        tasks = [asyncio.ensure_future(first_event(t)) for t in waits]
        await until_polled(*queries[:5])
        for task in tasks:
            task.cancel()
        done, pending = await asyncio.wait(tasks, timeout=5)
        return len(done), len(pending)

    done, pending = asyncio.run(go())
    assert (done, pending) == (1000, 0)
