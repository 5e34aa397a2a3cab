"""Athena Spark: run a calculation with the operator; wait on another one with the sensor.

``example_athena_spark_failing`` runs a calculation that fails on purpose: the task fails
with Athena's StateChangeReason. (The ``emulator-script`` comment tells the local emulator
how the calculation ends; AWS ignores it.)
"""

from __future__ import annotations

import datetime
import time

from airflow.providers.common.compat.sdk import DAG, Param, task

from airflow_querystatus.hooks.athena import AthenaCalculationHook
from airflow_querystatus.operators.athena import AthenaCalculationExecutionOperator
from airflow_querystatus.sensors.athena import AthenaCalculationExecutionSensor

# Retry once: Airflow can mark a deferred task failed when its trigger fires within a second or two
# (apache/airflow #66374, #71580, #72716); a retried operator re-attaches to its query (Airflow >= 3.3).
RETRY_ONCE = {"retries": 1, "retry_delay": datetime.timedelta(seconds=5)}

PARAMS = {"workgroup": Param("spark-demo", type="string")}


@task
def start_session(workgroup: str) -> str:
    """Start a Spark session and wait (briefly, on the worker) until it is IDLE."""
    client = AthenaCalculationHook().conn
    session_id = client.start_session(WorkGroup=workgroup, EngineConfiguration={"MaxConcurrentDpus": 4})["SessionId"]
    for _ in range(120):
        state = client.get_session_status(SessionId=session_id)["Status"]["State"]
        if state == "IDLE":
            return session_id
        if state in {"FAILED", "TERMINATED", "DEGRADED"}:
            raise RuntimeError(f"Athena session {session_id} is {state}")
        time.sleep(5)
    raise TimeoutError(f"Athena session {session_id} did not become IDLE in 10 minutes")


with DAG("example_athena_spark", schedule=None, start_date=datetime.datetime(2026, 1, 1), catchup=False,
         default_args=RETRY_ONCE, params=PARAMS, tags=["querystatus", "example"]):
    session = start_session("{{ params.workgroup }}")
    calc = AthenaCalculationExecutionOperator(
        task_id="count_rows",
        session_id=session,
        code_block="print(spark.range(1000).count())",
        deferrable=True,
        poll_interval=2,
    )

    @task
    def start_calculation(session_id: str) -> str:
        return AthenaCalculationHook().conn.start_calculation_execution(
            SessionId=session_id, CodeBlock="spark.range(10).write.mode('overwrite').parquet('/tmp/x')"
        )["CalculationExecutionId"]

    wait = AthenaCalculationExecutionSensor(
        task_id="wait_write_calculation",
        calculation_execution_id=start_calculation(session),
        deferrable=True,
        poll_interval=2,
        timeout=3600,
    )

    @task
    def report(calc: dict, status: dict) -> str:
        return f"count_rows {calc['state']} -> {calc['result'].get('StdOutS3Uri')}; write {status['Status']['State']}"

    report(calc.output, wait.output)


with DAG("example_athena_spark_failing", schedule=None, start_date=datetime.datetime(2026, 1, 1), catchup=False,
         default_args=RETRY_ONCE, params=PARAMS, tags=["querystatus", "example"]):
    AthenaCalculationExecutionOperator(
        task_id="divide_by_zero",
        session_id=start_session("{{ params.workgroup }}"),
        code_block=(
            '# emulator-script: [["RUNNING", 2], {"state": "FAILED", "reason": "ZeroDivisionError: division by zero"}]\n'  # noqa: E501
            "print(1 / 0)\n"
        ),
        deferrable=True,
        poll_interval=2,
        retries=0,
    )
