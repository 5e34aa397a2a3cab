"""The pytest plugin users get with the package: its fixtures, and the documented example run
as a user would run it (its own directory, no conftest of ours, a fresh metadata database)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import boto3
import pytest

from airflow_querystatus.emulator.pytest_plugin import ACCESS_KEY, EmulatorHandle

EXAMPLE = Path(__file__).resolve().parent.parent / "docs" / "examples" / "my_project"

def test_the_documented_example_passes_as_a_user_runs_it(tmp_path: Path) -> None:
    """Only ``pytest`` in the project: the plugin's ini options make the Airflow home, its DAGs
    folder and its database (nothing set by hand), and its home goes when the run ends."""
    project = tmp_path / "my_project"
    shutil.copytree(EXAMPLE, project)
    env = {k: v for k, v in os.environ.items()
           if k != "AIRFLOW_HOME" and not k.startswith(("AIRFLOW_CONN_", "AIRFLOW__", "PYTEST_"))}
    env["TMPDIR"] = str(tmp_path)  # where the plugin makes the session's home
    result = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q"], cwd=project,
                            env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-2000:]
    assert "5 passed" in result.stdout
    assert not list(tmp_path.glob("querystatus-airflow-home-*")), "the session's Airflow home was left behind"


def test_the_connection_points_at_the_emulator(querystatus_emulator: EmulatorHandle,
                                               querystatus_aws_connection: str) -> None:
    connection = json.loads(os.environ[f"AIRFLOW_CONN_{querystatus_aws_connection.upper()}"])
    assert connection["extra"]["endpoint_url"] == querystatus_emulator.url
    assert connection["login"] == ACCESS_KEY
    assert querystatus_emulator.url.startswith("http://127.0.0.1:")


@pytest.fixture
def querystatus_conn_id() -> str:
    return "my_aws"


def test_the_connection_id_is_a_fixture_to_override(querystatus_aws_connection: str) -> None:
    assert querystatus_aws_connection == "my_aws" and "AIRFLOW_CONN_MY_AWS" in os.environ


def test_scripts_and_faults_set_by_one_test(querystatus_emulator: EmulatorHandle) -> None:
    querystatus_emulator.script("internet_monitor_query", ["FAILED"])
    querystatus_emulator.fault({"error": "ThrottlingException", "operations": ["start_query"]})
    assert querystatus_emulator.emulator.default_steps("internet_monitor_query")[0].state == "FAILED"


def test_are_gone_in_the_next(querystatus_emulator: EmulatorHandle) -> None:
    """Runs after the test above (same file, in order): its script and fault were reset."""
    client = boto3.client("internetmonitor", endpoint_url=querystatus_emulator.url, region_name="us-east-1",
                          aws_access_key_id="a", aws_secret_access_key="b")
    query_id = client.start_query(MonitorName="m", StartTime="2024-01-01T00:00:00Z", EndTime="2024-01-02T00:00:00Z",
                                  QueryType="MEASUREMENTS")["QueryId"]
    assert querystatus_emulator.state(query_id) == "QUEUED"


def test_a_private_emulator_sees_only_its_own_queries(querystatus_emulator: EmulatorHandle,
                                                      querystatus_private_emulator: EmulatorHandle) -> None:
    querystatus_emulator.create("athena_calculation_execution")
    query = querystatus_private_emulator.create("athena_calculation_execution", steps=["COMPLETED"])
    assert querystatus_private_emulator.url != querystatus_emulator.url
    assert querystatus_private_emulator.queries() == [query]


def test_each_test_starts_with_an_empty_emulator_a(querystatus_emulator: EmulatorHandle) -> None:
    querystatus_emulator.create("athena_calculation_execution", steps=["COMPLETED"])
    querystatus_emulator.create_log_group("/mine")
    querystatus_emulator.emulator.count_request("get_calculation_execution_status")


def test_each_test_starts_with_an_empty_emulator_b(querystatus_emulator: EmulatorHandle) -> None:
    """Runs after the test above (same file, in order): nothing it planted or counted is left."""
    assert querystatus_emulator.queries() == [] and querystatus_emulator.requests() == {}
    assert querystatus_emulator.emulator.all_log_groups() == []


def test_a_planted_athena_session_takes_calculations(querystatus_emulator: EmulatorHandle) -> None:
    session_id = querystatus_emulator.create_athena_session()
    client = boto3.client("athena", endpoint_url=querystatus_emulator.url, region_name="us-east-1",
                          aws_access_key_id="a", aws_secret_access_key="b")
    assert client.get_session_status(SessionId=session_id)["Status"]["State"] == "IDLE"
    started = client.start_calculation_execution(SessionId=session_id, CodeBlock="print(1)")
    assert querystatus_emulator.state(started["CalculationExecutionId"]) in {"CREATING", "CREATED", "QUEUED"}


def test_a_planted_loader_job_answers_get_loader_job_status(querystatus_emulator: EmulatorHandle) -> None:
    load = querystatus_emulator.create_loader_job([["LOAD_IN_PROGRESS", 1], "LOAD_COMPLETED"])
    client = boto3.client("neptunedata", endpoint_url=querystatus_emulator.url, region_name="us-east-1",
                          aws_access_key_id="a", aws_secret_access_key="b")
    assert client.get_loader_job_status(loadId=load.query_id)["payload"]["overallStatus"]["status"] == \
        "LOAD_IN_PROGRESS"
    assert client.get_loader_job_status(loadId=load.query_id)["payload"]["overallStatus"]["status"] == \
        "LOAD_COMPLETED"


def test_fast_polls_cap_every_interval_but_leave_the_dag_s_own(monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow_querystatus.sensors.internet_monitor import InternetMonitorQuerySensor

    monkeypatch.setenv("AIRFLOW__QUERYSTATUS__MAX_POLL_INTERVAL_OVERRIDE", "0.1")
    sensor = InternetMonitorQuerySensor(task_id="t", monitor_name="m", query_id="q", poll_interval=30,
                                        max_poll_interval=300)
    assert sensor.poll_interval == 30 and sensor.max_poll_interval == 300  # as the DAG says
    assert sensor.poke_interval == 0.1  # what a poke waits
    options = sensor.wait_settings.options_for("t")
    assert options.poll_interval == 0.1 and options.max_poll_interval == 0.1  # what a trigger waits
    monkeypatch.setenv("AIRFLOW__QUERYSTATUS__MAX_POLL_INTERVAL_OVERRIDE", "soon")
    with pytest.raises(ValueError, match=r"max_poll_interval_override.*'soon'"):
        sensor.wait_settings.options_for("t")
