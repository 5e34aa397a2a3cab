"""No secret leaves the process in logs, errors, XComs or serialized triggers; random
identifiers give a clear error or a clean request, never a path injection (issue 5)."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from airflow_querystatus.hooks.internet_monitor import InternetMonitorHook
from airflow_querystatus.polling import Outcome, StatusTracker, WaitOptions
from airflow_querystatus.status import INTERNET_MONITOR_QUERY
from tests.cases import CASE_IDS, CASES, DEFERRABLE, Case, mode_kwargs
from tests.conftest import SECRET_KEY
from tests.harness import run_task

pytestmark = pytest.mark.line_independent


# Reschedule mode runs the same poke code as poke mode (a fresh copy per poke).
@pytest.mark.parametrize("mode", ["poke", DEFERRABLE])
@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_the_connection_secret_never_appears_anywhere(case: Case, mode: str, emulator, logs) -> None:
    outcomes = [
        case.plant(emulator, case.success_steps()),
        case.plant(emulator, case.failure_steps()),
        case.plant(emulator, case.success_steps(), faults=[{"error": "AccessDeniedException", "count": 9}]),
        case.plant(emulator, case.success_steps(), faults=[{"error": "ExpiredTokenException", "count": 9}]),
    ]
    seen: list[str] = []
    for query in outcomes:
        run = run_task(case.sensor(query.query_id, **mode_kwargs(mode)))
        seen += [json.dumps(run.value), str(run.error), repr(run.error), json.dumps(run.events)]
        seen += [json.dumps(t.serialize()) + repr(t) for t in run.triggers]
    seen.append(logs())
    assert all(SECRET_KEY not in text for text in seen)
    assert all(key != SECRET_KEY for _, _, key in emulator.request_log)


_tracker_options = WaitOptions(poll_interval=1, max_poll_interval=1)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(query_id=st.text(min_size=0, max_size=80))
def test_random_query_ids_give_a_clear_error_or_reach_exactly_their_query(query_id: str, emulator) -> None:
    """Whatever the id, either validation names the argument before any call, or botocore
    sends a request that the emulator resolves to exactly the planted query (no ``..``,
    ``/``, ``?`` or ``#`` escapes into another path)."""
    try:
        identifiers = INTERNET_MONITOR_QUERY.validate({"monitor_name": "m", "query_id": query_id}, owner="prop")
    except ValueError as err:
        assert "`query_id`" in str(err)
        return
    try:
        query_id.encode("utf-8")
    except UnicodeEncodeError:
        planted = None
    else:
        planted = emulator.add_query("internet_monitor", {"monitor_name": "m"}, steps=["RUNNING"], query_id=query_id)
    tracker = StatusTracker(INTERNET_MONITOR_QUERY, identifiers, _tracker_options, aws_conn_id="aws_default")
    hook = InternetMonitorHook(config={"retries": {"total_max_attempts": 1}})
    try:
        verdict = tracker.observe(hook.get_status(INTERNET_MONITOR_QUERY, identifiers))
    except Exception as exc:
        verdict = tracker.observe_error(exc)
    if planted is None:  # cannot be encoded: a clear caller error, no request
        assert verdict.outcome is Outcome.ERROR and "query_id" in verdict.message
        return
    assert verdict.outcome is Outcome.PENDING and verdict.state == "RUNNING", verdict
    assert planted.status_calls == 1
