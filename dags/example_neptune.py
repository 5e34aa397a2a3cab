"""Neptune openCypher: run a query with the operator; wait on a running query with the sensor.

The operator holds Neptune's synchronous execute call on the worker and follows its query
by id. The sensor waits (deferred, no worker slot) on a query someone else runs, found by
its text in ListOpenCypherQueries.
"""

from __future__ import annotations

import datetime

from airflow.providers.common.compat.sdk import DAG, Param, task

from airflow_querystatus.hooks.neptune import NeptuneDataHook
from airflow_querystatus.operators.neptune import NeptuneOpenCypherQueryOperator
from airflow_querystatus.sensors.neptune import NeptuneOpenCypherQuerySensor

# Retry once: Airflow can mark a deferred task failed when its trigger fires within a second or two
# (apache/airflow #66374, #71580, #72716); a retried operator re-attaches to its query (Airflow >= 3.3).
RETRY_ONCE = {"retries": 1, "retry_delay": datetime.timedelta(seconds=5)}

with DAG(
    "example_neptune",
    schedule=None,
    start_date=datetime.datetime(2026, 1, 1),
    catchup=False,
    default_args=RETRY_ONCE,
    params={
        # The instance endpoint; empty means the connection's endpoint_url.
        "endpoint_url": Param("", type="string"),
        "running_query_text": Param("nightly-graph-load", type="string"),
    },
    tags=["querystatus", "example"],
):
    count = NeptuneOpenCypherQueryOperator(
        task_id="count_people",
        query="MATCH (p:Person) RETURN count(p) AS people",
        endpoint_url="{{ params.endpoint_url }}",
        poll_interval=1,
    )

    @task
    def find_running_query(text: str, endpoint_url: str) -> str:
        listing = NeptuneDataHook(endpoint_url=endpoint_url or None).conn.list_open_cypher_queries(includeWaiting=True)
        for query in listing["queries"]:
            if text in query.get("queryString", ""):
                return query["queryId"]
        raise ValueError(f"no running openCypher query contains {text!r}")

    wait = NeptuneOpenCypherQuerySensor(
        task_id="wait_for_graph_load",
        query_id=find_running_query("{{ params.running_query_text }}", "{{ params.endpoint_url }}"),
        endpoint_url="{{ params.endpoint_url }}",
        deferrable=True,
        poll_interval=2,
        timeout=3600,
    )

    @task
    def report(count: dict, load: dict) -> str:
        return f"people={count['results']}; graph load {load['state']}"

    report(count.output, wait.output)
