"""End to end on a real Airflow 3: scheduler, dag-processor, api-server and triggerer
processes, SQLite, LocalExecutor, the emulator in its own process (slow; marked e2e).

All DAG runs start together and the triggerer is restarted while they are deferred, so every
pipeline also shows it survives a restart; each test then checks its own runs.
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from airflow_querystatus.compat import START_FROM_TRIGGER

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))

from airflow_stack import AirflowStack, TaskTimes  # noqa: E402
from demo import DAGS, plant_scripts  # noqa: E402

#: The sensors' and operators' waits poll in a real triggerer: CI runs this module with
#: [querystatus] prepared_status_calls off too. The HA tests' failovers start each moved wait
#: with a plain poll whatever the option says, and their later polls are these ones.
pytestmark = [pytest.mark.e2e, pytest.mark.prepared_sensitive]
RESTART_DAG = "e2e_triggerer_restart"
START_FROM_TRIGGER_DAG = "e2e_start_from_trigger"
KILL_DAG = "e2e_kill"
SETTINGS_DAG = "e2e_settings"
RESTART_AFTER = 6.0  # seconds after the restart DAG's sensors are deferred


@dataclass
class Runs:
    stack: AirflowStack
    run_ids: dict[str, str]  # dag_id -> run_id
    times: dict[str, dict[str, TaskTimes]]  # run_id -> task_id -> times
    deferred_at: float
    restart_began: float  # the old triggerer was sent SIGTERM
    restarted_at: float  # the new triggerer process was started
    finishing_query: str

    def tasks(self, dag_id: str) -> dict[str, TaskTimes]:
        return self.times[self.run_ids[dag_id]]


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runs]:
    home = tmp_path_factory.mktemp("airflow-e2e")
    dags = home / "dags"
    dags.mkdir()
    for source in [*(ROOT / "dags").glob("*.py"), *(Path(__file__).parent / "dags").glob("*.py")]:
        shutil.copy(source, dags / source.name)
    with AirflowStack(home=home, dags_folder=dags) as stack:
        stack.wait_for_emulator()
        plant_scripts(stack)
        stack.wait_until_parsed([*DAGS, RESTART_DAG, START_FROM_TRIGGER_DAG, KILL_DAG])
        # Its 30 s start at its first poll: on a loaded machine the scheduler may take longer
        # than that to start the sensor, which then finished at once and was never restarted.
        finishing = stack.emulator_call("POST", "/_emulator/queries", {
            "kind": "athena_calculation", "steps": [{"state": "RUNNING", "seconds": 30}, "COMPLETED"],
            "clock_from_first_poll": True})["query_id"]
        never = stack.emulator_call("POST", "/_emulator/queries", {
            "kind": "internet_monitor", "identifiers": {"monitor_name": "e2e-monitor"}, "steps": ["RUNNING"],
        })["query_id"]

        run_ids = {dag_id: stack.trigger(dag_id) for dag_id in DAGS}
        run_ids[RESTART_DAG] = stack.trigger(RESTART_DAG, {"finishing_id": finishing, "never_id": never})

        marks: dict[str, float] = {}

        def restart_while_deferred(times: dict[str, dict[str, TaskTimes]]) -> None:
            restart_tasks = times[run_ids[RESTART_DAG]]
            if "deferred_at" not in marks and restart_tasks and all(
                t.state == "deferred" for t in restart_tasks.values()
            ):
                marks["deferred_at"] = time.time()
            if "deferred_at" in marks and "restarted_at" not in marks and (
                time.time() - marks["deferred_at"] > RESTART_AFTER
            ):
                marks["restart_began"] = time.time()
                stack.restart_triggerer()
                marks["restarted_at"] = time.time()

        times = stack.follow(run_ids.values(), timeout=400, on_tick=restart_while_deferred)
        assert "restarted_at" in marks, "the triggerer was never restarted"
        yield Runs(stack, run_ids, times, marks["deferred_at"], marks["restart_began"], marks["restarted_at"],
                   finishing)


def test_every_example_pipeline_ends_as_expected(runs: Runs) -> None:
    stack = runs.stack
    for dag_id, expected in DAGS.items():
        state = stack.run_state(runs.run_ids[dag_id])
        assert state == expected, (dag_id, {t: v.state for t, v in runs.tasks(dag_id).items()})
    # The deferrable waits really went through the triggerer (and lived through its restart).
    # Their worker logs this line on deferring (every Airflow line); a deferral can be too
    # brief for follow() to sample on a loaded machine. An operator defers once it has started
    # its query; a Neptune sensor too (a finished query is gone from its status call). Other
    # sensors whose query has already succeeded end on the worker, without deferring.
    deferred_waits = {"example_athena_spark": "count_rows", "example_neptune": "wait_for_graph_load"}
    for dag_id, task_id in deferred_waits.items():
        assert "Pausing task as DEFERRED" in stack.task_log(dag_id, runs.run_ids[dag_id], task_id), (dag_id, task_id)
    failing = runs.run_ids["example_athena_spark_failing"]
    assert "ZeroDivisionError: division by zero" in stack.task_log(
        "example_athena_spark_failing", failing, "divide_by_zero"
    )


def test_deferred_sensors_survive_a_triggerer_restart_with_their_original_deadlines(runs: Runs) -> None:
    tasks = runs.tasks(RESTART_DAG)
    assert tasks["finishes_after_restart"].state == "success"
    timed_out = tasks["times_out_on_original_deadline"]
    assert timed_out.state == "failed"
    back_s = runs.restarted_at - runs.deferred_at
    print(json.dumps({"restart_began_s": round(runs.restart_began - runs.deferred_at, 1),
                      "triggerer_back_s": round(back_s, 1),
                      "timed_out_sensor_deferred_s": round(timed_out.deferred_seconds, 1)}))
    # timeout=20 counted from deferral. A deadline reset by the restart would keep the task
    # deferred until at least 20 s after the new triggerer started (back_s + 20). Kept, it
    # fires at 20 s, or, when stopping the old triggerer took so long on a loaded machine that
    # no triggerer ran at 20 s, at the new triggerer's first chance (its start-up and first
    # loop: allowed 15 s, which still tells it from a reset deadline).
    assert 17 <= timed_out.deferred_seconds < max(25.5, back_s + 15), (timed_out.deferred_seconds, back_s)
    log = runs.stack.task_log(RESTART_DAG, runs.run_ids[RESTART_DAG], "times_out_on_original_deadline")
    assert "AirflowSensorTimeout" in log and "the deadline" in log
    status = runs.stack.emulator_call("GET", f"/_emulator/queries/{runs.finishing_query}")
    assert status["state"] == "COMPLETED"


def test_start_from_trigger_never_takes_a_worker(runs: Runs) -> None:
    """Run alone (after the others), so that the time to deferred is not the scheduler's
    queue: the same wait deferred from a worker and started straight in the triggerer."""
    stack = runs.stack
    calculation = stack.emulator_call("POST", "/_emulator/queries", {
        "kind": "athena_calculation", "steps": [{"state": "RUNNING", "seconds": 10}, "COMPLETED"],
        "clock_from_first_poll": True,
    })["query_id"]
    triggered_at = time.time()
    run_id = stack.trigger(START_FROM_TRIGGER_DAG, {"calculation_id": calculation})
    tasks = stack.follow([run_id], timeout=120)[run_id]
    assert stack.run_state(run_id) == "success", {t: v.first_seen for t, v in tasks.items()}
    worker, direct = tasks["deferred_from_worker"], tasks["started_from_trigger"]
    to_deferred = {name: round(t.first_seen["deferred"] - triggered_at, 2) for name, t in
                   (("deferred_from_worker", worker), ("started_from_trigger", direct))}
    print(json.dumps({"time_to_deferred_s": to_deferred}))
    # A worker that defers a task logs this line (every Airflow line) in the task's log; the
    # states a worker passes through on the way can be too brief for follow() to sample.
    deferred_by_a_worker = "Pausing task as DEFERRED"
    assert deferred_by_a_worker in stack.task_log(START_FROM_TRIGGER_DAG, run_id, "deferred_from_worker")
    log = stack.task_log(START_FROM_TRIGGER_DAG, run_id, "started_from_trigger")
    if START_FROM_TRIGGER.available:
        # The templated id was rendered in the triggerer, and the task never reached a worker:
        # not before the wait, and not after it either (the trigger ended the task).
        assert not {"queued", "running"} & direct.first_seen.keys(), direct.first_seen
        assert deferred_by_a_worker not in log
        assert direct.first_seen["deferred"] <= worker.first_seen["deferred"]
    else:
        # Below 3.3 the sensor falls back to a normal deferral from a worker, same outcome.
        assert deferred_by_a_worker in log, log[-3000:]
    assert "reached COMPLETED" in log


def test_the_triggerer_takes_a_config_object_and_names_a_missing_connection(runs: Runs) -> None:
    """A botocore ``Config`` given to a deferrable sensor reaches the triggerer (as the JSON-safe
    options set); a connection id that does not exist is looked up in the triggerer, through
    its supervisor, and the task fails naming it rather than blaming the region."""
    stack = runs.stack
    stack.wait_until_parsed([SETTINGS_DAG])
    calculation = stack.emulator_call("POST", "/_emulator/queries", {
        "kind": "athena_calculation", "steps": [{"state": "RUNNING", "seconds": 3}, "COMPLETED"],
        "clock_from_first_poll": True,
    })["query_id"]
    run_id = stack.trigger(SETTINGS_DAG, {"calculation_id": calculation})
    tasks = stack.follow([run_id], timeout=180)[run_id]
    configured, missing = tasks["config_object_in_the_triggerer"], tasks["missing_connection_in_the_triggerer"]
    deferred = "Pausing task as DEFERRED"  # a worker deferred it: the wait ran in the triggerer
    log = stack.task_log(SETTINGS_DAG, run_id, "config_object_in_the_triggerer")
    assert configured.state == "success" and deferred in log and "reached COMPLETED" in log, log[-3000:]
    log = stack.task_log(SETTINGS_DAG, run_id, "missing_connection_in_the_triggerer")
    assert missing.state == "failed" and deferred in log, log[-3000:]
    assert "'aws_e2e_missing'" in log and "does not exist" in log, log[-3000:]
    assert "No AWS region" not in log


def test_marking_a_deferred_operator_failed_stops_its_query(runs: Runs) -> None:
    """What a user does in the UI. Below Airflow 3.3 the trigger only sees a cancellation
    (like a restart or a move), so it asks Airflow for the task state before stopping."""
    stack = runs.stack
    run_id = stack.trigger(KILL_DAG)
    task_id = "marked_failed_while_deferred"
    deadline = time.time() + 180
    while stack.task_states(run_id).get(task_id) != "deferred":
        assert time.time() < deadline, stack.task_states(run_id)
        time.sleep(0.5)
    # Mark it once the triggerer runs its trigger (it has polled): a task marked in the second
    # before its trigger starts has nothing running to cancel (RELIABILITY.md, known limits).
    while not (calculation := stack.emulator_call(
            "GET", f"/_emulator/queries?kind=athena_calculation&text={run_id}")["queries"][0])["status_calls"]:
        assert time.time() < deadline, calculation
        time.sleep(0.2)
    assert not calculation["stopped"]
    stack.set_task_state(KILL_DAG, run_id, task_id, "failed")
    marked_at = time.time()
    while not (status := stack.emulator_call("GET", f"/_emulator/queries/{calculation['query_id']}"))["stopped"]:
        assert time.time() - marked_at < 10, "the query was not stopped within 10 s of the user marking the task"
        time.sleep(0.2)
    print(json.dumps({"stopped_after_mark_s": round(time.time() - marked_at, 2)}))
    assert status["state"] in {"CANCELING", "CANCELED"}
    assert stack.task_states(run_id)[task_id] == "failed"
