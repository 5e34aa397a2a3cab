"""A deferred operator whose task a user marks failed while its calculation runs (see test_airflow_e2e.py)."""

from __future__ import annotations

import datetime

from airflow.providers.common.compat.sdk import DAG, task

from airflow_querystatus.hooks.athena import AthenaCalculationHook
from airflow_querystatus.operators.athena import AthenaCalculationExecutionOperator

with DAG("e2e_kill", schedule=None, start_date=datetime.datetime(2026, 1, 1), catchup=False):

    @task
    def start_session() -> str:
        client = AthenaCalculationHook().conn
        return client.start_session(WorkGroup="e2e", EngineConfiguration={"MaxConcurrentDpus": 2})["SessionId"]

    AthenaCalculationExecutionOperator(
        task_id="marked_failed_while_deferred",
        session_id=start_session(),
        # Runs until stopped; the run id makes the calculation findable by its text.
        code_block='# emulator-script: ["RUNNING"]\n# e2e-kill {{ run_id }}\nprint("forever")\n',
        deferrable=True,
        poll_interval=1,
        max_poll_interval=2,
        wait_timeout=600,
        retries=0,
    )
