"""Bad input fails before any AWS call, naming the argument."""

from __future__ import annotations

import pytest

from airflow_querystatus.sensors.athena import AthenaCalculationExecutionSensor
from airflow_querystatus.sensors.internet_monitor import InternetMonitorQuerySensor
from airflow_querystatus.sensors.neptune import NeptuneOpenCypherQuerySensor
from airflow_querystatus.triggers.internet_monitor import InternetMonitorQueryTrigger
from airflow_querystatus.triggers.network_flow_monitor import (
    NetworkFlowMonitorWorkloadInsightsTopContributorsDataQueryTrigger,
)
from tests.harness import run_sensor


@pytest.mark.parametrize(
    ("kwargs", "complaint"),
    [
        ({"monitor_name": "", "query_id": "q"}, "`monitor_name` must be a non-empty string"),
        ({"monitor_name": "  ", "query_id": "q"}, "`monitor_name` must be a non-empty string"),
        ({"monitor_name": None, "query_id": "q"}, "`monitor_name` must be a non-empty string"),
        ({"monitor_name": "m", "query_id": 42}, "`query_id` must be a non-empty string"),
        ({"monitor_name": "m", "query_id": b"q"}, "`query_id` must be a non-empty string"),
        ({"monitor_name": "bad/name", "query_id": "q"}, "does not match the pattern"),
        ({"monitor_name": "m" * 256, "query_id": "q"}, "at most 255"),
        ({"monitor_name": "m", "query_id": "q", "poll_interval": 0}, "`poll_interval` must be a positive"),
        ({"monitor_name": "m", "query_id": "q", "poll_interval": -1}, "`poll_interval` must be a positive"),
        ({"monitor_name": "m", "query_id": "q", "max_poll_interval": 1, "poll_interval": 2}, "`max_poll_interval`"),
        ({"monitor_name": "m", "query_id": "q", "transient_error_budget": 0}, "`transient_error_budget`"),
        ({"monitor_name": "m", "query_id": "q", "timeout": 1, "poll_interval": 5}, "`timeout` (1s) is shorter"),
    ],
)
def test_sensor_rejects_bad_arguments_at_parse_time(kwargs: dict, complaint: str) -> None:
    with pytest.raises(ValueError, match="wait_im") as err:
        InternetMonitorQuerySensor(task_id="wait_im", **kwargs)
    assert complaint in str(err.value)


def test_athena_id_longer_than_the_model_allows_is_rejected() -> None:
    with pytest.raises(ValueError, match="at most 36"):
        AthenaCalculationExecutionSensor(task_id="t", calculation_execution_id="x" * 37)


def test_templated_identifiers_are_checked_after_rendering(emulator) -> None:
    """A template passes parse time; if it renders to nothing usable, execute says so."""
    calls_before = sum(emulator.requests.values())
    sensor = InternetMonitorQuerySensor(
        task_id="t", monitor_name="{{ params.monitor }}", query_id="{{ ti.xcom_pull('start') }}", deferrable=True
    )
    assert {"monitor_name", "query_id"} <= set(sensor.template_fields)
    run = run_sensor(sensor)  # not rendered by the harness: the Jinja text reaches execute
    assert isinstance(run.error, ValueError) and "unrendered Jinja template" in str(run.error)
    assert sum(emulator.requests.values()) == calls_before  # no AWS call was made


def test_rendered_empty_identifier_fails_before_any_call(emulator) -> None:
    sensor = NeptuneOpenCypherQuerySensor(task_id="t", query_id="{{ params.q }}", mode="reschedule")
    sensor.query_id = ""  # what rendering an empty value produces
    calls_before = sum(emulator.requests.values())
    run = run_sensor(sensor)
    assert isinstance(run.error, ValueError) and "`query_id` must be a non-empty string" in str(run.error)
    assert sum(emulator.requests.values()) == calls_before


@pytest.mark.parametrize(
    "kwargs",
    [
        {"scope_id": "", "query_id": "q"},
        {"scope_id": "s", "query_id": None},
        {"scope_id": "s", "query_id": "q", "poll_interval": 0},
        {"scope_id": "s", "query_id": "q", "deadline": "tomorrow"},
    ],
)
def test_trigger_rejects_bad_arguments(kwargs: dict) -> None:
    with pytest.raises(ValueError, match="NetworkFlowMonitorWorkloadInsightsTopContributorsDataQueryTrigger: "):
        NetworkFlowMonitorWorkloadInsightsTopContributorsDataQueryTrigger(**kwargs)


def test_trigger_accepts_opaque_ids_verbatim() -> None:
    odd = "AQICAH/+=%2F?#../x"
    trigger = InternetMonitorQueryTrigger(monitor_name="m", query_id=odd)
    assert trigger.identifiers["query_id"] == odd
