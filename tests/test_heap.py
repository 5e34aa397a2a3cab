"""``[querystatus] freeze_triggerer_heap``: full collections become periodic, the long-lived
heap is frozen in between, and cycles that died while frozen are freed at the next thaw.

Each test runs in a fresh interpreter: the option changes the whole process's collector.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap


def _run(code: str, *, option: str | None) -> str:
    env = {k: v for k, v in os.environ.items() if k != "AIRFLOW__QUERYSTATUS__FREEZE_TRIGGERER_HEAP"}
    if option is not None:
        env["AIRFLOW__QUERYSTATUS__FREEZE_TRIGGERER_HEAP"] = option
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


TRIGGER_RUN = """
    import asyncio, gc, json, time
    from airflow_querystatus.emulator import EmulatorServer
    from airflow_querystatus.triggers.athena import AthenaCalculationExecutionTrigger

    with EmulatorServer() as server:
        import os
        os.environ["AIRFLOW_CONN_AWS_DEFAULT"] = json.dumps({
            "conn_type": "aws", "login": "test-key", "password": "test-secret",
            "extra": {"region_name": "us-east-1", "endpoint_url": server.url}})
        query = server.emulator.add_query("athena_calculation", steps=["COMPLETED"])
        trigger = AthenaCalculationExecutionTrigger(calculation_execution_id=query.query_id, poll_interval=0.05)

        async def first_event():
            async for event in trigger.run():
                return event.payload["status"]

        status = asyncio.run(first_event())
    print(json.dumps({"status": status, "threshold": gc.get_threshold(), "frozen": gc.get_freeze_count()}))
"""


def test_off_by_default_the_collector_is_left_alone() -> None:
    import json

    report = json.loads(_run(TRIGGER_RUN, option=None).splitlines()[-1])
    assert report["status"] == "success"
    assert report["threshold"][2] < 1000 and report["frozen"] == 0


def test_on_the_first_trigger_freezes_the_heap_and_stops_automatic_full_collections() -> None:
    import json

    report = json.loads(_run(TRIGGER_RUN, option="True").splitlines()[-1])
    assert report["status"] == "success"
    assert report["threshold"][2] >= 2**30  # no automatic full collection
    assert report["frozen"] > 10_000  # Airflow's and this package's modules, at least


def test_cycles_that_die_while_frozen_are_freed_at_the_thaw_not_before() -> None:
    out = _run("""
        import gc, time, weakref
        from airflow_querystatus import heap
        heap.FREEZE_INTERVAL, heap.THAW_INTERVAL = 0.3, 1.0

        class Node:
            pass

        node = Node(); node.self = node  # a reference cycle: only the collector frees it
        alive = weakref.ref(node)
        assert heap.keep_long_lived_objects_frozen()  # frozen with the rest of the heap
        del node
        time.sleep(0.5)  # a short collection ran: frozen objects are not walked
        print("after the short collection:", alive() is not None)
        time.sleep(1.0)  # the thaw: the whole heap is collected
        print("after the thaw:", alive() is not None)
        assert heap.keep_long_lived_objects_frozen()  # once per process
        print("keepers:", sum(t.name == "querystatus-heap-keeper" for t in __import__("threading").enumerate()))
    """, option="True")
    assert "after the short collection: True" in out
    assert "after the thaw: False" in out
    assert "keepers: 1" in out


def test_a_wrong_value_names_the_option() -> None:
    env = {**os.environ, "AIRFLOW__QUERYSTATUS__FREEZE_TRIGGERER_HEAP": "maybe"}
    done = subprocess.run([sys.executable, "-c", "from airflow_querystatus import heap; heap.enabled()"], env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode != 0
    assert "freeze_triggerer_heap" in done.stderr and "maybe" in done.stderr
