"""``make demo``: every example pipeline on a real Airflow 3 with a real triggerer.

Starts the emulator, the api-server, scheduler, dag-processor and triggerer (SQLite,
LocalExecutor) in a fresh ``.airflow-demo/``, triggers every example DAG, and prints each
task's final state and how long it spent deferred. Stops everything it started.
"""

from __future__ import annotations

import re
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from airflow_stack import AIRFLOW_3, ROOT, AirflowStack, TaskTimes
from process_sweep import run_leaving_nothing

from airflow_querystatus.emulator.catalogue import CATALOGUE
from airflow_querystatus.emulator.examples import EXAMPLES

#: Every example pipeline, and the run state each should end in.
DAGS: dict[str, str] = {dag_id: outcome for example in EXAMPLES.values() for dag_id, outcome in example.dags.items()}


def plant_scripts(stack: AirflowStack) -> None:
    """Queries take a few seconds, so that the deferred waits are visible."""
    for kind, behaviour in CATALOGUE.items():
        if behaviour.demo_steps:
            stack.emulator_call("PUT", f"/_emulator/defaults/{kind}", {"steps": list(behaviour.demo_steps)})


def main() -> int:
    home = ROOT / ".airflow-demo"
    shutil.rmtree(home, ignore_errors=True)
    started = time.time()
    print("Starting the emulator and Airflow (api-server, scheduler, dag-processor, triggerer)...", flush=True)
    # SQLite is the embedded default; Airflow 2 refuses LocalExecutor on it, so there a
    # PostgreSQL server is started from the venv's own binaries (scripts/postgres.py).
    with AirflowStack(home=home, database="sqlite" if AIRFLOW_3 else "postgres") as stack:
        stack.wait_for_emulator()
        plant_scripts(stack)
        stack.wait_until_parsed(DAGS)
        # What the examples need (the graph loads their sensors wait on, the log group their Logs
        # Insights queries run over) the emulator planted when it started (emulator/examples.py).
        print(f"Airflow is up after {time.time() - started:.0f}s; triggering {len(DAGS)} pipelines.", flush=True)
        runs = {stack.trigger(dag_id): dag_id for dag_id in DAGS}
        times = stack.follow(runs, timeout=600)
        ok = report(stack, runs, times)
        print(f"\nDemo finished in {time.time() - started:.0f}s; logs in {home}.")
    return 0 if ok else 1


def report(stack: AirflowStack, runs: dict[str, str], times: dict[str, dict[str, TaskTimes]]) -> bool:
    """Print each task's final state and deferred time, per pipeline; True if every pipeline
    ended as expected (``runs``: run id -> dag id)."""
    ok = True
    print()
    print(f"{'pipeline':<32} {'task':<32} {'state':<10} {'deferred':>9}")
    for run_id, dag_id in runs.items():
        run_state = stack.run_state(run_id)
        for task_id, task in sorted(times[run_id].items()):
            deferred = f"{task.deferred_seconds:.1f}s" if task.deferred_seconds else "-"
            print(f"{dag_id:<32} {task_id:<32} {task.state:<10} {deferred:>9}")
        expected = DAGS[dag_id]
        verdict = "as expected" if run_state == expected else f"EXPECTED {expected}"
        ok &= run_state == expected
        print(f"{'':<32} {'=> run ' + run_state:<32} {verdict}")
        if run_state == "failed":
            for task_id, task in times[run_id].items():
                if task.state == "failed":
                    log = stack.task_log(dag_id, run_id, task_id)
                    reason = re.search(r"ended in state FAILED: ([^.\n\"]+)", log)
                    print(f"{'':<32} reason: {reason.group(1) if reason else '(see the task log)'}")
    return ok


if __name__ == "__main__":
    sys.exit(run_leaving_nothing(main))
