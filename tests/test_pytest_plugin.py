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
    project = tmp_path / "my_project"
    shutil.copytree(EXAMPLE, project)
    env = {k: v for k, v in os.environ.items()
           if k != "AIRFLOW_HOME" and not k.startswith(("AIRFLOW_CONN_", "AIRFLOW__CORE__", "PYTEST_"))}
    env.update(AIRFLOW_HOME=str(tmp_path / "airflow-home"), AIRFLOW__CORE__LOAD_EXAMPLES="False",
               AIRFLOW__CORE__DAGS_FOLDER=str(project / "dags"))
    airflow = Path(sys.executable).parent / "airflow"
    subprocess.run([str(airflow), "db", "migrate"], env=env, check=True, capture_output=True, timeout=300)
    result = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q"], cwd=project,
                            env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-2000:]
    assert "3 passed" in result.stdout


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
