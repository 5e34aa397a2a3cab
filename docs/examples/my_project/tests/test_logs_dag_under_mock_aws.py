"""The same kind of test under moto's ``mock_aws`` instead of the emulator: moto answers every
AWS call, the package's status calls included, and none leaves the process.

moto is a test dependency of yours here (``pip install moto``); the sensor runs in poke mode
(``deferrable=False``, the default): see the README's "Testing under moto's mock_aws" for
deferrable tasks under ``mock_aws``.
"""

from __future__ import annotations

import json
import time

import boto3
import pytest
from logs_dag import dag

moto = pytest.importorskip("moto")


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch):
    """Fake keys in the environment and in aws_default, as moto's documentation asks."""
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_DEFAULT_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", json.dumps(
        {"conn_type": "aws", "login": "testing", "password": "testing", "extra": {"region_name": "us-east-1"}}))
    with moto.mock_aws():
        yield boto3.client("logs", region_name="us-east-1")


def test_logs_dag_succeeds_under_mock_aws(aws, querystatus_run_dag) -> None:
    aws.create_log_group(logGroupName="/my/app")
    aws.create_log_stream(logGroupName="/my/app", logStreamName="web-1")
    now = int(time.time())
    aws.put_log_events(logGroupName="/my/app", logStreamName="web-1",
                       logEvents=[{"timestamp": now * 1000, "message": "GET /health 200"}])
    query_id = aws.start_query(logGroupName="/my/app", startTime=now - 600, endTime=now + 600,
                               queryString="fields @timestamp, @message")["queryId"]
    run = querystatus_run_dag(dag, query_id=query_id)
    assert run.state == "success" and run.tasks == {"wait_for_insights": "success"}
    assert run.xcom("wait_for_insights")["status"] == "Complete"
