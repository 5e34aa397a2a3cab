"""An example of testing your own DAG against the emulator with the package's pytest fixtures.

Layout: ``dags/my_dag.py`` (the DAG), ``tests/test_my_dag.py`` (this file), ``pytest.ini``
(``pythonpath = dags``, ``querystatus_dags_folder = dags``, ``querystatus_fast_polls = true``).
Run ``pytest`` where airflow-querystatus is installed: the fixtures and the Airflow home come
with the package's plugin, nothing to set up by hand. The project's own suite runs this very
file (tests/test_pytest_plugin.py) on every Airflow line.
"""

from __future__ import annotations

from my_dag import dag  # dags/ is on pytest's pythonpath (pytest.ini)


def test_my_dag_succeeds_when_the_query_does(querystatus_emulator, querystatus_aws_connection,
                                              querystatus_run_dag) -> None:
    query = querystatus_emulator.create(
        "internet_monitor_query", {"monitor_name": "web-monitor"},
        steps=[["QUEUED", 1], ["RUNNING", 2], "SUCCEEDED"],    # three polls pending, then done
    )
    run = querystatus_run_dag(dag, query_id=query.query_id)
    assert run.state == "success" and run.tasks == {"wait_for_query": "success"}
    assert run.xcom("wait_for_query")["Status"] == "SUCCEEDED"  # the sensor returns the final status answer
    assert query.status_calls == 4  # QUEUED once, RUNNING twice, SUCCEEDED
    assert querystatus_emulator.requests() == {"get_query_status": 4}  # this test's calls only


def test_my_dag_fails_when_the_query_fails(querystatus_emulator, querystatus_aws_connection,
                                           querystatus_run_dag) -> None:
    query = querystatus_emulator.create(
        "internet_monitor_query", {"monitor_name": "web-monitor"},
        steps=[["RUNNING", 1], "FAILED"],
    )
    run = querystatus_run_dag(dag, query_id=query.query_id)
    assert run.state == "failed" and run.tasks == {"wait_for_query": "failed"}
    assert query.query_id in run.output and "FAILED" in run.output  # the task's log says which query, and why


def test_throttling_is_waited_out(querystatus_emulator, querystatus_aws_connection, querystatus_run_dag) -> None:
    # botocore's own retries (the connection's default, "legacy": 5 attempts a call) absorb up
    # to 4 throttles; 6 in a row outlast them, so the package's backoff waits out the rest.
    query = querystatus_emulator.create(
        "internet_monitor_query", {"monitor_name": "web-monitor"},
        steps=["SUCCEEDED"], faults=[{"error": "ThrottlingException", "count": 6}],
    )
    run = querystatus_run_dag(dag, query_id=query.query_id)
    assert run.state == "success"
    assert "throttled" in run.output and "backing off and retrying" in run.output  # the package's own backoff
    assert query.status_calls == 1  # the one call that got past the throttles


def test_the_connection_is_the_emulator(querystatus_emulator, querystatus_aws_connection) -> None:
    from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook

    client = AwsBaseHook(aws_conn_id=querystatus_aws_connection, client_type="internetmonitor").get_conn()
    assert querystatus_aws_connection == "aws_default"
    assert client.meta.endpoint_url == querystatus_emulator.url
