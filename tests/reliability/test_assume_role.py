"""Assume-role credentials that expire during a long wait (issue 5): the wait goes on."""

from __future__ import annotations

import asyncio

import pytest

from airflow_querystatus.triggers.internet_monitor import InternetMonitorQueryTrigger
from tests.harness import first_event

#: Every test here runs triggers, whose status polls [querystatus] prepared_status_calls changes.
pytestmark = [pytest.mark.prepared_sensitive, pytest.mark.line_independent]


def run_one(trigger) -> dict:  # type: ignore[no-untyped-def]
    return asyncio.run(first_event(trigger, timeout=60)).payload


@pytest.mark.usefixtures("assume_role_connection")
def test_credentials_that_expire_during_the_wait_are_replaced_without_failing(emulator) -> None:
    """The emulator stops accepting each assumed key after 1 s while announcing an hour:
    the wait sees ExpiredTokenException, rebuilds its client (a new AssumeRole), goes on."""
    emulator.sts_key_lifetime = 1.0
    query = emulator.add_query("internet_monitor", {"monitor_name": "m"}, steps=[("RUNNING", 12), "SUCCEEDED"])
    start = len(emulator.request_log)
    payload = run_one(InternetMonitorQueryTrigger(
        monitor_name="m", query_id=query.query_id, poll_interval=0.4, max_poll_interval=0.4,
        botocore_config={"retries": {"total_max_attempts": 1}},
    ))
    assert payload["status"] == "success", payload
    keys = {key for _, op, key in emulator.request_log[start:] if op == "get_query_status"}
    assert len(keys) >= 3 and all(k.startswith("ASIAEMULATOR") for k in keys)  # assumed, and replaced


@pytest.mark.usefixtures("assume_role_connection")
def test_credentials_near_expiry_are_refreshed_by_botocore_before_they_expire(emulator) -> None:
    """Keys announced to expire within botocore's refresh window (15 min) are refreshed
    through the amazon provider's refreshable credentials, without any error."""
    emulator.sts_announced_duration = 11 * 60
    query = emulator.add_query("internet_monitor", {"monitor_name": "m"}, steps=[("RUNNING", 4), "SUCCEEDED"])
    start = len(emulator.request_log)
    payload = run_one(InternetMonitorQueryTrigger(monitor_name="m", query_id=query.query_id, poll_interval=0.1,
                                                  max_poll_interval=0.1))
    assert payload["status"] == "success", payload
    log = emulator.request_log[start:]
    assert sum(1 for _, op, _ in log if op == "sts_assumerole") >= 2  # refreshed during the wait
    assert len({key for _, op, key in log if op == "get_query_status"}) >= 2
