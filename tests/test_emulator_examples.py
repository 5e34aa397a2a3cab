"""The emulator started on its own serves every example: what the examples wait on is planted,
derived from the registry, and there again for the next run."""

from __future__ import annotations

import boto3
import pytest

from airflow_querystatus.emulator import Emulator, EmulatorServer
from airflow_querystatus.emulator.examples import EXAMPLES, plant_examples
from airflow_querystatus.sensors.neptune import NeptuneGremlinQuerySensor, NeptuneOpenCypherQuerySensor
from tests.conftest import aws_connection_uri
from tests.harness import run_task

#: These tests poll through triggers: CI runs them with prepared status calls on and off.
pytestmark = pytest.mark.prepared_sensitive

#: The text ``example_neptune`` looks for in the running queries (its ``running_query_text`` param).
GRAPH_LOAD = "nightly-graph-load"


def test_what_the_examples_declare_is_planted() -> None:
    emulator = Emulator()
    planted = plant_examples(emulator)
    declared = {key: example.plant for key, example in EXAMPLES.items() if example.plant is not None}
    assert declared, "no example declares a running query any more: drop this test and plant_examples"
    assert [(q.kind, q.text) for q in planted] == [(key, plant["text"]) for key, plant in declared.items()]
    assert emulator.queries() == planted


@pytest.mark.parametrize("sensor_class", [NeptuneOpenCypherQuerySensor, NeptuneGremlinQuerySensor])
def test_the_neptune_example_finds_a_graph_load_to_wait_on_every_time(sensor_class, monkeypatch) -> None:
    """What ``example_neptune`` does, twice: find the running graph load by its text, wait on it."""
    with EmulatorServer() as server:
        plant_examples(server.emulator)
        monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", aws_connection_uri(server.url))
        neptune = boto3.client("neptunedata", endpoint_url=server.url, region_name="us-east-1",
                               aws_access_key_id="a", aws_secret_access_key="b")
        waited_on = []
        for _ in range(2):
            listing = getattr(neptune, str(sensor_class.spec.list_operation))(includeWaiting=True)
            (query_id,) = [q["queryId"] for q in listing["queries"] if GRAPH_LOAD in q["queryString"]]
            run = run_task(sensor_class(task_id="wait", query_id=query_id, deferrable=True, poll_interval=0.05,
                                        max_poll_interval=0.1, timeout=30))
            assert run.outcome == "success", run.error
            assert run.value["state"] == "FINISHED"
            waited_on.append(query_id)
        assert waited_on[0] != waited_on[1]  # the load ran again, as a new query


def test_a_recurring_query_starts_again_with_its_own_script_even_when_stopped() -> None:
    emulator = Emulator()
    first = emulator.add_query("athena_calculation", steps=[("RUNNING", 1), "COMPLETED"], text="load", recurring=True)
    once = emulator.add_query("athena_calculation", steps=[("RUNNING", 1), "COMPLETED"])
    for query in (first, once):
        emulator.poll(query)
        assert emulator.poll(query).state == "COMPLETED"
    (second,) = [q for q in emulator.queries() if q not in (first, once)]
    assert (second.text, emulator.peek(second).state) == ("load", "RUNNING")
    emulator.stop(second)  # stopped: it starts again all the same, with the script it was planted with
    emulator.poll(second)
    assert emulator.poll(second).state == "CANCELED"
    (third,) = [q for q in emulator.queries() if q not in (first, once, second)]
    assert [s.state for s in third.steps] == ["RUNNING", "COMPLETED"]
    assert len(emulator.queries()) == 4  # each recurs once, however often it is polled afterwards
    emulator.poll(first)
    emulator.peek(second)
    assert len(emulator.queries()) == 4
