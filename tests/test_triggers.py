"""Triggers: serialization round trips, absolute deadlines, one event, shared clients."""

from __future__ import annotations

import asyncio
import importlib
import time
import warnings
from unittest.mock import ANY

import pytest
from airflow.triggers.base import TaskSuccessEvent

from airflow_querystatus.clients import shared_pool
from airflow_querystatus.compat import START_FROM_TRIGGER
from airflow_querystatus.status import SPECS
from airflow_querystatus.triggers.athena import AthenaCalculationExecutionTrigger
from airflow_querystatus.triggers.base import QueryStatusTrigger
from airflow_querystatus.triggers.internet_monitor import InternetMonitorQueryTrigger
from airflow_querystatus.triggers.neptune import NeptuneOpenCypherQueryTrigger
from airflow_querystatus.triggers.network_flow_monitor import (
    NetworkFlowMonitorTopContributorsQueryTrigger,
    NetworkFlowMonitorWorkloadInsightsTopContributorsDataQueryTrigger,
)
from tests.cases import trigger_class
from tests.harness import first_event, rebuild_trigger, run_task, until_polled

#: Every test here runs triggers, whose status polls [querystatus] prepared_status_calls changes.
pytestmark = pytest.mark.prepared_sensitive

TRIGGERS: list[QueryStatusTrigger] = [
    InternetMonitorQueryTrigger(monitor_name="m-1", query_id="AQICAHjE50ADcWtUTXGTlgtIHH4U_u4xx/+="),
    NetworkFlowMonitorTopContributorsQueryTrigger(monitor_name="m.2", query_id="aecd3a88-0283-35b0-a17d"),
    NetworkFlowMonitorWorkloadInsightsTopContributorsDataQueryTrigger(scope_id="scope", query_id="q"),
    NeptuneOpenCypherQueryTrigger(
        query_id="q", endpoint_url="https://db.example:8182", fail_on_unknown_query_id=True, deadline=1.5e9
    ),
    AthenaCalculationExecutionTrigger(
        calculation_execution_id="c",
        aws_conn_id="other",
        region_name="eu-west-1",
        verify=False,
        botocore_config={"read_timeout": 5},
        poll_interval=2.5,
        max_poll_interval=30,
        transient_error_budget=60,
        deadline=1.8e9,
    ),
]

#: ...and the trigger of every other operation in the registry, with its identifiers only.
TRIGGERS += [cls(**{ident.name: "q-1" for ident in spec.identifiers}) for spec in SPECS.values()
             if (cls := trigger_class(spec)) not in {type(t) for t in TRIGGERS}]


@pytest.mark.parametrize("trigger", TRIGGERS, ids=lambda t: type(t).__name__)
def test_serialize_round_trips_to_an_equal_trigger(trigger: QueryStatusTrigger) -> None:
    classpath, kwargs = trigger.serialize()
    module, _, name = classpath.rpartition(".")
    assert getattr(importlib.import_module(module), name) is type(trigger)
    rebuilt = rebuild_trigger(trigger)
    assert rebuilt.serialize() == (classpath, kwargs)
    assert rebuilt.identifiers == trigger.identifiers and rebuilt.options == trigger.options
    assert rebuilt.deadline == trigger.deadline  # absolute: a restart keeps the original deadline


def test_serialized_kwargs_are_plain_json_values() -> None:
    import json

    for trigger in TRIGGERS:
        assert json.loads(json.dumps(trigger.serialize()[1])) == trigger.serialize()[1]


def test_rebuilt_trigger_keeps_the_deadline_it_was_given(emulator) -> None:
    """A triggerer restart rebuilds the trigger from its kwargs: the deadline does not move."""
    query = emulator.add_query("internet_monitor", {"monitor_name": "m"}, steps=["RUNNING"])
    deadline = time.time() + 2.0
    original = InternetMonitorQueryTrigger(
        monitor_name="m", query_id=query.query_id, poll_interval=0.05, max_poll_interval=0.05, deadline=deadline
    )

    async def restart_midway() -> dict:
        task = asyncio.ensure_future(first_event(original))
        await asyncio.sleep(1.0)
        task.cancel()  # the triggerer went away
        rebuilt = rebuild_trigger(original)
        event = await first_event(rebuilt, timeout=5)
        return {**event.payload, "ended": time.time()}

    payload = asyncio.run(restart_midway())
    assert payload["status"] == "timeout"
    # Ends at the original deadline (plus client set-up), not 2 s after the restart.
    assert payload["ended"] < deadline + 0.5
    assert payload["state"] == "RUNNING" and "deadline" in payload["message"]


def test_trigger_yields_exactly_one_event(emulator) -> None:
    query = emulator.add_query("athena_calculation", steps=[("RUNNING", 1), "COMPLETED"])
    trigger = AthenaCalculationExecutionTrigger(
        calculation_execution_id=query.query_id, poll_interval=0.01, max_poll_interval=0.01
    )

    async def collect() -> list:
        return [event async for event in trigger.run()]

    events = asyncio.run(collect())
    assert len(events) == 1
    payload = events[0].payload
    assert set(payload) == {"status", "state", "message", "retryable", "response", "calculation_execution_id"}
    assert payload["status"] == "success" and payload["state"] == "COMPLETED"


def test_many_triggers_share_one_client_and_release_it(emulator) -> None:
    queries = [
        emulator.add_query(
            "network_flow_monitor_top_contributors", {"monitor_name": "m"}, steps=[("RUNNING", 2), "SUCCEEDED"]
        )
        for _ in range(200)
    ]

    async def run_all() -> tuple[list[str], int, int]:
        pool = shared_pool()
        triggers = [
            NetworkFlowMonitorTopContributorsQueryTrigger(
                monitor_name="m", query_id=q.query_id, poll_interval=0.02, max_poll_interval=0.05
            )
            for q in queries
        ]
        events = await asyncio.gather(*(first_event(t) for t in triggers))
        return [e.payload["status"] for e in events], pool.clients_created, pool.open_clients

    statuses, created, still_open = asyncio.run(run_all())
    assert statuses == ["success"] * 200
    assert created == 1 and still_open == 0


def test_cancelled_triggers_release_their_client(emulator) -> None:
    queries = [emulator.add_query("athena_calculation", steps=["RUNNING"]) for _ in range(50)]

    async def cancel_all() -> tuple[int, int]:
        pool = shared_pool()
        tasks = [
            asyncio.ensure_future(
                first_event(AthenaCalculationExecutionTrigger(calculation_execution_id=q.query_id, poll_interval=0.05))
            )
            for q in queries
        ]
        await until_polled(*queries)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        return pool.clients_created, pool.open_clients

    created, still_open = asyncio.run(cancel_all())
    assert created == 1 and still_open == 0


def test_poll_interval_grows_to_its_ceiling(emulator) -> None:
    """Adaptive interval: 0.05, 0.075, 0.11, ... capped at 0.2 (within the jitter)."""
    query = emulator.add_query("internet_monitor", {"monitor_name": "m"}, steps=[("RUNNING", 12), "SUCCEEDED"])
    trigger = InternetMonitorQueryTrigger(
        monitor_name="m", query_id=query.query_id, poll_interval=0.05, max_poll_interval=0.2
    )
    started = time.time()
    asyncio.run(first_event(trigger))
    history_times = [t for s, t in query.history]
    assert query.status_calls == 13
    gaps_total = history_times[-1] - started
    # Twelve intervals at a fixed 0.05 s would be 0.6 s; growth to 0.2 s makes it far longer.
    assert gaps_total > 1.2


@pytest.mark.skipif(not START_FROM_TRIGGER.available, reason="start_from_trigger needs Airflow >= 3.3")
def test_start_from_trigger_hands_templated_ids_to_the_triggerer(emulator) -> None:
    from airflow_querystatus.sensors.neptune import NeptuneOpenCypherQuerySensor

    sensor = NeptuneOpenCypherQuerySensor(task_id="t", query_id="{{ params.q }}", endpoint_url="{{ params.e }}",
                                          deferrable=True, start_from_trigger=True, timeout=60, poll_interval=0.05,
                                          max_poll_interval=0.05)
    args = sensor.start_trigger_args
    assert sensor.start_from_trigger and args.next_method == "execute_complete"
    assert args.trigger_cls == "airflow_querystatus.triggers.neptune.NeptuneOpenCypherQueryTrigger"
    assert args.trigger_kwargs["query_id"] == "{{ params.q }}"
    assert args.trigger_kwargs["endpoint_url"] == "{{ params.e }}"
    assert args.timeout.total_seconds() == 60 and args.trigger_kwargs["deadline"] is None

    # What the triggerer does: build the trigger from the raw kwargs, then render every field
    # the task templates that the trigger has, by assigning it (airflow/triggers/base.py, 3.3).
    trigger = NeptuneOpenCypherQueryTrigger(**args.trigger_kwargs)
    rendered = {name: getattr(trigger, name) for name in sensor.template_fields
                if name in args.trigger_kwargs and hasattr(trigger, name)}
    assert {"aws_conn_id", "region_name", "verify", "query_id", "endpoint_url"} <= rendered.keys()
    query = emulator.add_query("neptune_open_cypher", steps=[("RUNNING", 1), "FINISHED"])
    rendered.update(query_id=query.query_id, endpoint_url=None, aws_conn_id="aws_default")
    for name, value in rendered.items():
        setattr(trigger, name, value)
    assert trigger.serialize()[1]["aws_conn_id"] == "aws_default"
    event = asyncio.run(first_event(trigger))
    # No callback needs a worker: the trigger ends the task itself, the answer as its XCom.
    assert isinstance(event, TaskSuccessEvent)
    assert event.xcoms == {"return_value": {"queryId": query.query_id, "state": "FINISHED",
                                            "outcomeReported": False, "lastStatus": ANY}}

    unrendered = NeptuneOpenCypherQueryTrigger(**args.trigger_kwargs)  # rendering left a template behind
    payload = asyncio.run(first_event(unrendered)).payload
    assert payload["status"] == "error" and "unrendered Jinja template" in payload["message"]


@pytest.mark.skipif(not START_FROM_TRIGGER.available, reason="start_from_trigger needs Airflow >= 3.3")
def test_a_sensor_whose_callbacks_need_a_worker_is_resumed_on_one() -> None:
    from airflow_querystatus.sensors.athena import AthenaCalculationExecutionSensor

    def common(**kwargs: object) -> AthenaCalculationExecutionSensor:
        return AthenaCalculationExecutionSensor(task_id="t", calculation_execution_id="c", deferrable=True,
                                                start_from_trigger=True, **kwargs)  # type: ignore[arg-type]

    assert common().start_trigger_args.trigger_kwargs["end_task_on_success"] is True
    with_callback = common(on_success_callback=lambda context: None)
    assert with_callback.start_trigger_args.trigger_kwargs["end_task_on_success"] is False


@pytest.mark.parametrize("steps", [["COMPLETED"], [{"state": "FAILED", "reason": "boom"}]])
def test_a_trigger_ends_the_task_itself_only_on_success(emulator, steps) -> None:
    query = emulator.add_query("athena_calculation", steps=steps)
    trigger = rebuild_trigger(AthenaCalculationExecutionTrigger(
        calculation_execution_id=query.query_id, end_task_on_success=True, poll_interval=0.05))
    event = asyncio.run(first_event(trigger))
    if steps == ["COMPLETED"]:
        assert isinstance(event, TaskSuccessEvent)
        assert event.xcoms["return_value"]["Status"]["State"] == "COMPLETED"
    else:  # the worker resumes and fails the task without retry, as in every other mode
        assert not isinstance(event, TaskSuccessEvent) and event.payload["status"] == "failure"


@pytest.mark.skipif(START_FROM_TRIGGER.available, reason="this Airflow has start_from_trigger")
def test_start_from_trigger_falls_back_to_a_normal_deferral_with_one_warning(emulator, monkeypatch) -> None:
    """Airflow 3.1/3.2 ignore the flag and 3.0 would hand the trigger unrendered templates."""
    from airflow_querystatus import compat
    from airflow_querystatus.sensors.neptune import NeptuneOpenCypherQuerySensor

    monkeypatch.setattr(compat, "_warned", set())

    def sensor(task_id: str) -> NeptuneOpenCypherQuerySensor:
        return NeptuneOpenCypherQuerySensor(task_id=task_id, query_id="{{ params.q }}", deferrable=True,
                                            start_from_trigger=True, timeout=60, poll_interval=0.05,
                                            max_poll_interval=0.05)

    with pytest.warns(UserWarning, match=r"`start_from_trigger` needs Airflow >= 3\.3\.0; this is Airflow"):
        first = sensor("first")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # once per process, not once per task
        second = sensor("second")
    for task in (first, second):
        assert not task.start_from_trigger and task.start_trigger_args is None
    # The same wait, deferred from a worker once the id is rendered.
    query = emulator.add_query("neptune_open_cypher", steps=[("RUNNING", 1), "FINISHED"])
    second.query_id = query.query_id
    run = run_task(second)
    assert run.outcome == "success" and run.deferrals == 1, run.error


def test_start_from_trigger_needs_deferrable() -> None:
    from airflow_querystatus.sensors.athena import AthenaCalculationExecutionSensor

    with pytest.raises(ValueError, match="needs `deferrable=True`"):
        AthenaCalculationExecutionSensor(task_id="t", calculation_execution_id="c", start_from_trigger=True,
                                         deferrable=False)


def _shared_client_retries(service: str, config: dict) -> dict:
    """The retry settings of the shared client a trigger with ``botocore_config=config`` gets."""
    from airflow_querystatus.clients import ClientKey, create_client_through_hook

    async def retries_of() -> dict:
        key = ClientKey.build(service, aws_conn_id="aws_default", region_name=None, botocore_config=config)
        client, close = await create_client_through_hook(key)
        try:
            return dict(client.meta.config.retries)
        finally:
            await close()

    return asyncio.run(retries_of())


def test_a_users_retries_option_merges_with_the_pools_standard_mode(emulator) -> None:
    """``botocore_config={"retries": {"total_max_attempts": 1}}`` keeps standard retries (a
    whole-dict replacement would fall back to botocore's legacy mode, which misses codes)."""
    chosen = _shared_client_retries("internetmonitor", {"retries": {"total_max_attempts": 1}})
    assert chosen["mode"] == "standard" and chosen["total_max_attempts"] == 1
    assert _shared_client_retries("internetmonitor", {})["mode"] == "standard"


def test_paced_status_calls_make_one_attempt_unless_the_user_chose_attempts(
        emulator, monkeypatch: pytest.MonkeyPatch) -> None:
    """botocore's in-call retries of a throttled call are not paced by the shared budget: with
    the budget on, a trigger's client makes one attempt (the budget retries, paced), unless the
    connection chose a number of attempts; with the budget off, the package's default of four."""
    assert _shared_client_retries("athena", {})["total_max_attempts"] == 1
    assert _shared_client_retries("athena", {"retries": {"max_attempts": 4}})["total_max_attempts"] == 5
    assert _shared_client_retries("athena", {"retries": {"total_max_attempts": 2}})["total_max_attempts"] == 2
    monkeypatch.setenv("AIRFLOW__QUERYSTATUS__RATE_BUDGET", "off")
    assert _shared_client_retries("athena", {})["total_max_attempts"] == 4  # max_attempts 3: retries


def test_adaptive_retry_mode_gives_way_to_the_shared_budget_and_keeps_the_other_retry_settings(
        emulator, caplog: pytest.LogCaptureFixture) -> None:
    """botocore's adaptive mode is one rate limiter per client; a shared client serves every
    wait of the connection, so it would queue them all (issue 30). The client keeps standard
    mode and the user's other retry settings, and one line says why."""
    with caplog.at_level("INFO", logger="airflow_querystatus.clients"):
        retries = _shared_client_retries("athena", {"retries": {"mode": "adaptive", "max_attempts": 7}})
    assert retries["mode"] == "standard" and retries["total_max_attempts"] == 8  # botocore counts the first try
    assert [r for r in caplog.records if "adaptive retry mode" in r.getMessage() and "'aws_default'" in r.getMessage()]
