"""Status from list calls (issue 29): many triggers of one connection share one list call a
second (Logs' DescribeQueries, Neptune's ListOpenCypherQueries) instead of each polling its
own status call, and fall back to their own calls for whatever the list does not answer.
Through the public triggers, against the emulator; each API's calls counted by the emulator."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import pytest

from airflow_querystatus.status_lists import MIN_WAITS
from airflow_querystatus.triggers.logs import CloudWatchLogsInsightsQueryTrigger
from airflow_querystatus.triggers.neptune import NeptuneOpenCypherQueryTrigger
from tests.harness import first_event

pytestmark = [pytest.mark.prepared_sensitive, pytest.mark.line_independent]

FAST = {"poll_interval": 0.3, "max_poll_interval": 0.3}


def logs_waits(emulator: Any, n: int, *, seconds: float = 1.5,
               **kwargs: Any) -> list[CloudWatchLogsInsightsQueryTrigger]:
    queries = [emulator.add_query("logs_insights_query", steps=[{"state": "Running", "seconds": seconds + i % 4 * 0.25},
                                                                 "Complete"])
               for i in range(n)]
    return [CloudWatchLogsInsightsQueryTrigger(query_id=q.query_id, **{**FAST, **kwargs}) for q in queries]


def run_all(waits: list[Any], timeout: float = 120) -> list[dict]:
    async def go() -> list[dict]:
        return [e.payload for e in await asyncio.gather(*(first_event(t, timeout=timeout) for t in waits))]

    return asyncio.run(go())


def calls(emulator: Any, operation: str) -> int:
    counted = emulator.quota_counters().get(operation, {"served": 0, "throttled": 0})
    return counted["served"] + counted["throttled"]


def test_logs_waits_are_answered_by_one_describe_queries_call_a_second(emulator) -> None:
    """40 waits polling every 0.3 s for about 2 s would make about 270 GetQueryResults calls;
    the list answers them all, their completions included (its entries carry the status)."""
    payloads = run_all(logs_waits(emulator, 40))
    assert Counter(p["status"] for p in payloads) == {"success": 40}, Counter(p["message"] for p in payloads)
    assert {p["response"]["status"] for p in payloads} == {"Complete"}
    assert {p["response"]["queryId"] for p in payloads} == {p["query_id"] for p in payloads}
    # Only the first polls of the first waits, before ten of them had started, were their own.
    assert calls(emulator, "GetQueryResults") < MIN_WAITS
    assert 1 <= calls(emulator, "DescribeQueries") <= 10


def test_lists_beat_a_status_quota_that_own_calls_could_not(emulator) -> None:
    """GetQueryResults allows 1 call a second: 150 waits polling their own calls would need
    150 s to see every completion once. With the list (itself 2 calls a second) they all end
    within seconds of completing; the timeout leaves far too little for own calls."""
    emulator.set_quota("GetQueryResults", 1, 1)
    emulator.set_quota("DescribeQueries", 2, 2)
    payloads = run_all(logs_waits(emulator, 150, seconds=2.0), timeout=40)
    assert Counter(p["status"] for p in payloads) == {"success": 150}


def test_below_ten_waits_each_polls_its_own_status_call(emulator) -> None:
    """``auto``: a few waits make few calls, and their own answers are complete (statistics)."""
    payloads = run_all(logs_waits(emulator, 3, seconds=0.5))
    assert Counter(p["status"] for p in payloads) == {"success": 3}
    assert calls(emulator, "DescribeQueries") == 0
    assert calls(emulator, "GetQueryResults") >= 3
    assert all("statistics" in p["response"] for p in payloads)


@pytest.mark.parametrize(("mode", "lists"), [("always", True), ("off", False)])
def test_the_setting_turns_lists_on_from_one_wait_or_off(emulator, monkeypatch, mode: str, lists: bool) -> None:
    monkeypatch.setenv("AIRFLOW__QUERYSTATUS__STATUS_LISTS", mode)
    n = 1 if lists else 20
    payloads = run_all(logs_waits(emulator, n, seconds=0.5))
    assert Counter(p["status"] for p in payloads) == {"success": n}
    assert (calls(emulator, "DescribeQueries") > 0) is lists
    assert (calls(emulator, "GetQueryResults") == 0) is lists


def test_a_wrong_setting_fails_the_wait_saying_what_is_allowed(emulator, monkeypatch) -> None:
    monkeypatch.setenv("AIRFLOW__QUERYSTATUS__STATUS_LISTS", "sometimes")
    with pytest.raises(ValueError, match=r"status_lists.*auto, always, off.*'sometimes'"):
        run_all(logs_waits(emulator, 1))


def test_a_connection_that_may_not_list_polls_its_own_calls_after_one_warning(emulator, logs) -> None:
    emulator.add_global_faults([{"error": "AccessDeniedException", "message": "not allowed",
                                 "operations": ["describe_queries"], "count": 1000}])
    payloads = run_all(logs_waits(emulator, 20))
    assert Counter(p["status"] for p in payloads) == {"success": 20}
    assert calls(emulator, "GetQueryResults") >= 20
    warnings = [line for line in logs().splitlines() if "DescribeQueries" in line or "describe_queries" in line]
    assert len(warnings) == 1, warnings
    assert "logs:DescribeQueries" in warnings[0] and "AccessDeniedException" in warnings[0]


def test_a_failed_round_sends_its_polls_to_their_own_calls_and_the_list_is_used_again(emulator) -> None:
    emulator.add_global_faults([{"error": "ServiceUnavailableException", "http_status": 503,
                                 "operations": ["describe_queries"], "count": 1}])
    payloads = run_all(logs_waits(emulator, 20, seconds=2.0))
    assert Counter(p["status"] for p in payloads) == {"success": 20}
    # The first waits' first polls (before ten had started) and the failed round's polls went
    # to GetQueryResults; every later poll was answered by the list again (a wait polls about
    # ten times in these 2.5 s: 200 own calls if the list had stayed unused).
    assert calls(emulator, "GetQueryResults") <= MIN_WAITS + 20
    assert calls(emulator, "DescribeQueries") >= 2


def test_neptune_waits_list_running_queries_and_read_each_end_from_its_own_call(emulator) -> None:
    """A finished Neptune query is absent from the list: each wait makes one status call for
    its end (the vanish quirk), and every poll while it runs is answered by the list."""
    queries = [emulator.add_query("neptune_open_cypher_query", steps=[{"state": "RUNNING", "seconds": 1.5}, "FINISHED"])
               for _ in range(20)]
    waits = [NeptuneOpenCypherQueryTrigger(query_id=q.query_id, **FAST) for q in queries]
    payloads = run_all(waits)
    assert Counter((p["status"], p["state"]) for p in payloads) == {("success", "FINISHED"): 20}
    assert calls(emulator, "ListOpenCypherQueries") >= 1
    assert calls(emulator, "GetOpenCypherQueryStatus") <= 2 * 20
