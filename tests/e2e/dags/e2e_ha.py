"""High availability (see test_ha.py): many concurrent waits, a deadline, a user kill, a worker kill.

``e2e_ha_waits``: 20 deferred sensors (4 per query family, on queries the test plants and
passes in ``conf``) and 12 deferred operators (3 per family that has a start call), all
waiting together while triggerers are killed and frozen. Each operator's query carries a
marker (its task id) in its text, so the test can count the queries each one started.
``e2e_ha_deadline``: a sensor on a query that never ends, to time out on its own deadline.
``e2e_ha_mark``: a deferred operator a user marks failed.
``e2e_ha_reattach``: an operator waiting on its worker, whose task runner is killed.
"""

from __future__ import annotations

import datetime

from airflow.providers.common.compat.sdk import DAG, task

from airflow_querystatus.hooks.athena import AthenaCalculationHook
from airflow_querystatus.operators.athena import AthenaCalculationExecutionOperator
from airflow_querystatus.operators.internet_monitor import InternetMonitorQueryOperator
from airflow_querystatus.operators.network_flow_monitor import (
    NetworkFlowMonitorTopContributorsQueryOperator,
    NetworkFlowMonitorWorkloadInsightsTopContributorsDataQueryOperator,
)
from airflow_querystatus.sensors.athena import AthenaCalculationExecutionSensor
from airflow_querystatus.sensors.base import QueryStatusSensor
from airflow_querystatus.sensors.internet_monitor import InternetMonitorQuerySensor
from airflow_querystatus.sensors.neptune import NeptuneOpenCypherQuerySensor
from airflow_querystatus.sensors.network_flow_monitor import (
    NetworkFlowMonitorTopContributorsQuerySensor,
    NetworkFlowMonitorWorkloadInsightsTopContributorsDataQuerySensor,
)

START = datetime.datetime(2026, 1, 1)
#: Where the planted and started queries live (the test plants and releases under these).
MONITOR = "ha-monitor"
VPC_MONITOR = "ha-vpc-monitor"
SCOPE = "ha-scope"
SENSORS_PER_KIND = 4
OPERATORS_PER_KIND = 3
#: Each NFM operator's marker: a metric of its own, which its StartQuery body carries.
METRICS = ("DATA_TRANSFERRED", "RETRANSMISSIONS", "TIMEOUTS")
DEADLINE_TIMEOUT = 30
#: No retries, unlike the other e2e DAGs: every query here runs until the test releases it,
#: long after its deferral, so Airflow's fast-trigger race (RELIABILITY.md, known limits)
#: cannot occur, and a failure must show as one rather than hide behind a retry.
WAIT = {"poll_interval": 1, "max_poll_interval": 2, "retries": 0, "deferrable": True}
WINDOW = {
    "start_time": "{{ (dag_run.start_date - macros.timedelta(hours=1)).isoformat() }}",
    "end_time": "{{ dag_run.start_date.isoformat() }}",
}


@task
def start_session() -> str:
    client = AthenaCalculationHook().conn
    return client.start_session(WorkGroup="e2e-ha", EngineConfiguration={"MaxConcurrentDpus": 2})["SessionId"]


def held_code(marker: str) -> str:
    """A calculation that runs until the test releases it, findable by ``marker`` and its run."""
    return f'# emulator-script: ["RUNNING"]\n# {marker} {{{{ run_id }}}}\nprint("held")\n'


#: The query families the sensors wait on: the param that carries each one's planted query ids
#: (``sensor_<param>_<i>`` waits on the i-th), its sensor class and the scope its queries live in.
#: test_ha.py derives its kinds and scopes from it and from the sensors' specs.
FAMILIES: dict[str, tuple[type[QueryStatusSensor], dict[str, str]]] = {
    "im": (InternetMonitorQuerySensor, {"monitor_name": MONITOR}),
    "nfm": (NetworkFlowMonitorTopContributorsQuerySensor, {"monitor_name": VPC_MONITOR}),
    "wi": (NetworkFlowMonitorWorkloadInsightsTopContributorsDataQuerySensor, {"scope_id": SCOPE}),
    "neptune": (NeptuneOpenCypherQuerySensor, {}),
    "athena": (AthenaCalculationExecutionSensor, {}),
}


with DAG("e2e_ha_waits", schedule=None, start_date=START, catchup=False, max_active_tasks=64,
         params={param: [] for param in FAMILIES}):
    for i in range(SENSORS_PER_KIND):
        for param, (sensor_class, scope) in FAMILIES.items():
            query_id = {sensor_class.spec.identifiers[-1].name: f"{{{{ params.{param}[{i}] }}}}"}
            sensor_class(task_id=f"sensor_{param}_{i}", **scope, **query_id, timeout=900, **WAIT)
    session = start_session()
    for i in range(OPERATORS_PER_KIND):
        InternetMonitorQueryOperator(
            task_id=f"op_im_{i}", monitor_name=MONITOR, query_type="MEASUREMENTS",
            filter_parameters=[{"Field": "city", "Operator": "EQUALS", "Values": [f"op_im_{i}"]}],
            wait_timeout=900, **WINDOW, **WAIT)
        NetworkFlowMonitorTopContributorsQueryOperator(
            task_id=f"op_nfm_{i}", monitor_name=VPC_MONITOR, metric_name=METRICS[i], destination_category="INTER_AZ",
            wait_timeout=900, **WINDOW, **WAIT)
        NetworkFlowMonitorWorkloadInsightsTopContributorsDataQueryOperator(
            task_id=f"op_wi_{i}", scope_id=SCOPE, metric_name=METRICS[i], destination_category="INTRA_AZ",
            wait_timeout=900, **WINDOW, **WAIT)
        AthenaCalculationExecutionOperator(task_id=f"op_athena_{i}", session_id=session,
                                           code_block=held_code(f"e2e-ha op_athena_{i}"), wait_timeout=900, **WAIT)


with DAG("e2e_ha_deadline", schedule=None, start_date=START, catchup=False, params={"never_id": ""}):
    InternetMonitorQuerySensor(task_id="times_out_on_original_deadline", monitor_name=MONITOR,
                               query_id="{{ params.never_id }}", timeout=DEADLINE_TIMEOUT, **WAIT)


with DAG("e2e_ha_mark", schedule=None, start_date=START, catchup=False):
    AthenaCalculationExecutionOperator(task_id="marked_failed_while_deferred", session_id=start_session(),
                                       code_block=held_code("e2e-ha-mark"), wait_timeout=600, **WAIT)


with DAG("e2e_ha_reattach", schedule=None, start_date=START, catchup=False):
    AthenaCalculationExecutionOperator(
        task_id="killed_on_worker",
        session_id=start_session(),
        code_block=held_code("e2e-ha-reattach"),
        deferrable=False,  # waits on the worker, where its runner is killed
        poll_interval=1,
        max_poll_interval=2,
        wait_timeout=600,
        retries=1,
        retry_delay=datetime.timedelta(seconds=2),
    )
