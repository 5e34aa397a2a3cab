"""An example of testing your own DAG against the emulator with the package's pytest fixtures.

Layout: ``dags/my_dag.py`` (the DAG), ``tests/test_my_dag.py`` (this file), ``pytest.ini``
(``pythonpath = dags``). Run ``pytest`` where airflow-querystatus is installed (the fixtures
come with the package), with ``AIRFLOW__CORE__DAGS_FOLDER`` set to ``dags/`` and a metadata
database (``airflow db migrate``): ``dag.test()`` needs both. The project's own suite runs
this very file (tests/test_pytest_plugin.py) on every Airflow line.
"""

from __future__ import annotations

import pytest
from my_dag import dag  # dags/ is on pytest's pythonpath (pytest.ini)


def final_state(**params: str) -> str:
    """Run the DAG once in this process (``dag.test()``) and return its run's state."""
    return str(dag.test(run_conf=params).state)


def test_my_dag_succeeds_when_the_query_does(querystatus_emulator, querystatus_aws_connection) -> None:
    query = querystatus_emulator.create(
        "internet_monitor_query", {"monitor_name": "web-monitor"},
        steps=[["QUEUED", 1], ["RUNNING", 2], "SUCCEEDED"],    # three polls pending, then done
        faults=[{"error": "ThrottlingException"}],              # the first call is throttled (retried)
    )
    assert final_state(query_id=query.query_id) == "success"
    assert querystatus_emulator.state(query.query_id) == "SUCCEEDED"
    assert query.status_calls == 4  # QUEUED once, RUNNING twice, SUCCEEDED (throttled calls not counted)


def test_my_dag_fails_when_the_query_fails(querystatus_emulator, querystatus_aws_connection) -> None:
    query = querystatus_emulator.create(
        "internet_monitor_query", {"monitor_name": "web-monitor"},
        steps=[["RUNNING", 1], {"state": "FAILED", "reason": "monitor deleted"}],
    )
    assert final_state(query_id=query.query_id) == "failed"


@pytest.mark.parametrize("conn_id", ["aws_default"])
def test_the_connection_is_the_emulator(querystatus_emulator, querystatus_aws_connection, conn_id) -> None:
    from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook

    client = AwsBaseHook(aws_conn_id=querystatus_aws_connection, client_type="internetmonitor").get_conn()
    assert querystatus_aws_connection == conn_id
    assert client.meta.endpoint_url == querystatus_emulator.url
