"""The example pipelines in ``dags/`` for each operation, and what they wait on.

Each operation's :class:`Example` names its example DAG(s) and the run state ``make demo``
expects, and gives sample values for its scope identifiers (tests, benchmarks). They live with
the emulator, next to what it plays (:mod:`.catalogue`), so the registry stays declarations.

Most examples start the queries they wait on; what those queries run over must exist
(``example_logs_insights``'s log group): its example's ``log_groups`` declares it. A sensor that
waits on a query *someone else* runs (``example_neptune``'s graph loads) needs that query to
exist: its example's ``plant`` declares it. :func:`plant_examples` plants all of them, so
``python -m airflow_querystatus.emulator`` serves every example with nothing else set up.
The planted queries recur (``Emulator.add_query(recurring=True)``): once one ends, the same
query runs again under a new id, so an example can run any number of times.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from airflow_querystatus import status
from airflow_querystatus.emulator.catalogue import CATALOGUE
from airflow_querystatus.status import SPECS, RegistryError, StatusSpec

if TYPE_CHECKING:
    from airflow_querystatus.emulator.model import Emulator, Query

#: What a plant may say (``Example.plant``), as in the control API's query body.
PLANT_MEMBERS = frozenset({"identifiers", "steps", "text"})


@dataclass(frozen=True)
class Example:
    """The operation's example pipeline(s) in ``dags/`` and sample identifiers for tests."""

    #: dag_id -> the run state ``make demo`` expects.
    dags: Mapping[str, str]
    #: Values for every identifier but the query's own id, e.g. ``{"monitor_name": ...}``.
    scope: Mapping[str, str] = field(default_factory=dict)
    #: A running query someone else runs, for the example's sensor to wait on: the emulator
    #: plants it (recurring) when it starts on its own. Members as in the control API's query
    #: body: ``text``, ``steps``, ``identifiers``.
    plant: Mapping[str, Any] | None = None
    #: The CloudWatch Logs log groups the example's queries run over (its DAG's default
    #: ``params``): StartQuery refuses a group that does not exist, so the emulator creates them.
    log_groups: tuple[str, ...] = ()
    #: The operator's start arguments for a sample run besides ``scope`` (the documentation runs
    #: it against the emulator to show what it returns: ``docs/returns.py``).
    start: Mapping[str, Any] = field(default_factory=dict)


def build_examples(entries: Iterable[tuple[StatusSpec, Example]]) -> dict[str, Example]:
    """Check every example against its spec and index them by the spec's key; raise
    :class:`~airflow_querystatus.status.RegistryError` naming the spec if one is wrong."""
    examples: dict[str, Example] = {}
    for spec, example in entries:
        def fail(mistake: str, key: str = spec.key) -> None:
            raise RegistryError(f"StatusSpec {key!r}: {mistake}")

        if SPECS.get(spec.key) is not spec or spec.key in examples:
            fail("is not in the registry, or has two examples.")
        scope = [ident.name for ident in spec.identifiers[:-1]]
        if unknown := set(example.scope) - set(scope):
            fail(f"`Example.scope` names {sorted(unknown)}, which are not scope identifiers ({scope}).")
        if unknown := set(example.plant or ()) - PLANT_MEMBERS:
            fail(f"`Example.plant` has members the emulator does not know: {sorted(unknown)}.")
        if not example.start:
            fail("`Example.start` is empty; the documentation runs the operator with these arguments.")
        if clash := set(example.start) & {ident.name for ident in spec.identifiers}:
            fail(f"`Example.start` names identifiers {sorted(clash)}; scope identifiers go in `Example.scope`.")
        if example.log_groups and spec.service != "logs":
            fail(f"`Example.log_groups` is for CloudWatch Logs operations; {spec.service} has no log groups.")
        examples[spec.key] = example
    return examples


_SCOPE_ID = "e21cda79-30a0-4c12-9299-d8629d76d8cf"
_NETWORK_FLOW_MONITOR = {"example_network_flow_monitor": "success"}
#: A time window for the sample runs' queries.
_WINDOW = {"start_time": "2026-11-01T00:00:00+00:00", "end_time": "2026-11-02T00:00:00+00:00"}


def _flows(metric: str, destination: str) -> dict[str, str]:
    """A Network Flow Monitor query's start arguments."""
    return {"metric_name": metric, "destination_category": destination, **_WINDOW}


def _graph_load(text: str, query: str) -> Example:
    """Someone else's long graph load, for the example's sensor to wait on. It stays listed until
    the sensor has polled its status four times (listing it does not count), so however long the
    scheduler takes to reach the sensor, the sensor sees it end. ``query``: the operator's own."""
    return Example({"example_neptune": "success"},
                   plant={"text": text, "steps": [{"state": "RUNNING", "polls": 4}, "FINISHED"]},
                   start={"query": query})


#: Every operation's example by its spec's key.
EXAMPLES: dict[str, Example] = build_examples((
    (status.INTERNET_MONITOR_QUERY,
     Example({"example_internet_monitor": "success"}, scope={"monitor_name": "web-monitor"},
             start={"query_type": "MEASUREMENTS", **_WINDOW})),
    (status.NETWORK_FLOW_MONITOR_TOP_CONTRIBUTORS_QUERY,
     Example(_NETWORK_FLOW_MONITOR, scope={"monitor_name": "vpc-monitor"},
             start=_flows("DATA_TRANSFERRED", "INTER_AZ"))),
    (status.NETWORK_FLOW_MONITOR_WORKLOAD_INSIGHTS_DATA_QUERY,
     Example(_NETWORK_FLOW_MONITOR, scope={"scope_id": _SCOPE_ID}, start=_flows("TIMEOUTS", "INTRA_AZ"))),
    (status.NETWORK_FLOW_MONITOR_WORKLOAD_INSIGHTS_QUERY,
     Example(_NETWORK_FLOW_MONITOR, scope={"scope_id": _SCOPE_ID}, start=_flows("RETRANSMISSIONS", "INTER_VPC"))),
    (status.NEPTUNE_OPEN_CYPHER_QUERY, _graph_load(
        "// nightly-graph-load\nLOAD CSV FROM 's3://bucket/people.csv' AS row CREATE (:Person {name: row[0]})",
        "MATCH (p:Person) RETURN p.name LIMIT 3")),
    (status.NEPTUNE_GREMLIN_QUERY, _graph_load(
        "// nightly-graph-load\ng.V().hasLabel('person').property('indexed', true).iterate()",
        "g.V().hasLabel('person').limit(3).values('name')")),
    (status.NEPTUNE_LOADER_JOB, Example({"example_neptune": "success"}, start={
        "source": "s3://graph-bucket/people/", "format": "csv", "s3_bucket_region": "us-east-1",
        "iam_role_arn": "arn:aws:iam::123456789012:role/NeptuneLoadFromS3"})),
    (status.ATHENA_CALCULATION_EXECUTION,
     Example({"example_athena_spark": "success", "example_athena_spark_failing": "failed"},
             start={"code_block": "print(spark.range(10).count())"})),
    (status.LOGS_INSIGHTS_QUERY, Example({"example_logs_insights": "success"}, log_groups=("/demo/app",),
                                         start={"log_groups": ["/demo/app"], "limit": 5, **_WINDOW,
                                                "query_string": "fields @timestamp, @message | limit 5"})),
))


def plant_examples(emulator: Emulator) -> list[Query]:
    """Create the log groups the examples query and plant the running queries they wait on;
    return the queries."""
    for example in EXAMPLES.values():
        for name in example.log_groups:
            emulator.create_log_group(name)
    return [emulator.add_query(key, example.plant.get("identifiers"), steps=example.plant.get("steps"),
                               text=example.plant.get("text"), recurring=True)
            for key, example in EXAMPLES.items() if example.plant is not None and key in CATALOGUE]
