"""The emulator from Python: create, script and fault queries, and see what an AWS client sees.

Run it with ``python docs/examples/emulator_tour.py``; the test suite runs it too
(tests/test_emulator_docs.py), so every line here works as shown.
"""

from __future__ import annotations

import time

import boto3
from botocore.config import Config

from airflow_querystatus.emulator import EmulatorServer

with EmulatorServer() as server:  # 127.0.0.1, a free port; server.url is the endpoint_url
    emulator = server.emulator
    internet_monitor = boto3.client(
        "internetmonitor", endpoint_url=server.url, region_name="us-east-1",
        aws_access_key_id="any", aws_secret_access_key="any",
        config=Config(retries={"total_max_attempts": 1}),  # see each fault, no botocore retries
    )

    # 1. Create a query: QUEUED for one status call, RUNNING for two, then SUCCEEDED for good.
    query = emulator.add_query(
        "internet_monitor_query", {"monitor_name": "web-monitor"},
        steps=[["QUEUED", 1], ["RUNNING", 2], "SUCCEEDED"],
    )
    states = [internet_monitor.get_query_status(MonitorName="web-monitor", QueryId=query.query_id)["Status"]
              for _ in range(5)]
    assert states == ["QUEUED", "RUNNING", "RUNNING", "SUCCEEDED", "SUCCEEDED"], states
    assert query.status_calls == 5

    # 2. Script by time instead of by calls, and fail with a reason (Athena shows it as
    #    Status.StateChangeReason): RUNNING for 0.2 s, then FAILED.
    calculation = emulator.add_query(
        "athena_calculation_execution",
        steps=[{"state": "RUNNING", "seconds": 0.2, "progress": "1/2 stages"},
               {"state": "FAILED", "reason": "ZeroDivisionError: division by zero"}],
    )
    athena = boto3.client("athena", endpoint_url=server.url, region_name="us-east-1",
                          aws_access_key_id="any", aws_secret_access_key="any")
    answer = athena.get_calculation_execution_status(CalculationExecutionId=calculation.query_id)
    assert (answer["Status"]["State"], answer["Statistics"]["Progress"]) == ("RUNNING", "1/2 stages")
    time.sleep(0.25)
    status = athena.get_calculation_execution_status(CalculationExecutionId=calculation.query_id)["Status"]
    assert (status["State"], status["StateChangeReason"]) == ("FAILED", "ZeroDivisionError: division by zero")

    # 3. Fault it: the next two calls that touch it are throttled, then it answers normally.
    throttled = emulator.add_query(
        "internet_monitor_query", {"monitor_name": "web-monitor"}, steps=["RUNNING"],
        faults=[{"error": "ThrottlingException", "count": 2}],
    )
    for _ in range(2):
        try:
            internet_monitor.get_query_status(MonitorName="web-monitor", QueryId=throttled.query_id)
        except internet_monitor.exceptions.ThrottlingException:
            pass
        else:
            raise AssertionError("the fault did not fire")
    answer = internet_monitor.get_query_status(MonitorName="web-monitor", QueryId=throttled.query_id)
    assert answer["Status"] == "RUNNING"

    # 4. Faults for every query: the next status call answers a proxy's 502 page.
    emulator.add_global_faults([{"http_status": 502, "body": "<html>Bad Gateway</html>",
                                 "operations": ["get_query_status"]}])
    try:
        internet_monitor.get_query_status(MonitorName="web-monitor", QueryId=query.query_id)
    except internet_monitor.exceptions.ClientError as err:
        assert err.response["ResponseMetadata"]["HTTPStatusCode"] == 502
    emulator.clear_global_faults()

    # 5. Queries your code starts (StartQuery, StartCalculationExecution...) play the kind's
    #    default script; change it for every later start:
    emulator.set_default_steps("internet_monitor_query", [["RUNNING", 1], "FAILED"])
    started = internet_monitor.start_query(
        MonitorName="web-monitor", StartTime="2026-01-01T00:00:00Z", EndTime="2026-01-02T00:00:00Z",
        QueryType="MEASUREMENTS",
    )["QueryId"]
    assert [q.query_id for q in emulator.queries("internet_monitor_query")][-1] == started

    # 6. What AWS refuses, the emulator refuses (botocore's own check is off here, to show it).
    unchecked = boto3.client(
        "internetmonitor", endpoint_url=server.url, region_name="us-east-1", aws_access_key_id="any",
        aws_secret_access_key="any", config=Config(parameter_validation=False),
    )
    try:
        unchecked.start_query(MonitorName="web-monitor", StartTime="2026-01-01T00:00:00Z",
                              EndTime="2026-01-02T00:00:00Z", QueryType="MEASURMENTS")
    except unchecked.exceptions.ValidationException as err:
        print(err.response["Error"]["Message"])
    else:
        raise AssertionError("the emulator accepted a query type AWS refuses")

    print("requests answered:", dict(emulator.requests))
