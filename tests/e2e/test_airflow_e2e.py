"""End to end on a real Airflow 3: scheduler, dag-processor, api-server and triggerer
processes, SQLite, LocalExecutor, the emulator in its own process (slow; marked e2e)."""

from __future__ import annotations

import json
import shutil
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))

from airflow_stack import AirflowStack  # noqa: E402
from demo import DAGS, plant_graph_load, plant_scripts  # noqa: E402

pytestmark = pytest.mark.e2e
RESTART_DAG = "e2e_triggerer_restart"
START_FROM_TRIGGER_DAG = "e2e_start_from_trigger"
STATUS_OK = "reached COMPLETED"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AirflowStack]:
    home = tmp_path_factory.mktemp("airflow-e2e")
    dags = home / "dags"
    dags.mkdir()
    for source in [*(ROOT / "dags").glob("*.py"), *(Path(__file__).parent / "dags").glob("*.py")]:
        shutil.copy(source, dags / source.name)
    with AirflowStack(home=home, dags_folder=dags) as running:
        running.wait_for_emulator()
        plant_scripts(running)
        running.wait_until_parsed([*DAGS, RESTART_DAG, START_FROM_TRIGGER_DAG])
        yield running


def test_every_example_pipeline_ends_as_expected(stack: AirflowStack) -> None:
    plant_graph_load(stack)
    runs = {stack.trigger(dag_id): dag_id for dag_id in DAGS}
    times = stack.follow(runs, timeout=400)
    for run_id, dag_id in runs.items():
        assert stack.run_state(run_id) == DAGS[dag_id], (dag_id, {t: v.state for t, v in times[run_id].items()})
    # The deferrable waits really went through the triggerer.
    deferred = {(runs[r], t) for r, tasks in times.items() for t, v in tasks.items() if v.deferred_seconds > 0}
    assert ("example_athena_spark", "wait_write_calculation") in deferred
    assert ("example_neptune", "wait_for_graph_load") in deferred
    failing_run = next(r for r, d in runs.items() if d == "example_athena_spark_failing")
    assert "ZeroDivisionError: division by zero" in stack.task_log(
        "example_athena_spark_failing", failing_run, "divide_by_zero"
    )


def test_deferred_sensors_survive_a_triggerer_restart_with_their_original_deadlines(stack: AirflowStack) -> None:
    finishing = stack.emulator_call("POST", "/_emulator/queries", {
        "kind": "athena_calculation", "steps": [{"state": "RUNNING", "seconds": 30}, "COMPLETED"]})["query_id"]
    never = stack.emulator_call("POST", "/_emulator/queries", {
        "kind": "internet_monitor", "identifiers": {"monitor_name": "e2e-monitor"}, "steps": ["RUNNING"]})["query_id"]
    run_id = stack.trigger(RESTART_DAG, {"finishing_id": finishing, "never_id": never})

    deadline = time.time() + 120
    while set(stack.task_states(run_id).values()) != {"deferred"}:
        assert time.time() < deadline, stack.task_states(run_id)
        time.sleep(0.5)
    deferred_at = time.time()

    restarted = {}

    def restart_once(times) -> None:  # type: ignore[no-untyped-def]
        if not restarted and time.time() - deferred_at > 6:
            stack.restart_triggerer()
            restarted["at"] = time.time() - deferred_at

    times = stack.follow([run_id], timeout=240, on_tick=restart_once)[run_id]
    assert restarted, "the triggerer was never restarted"
    assert times["finishes_after_restart"].state == "success"
    timed_out = times["times_out_on_original_deadline"]
    assert timed_out.state == "failed"
    # timeout=20 counted from deferral: a deadline reset by the restart (at ~6 s) would
    # keep the task deferred for 26 s or more.
    assert 17 <= timed_out.deferred_seconds < 25.5, timed_out.deferred_seconds
    log = stack.task_log(RESTART_DAG, run_id, "times_out_on_original_deadline")
    assert "AirflowSensorTimeout" in log and "the deadline" in log
    # Exactly one event reached each task: each resumed once and ended once.
    status = stack.emulator_call("GET", f"/_emulator/queries/{finishing}")
    assert status["state"] == "COMPLETED"


def test_start_from_trigger_skips_the_worker_before_the_wait(stack: AirflowStack) -> None:
    calculation = stack.emulator_call("POST", "/_emulator/queries", {
        "kind": "athena_calculation", "steps": [{"state": "RUNNING", "seconds": 15}, "COMPLETED"]})["query_id"]
    triggered_at = time.time()
    run_id = stack.trigger("e2e_start_from_trigger", {"calculation_id": calculation})
    times = stack.follow([run_id], timeout=120)[run_id]
    assert stack.run_state(run_id) == "success", {t: v.state for t, v in times.items()}
    worker, direct = times["deferred_from_worker"], times["started_from_trigger"]
    to_deferred = {name: round(t.first_seen["deferred"] - triggered_at, 2) for name, t in
                   (("deferred_from_worker", worker), ("started_from_trigger", direct))}
    print(json.dumps({"time_to_deferred_s": to_deferred}))
    # The templated id was rendered in the triggerer and the task never ran before deferring.
    assert "running" not in {s for s in direct.first_seen if direct.first_seen[s] < direct.first_seen["deferred"]}
    assert direct.first_seen["deferred"] <= worker.first_seen["deferred"]
    assert STATUS_OK in stack.task_log("e2e_start_from_trigger", run_id, "started_from_trigger")
