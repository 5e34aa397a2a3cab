"""Neptune openCypher and Gremlin: run a query with each operator; wait on a running query with each sensor.
Neptune bulk loads: run one with the operator; wait on one started elsewhere with the sensor.

The query operators hold Neptune's synchronous execute call on the worker and follow their
query by id. The query sensors wait (deferred, no worker slot) on a query someone else runs,
found by its text in ListOpenCypherQueries or ListGremlinQueries. A bulk load runs in Neptune
itself, so its operator and sensor both wait deferred.
"""

from __future__ import annotations

import datetime

from airflow.providers.common.compat.sdk import DAG, Param, task

from airflow_querystatus.hooks.neptune import NeptuneDataHook
from airflow_querystatus.operators.neptune import (
    NeptuneGremlinQueryOperator,
    NeptuneLoaderJobOperator,
    NeptuneOpenCypherQueryOperator,
)
from airflow_querystatus.sensors.neptune import (
    NeptuneGremlinQuerySensor,
    NeptuneLoaderJobSensor,
    NeptuneOpenCypherQuerySensor,
)

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
        # What the bulk loads read, and the role Neptune reads the bucket with.
        "load_source": Param("s3://graph-bucket/people/", type="string"),
        "load_role_arn": Param("arn:aws:iam::123456789012:role/NeptuneLoadFromS3", type="string"),
    },
    tags=["querystatus", "example"],
):
    count = NeptuneOpenCypherQueryOperator(
        task_id="count_people",
        query="MATCH (p:Person) RETURN count(p) AS people",
        endpoint_url="{{ params.endpoint_url }}",
        poll_interval=1,
    )
    count_gremlin = NeptuneGremlinQueryOperator(
        task_id="count_people_gremlin",
        query="g.V().hasLabel('person').count()",
        endpoint_url="{{ params.endpoint_url }}",
        poll_interval=1,
    )

    @task
    def find_running_query(list_operation: str, text: str, endpoint_url: str) -> str:
        """The id of a running query whose text contains ``text`` (list_open_cypher_queries,
        list_gremlin_queries)."""
        listing = getattr(NeptuneDataHook(endpoint_url=endpoint_url or None).conn, list_operation)(includeWaiting=True)
        for query in listing["queries"]:
            if text in query.get("queryString", ""):
                return query["queryId"]
        raise ValueError(f"no running query contains {text!r} ({list_operation})")

    waits = [
        sensor_class(
            task_id=task_id,
            query_id=find_running_query.override(task_id=f"find_{task_id}")(
                sensor_class.spec.list_operation, "{{ params.running_query_text }}", "{{ params.endpoint_url }}"),
            endpoint_url="{{ params.endpoint_url }}",
            deferrable=True,
            poll_interval=2,
            timeout=3600,
        )
        for task_id, sensor_class in (("wait_for_graph_load", NeptuneOpenCypherQuerySensor),
                                      ("wait_for_gremlin_graph_load", NeptuneGremlinQuerySensor))
    ]

    LOAD = {"format": "csv", "s3_bucket_region": "us-east-1", "iam_role_arn": "{{ params.load_role_arn }}"}
    bulk_load = NeptuneLoaderJobOperator(
        task_id="bulk_load_people",
        source="{{ params.load_source }}",
        **LOAD,
        mode="AUTO",
        load_options={"failOnError": False, "parallelism": "MEDIUM"},
        status_flags={"details": True},
        endpoint_url="{{ params.endpoint_url }}",
        deferrable=True,
        poll_interval=1,
    )

    @task
    def start_bulk_load(source: str, format: str, s3_bucket_region: str, iam_role_arn: str, endpoint_url: str) -> str:
        """Someone else's load: StartLoaderJob's ``payload.loadId``."""
        answer = NeptuneDataHook(endpoint_url=endpoint_url or None).conn.start_loader_job(
            source=source, format=format, s3BucketRegion=s3_bucket_region, iamRoleArn=iam_role_arn)
        return answer["payload"]["loadId"]

    wait_for_bulk_load = NeptuneLoaderJobSensor(
        task_id="wait_for_bulk_load",
        load_id=start_bulk_load("{{ params.load_source }}", **LOAD, endpoint_url="{{ params.endpoint_url }}"),
        endpoint_url="{{ params.endpoint_url }}",
        deferrable=True,
        poll_interval=1,
        timeout=3600,
    )

    @task
    def report(count: dict, count_gremlin: dict, load: dict, gremlin_load: dict, bulk: dict, waited: dict) -> str:
        return (f"people={count['results']} (Gremlin: {count_gremlin['results']}); "
                f"graph loads {load['state']} / {gremlin_load['state']}; bulk loads "
                f"{bulk['overallStatus']['status']} / {waited['payload']['overallStatus']['status']}")

    report(count.output, count_gremlin.output, waits[0].output, waits[1].output, bulk_load.output,
           wait_for_bulk_load.output)
