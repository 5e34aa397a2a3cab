"""``airflow dags test`` for every example DAG against a freshly started emulator, as a user runs it.

No scheduler, triggerer or api-server: one ``airflow db migrate`` (SQLite, Airflow's default
executor), the emulator started on its own (``python -m airflow_querystatus.emulator``, which
plants what the examples wait on), an ``aws_default`` connection pointing at it, then one
``airflow dags test <dag_id>`` process per example DAG. Each gets a copy of the migrated
database, so that they run side by side without contending for SQLite's one writer.

``python scripts/dags_test.py`` prints each DAG's outcome; ``tests/e2e/test_dags_test.py``
asserts it.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from airflow_stack import BIN, ROOT, AirflowStack
from demo import DAGS
from process_sweep import run_leaving_nothing
from sqlalchemy import create_engine, text

#: How many ``airflow dags test`` processes run at once: each spends most of its time waiting
#: on its deferred tasks' triggers (run in line) and the emulated queries, little on the CPU;
#: all six examples at once take about as long as the slowest (Neptune's, about 80 s).
PARALLEL = 6
#: Seconds one ``airflow dags test`` may take before it counts as hung.
TIMEOUT = 300.0


@dataclass
class DagTest:
    """What one ``airflow dags test`` run did."""

    dag_id: str
    returncode: int
    seconds: float
    output: str
    #: The run's state in the database ("none": no run was recorded).
    state: str = "none"
    #: Each task's final state.
    tasks: dict[str, str] = field(default_factory=dict)
    #: Tasks that needed more than one try (their earlier tries are in task_instance_history).
    retried: dict[str, int] = field(default_factory=dict)


def dags_test_stack(home: Path, dags_folder: Path = ROOT / "dags") -> AirflowStack:
    """A home with a migrated SQLite database and a freshly started emulator (stop() it)."""
    stack = AirflowStack(home=home, dags_folder=dags_folder, database="sqlite", executor=None)
    try:
        return stack.prepare()
    except BaseException:
        stack.stop()
        raise


def run_dags_test(stack: AirflowStack, dag_id: str, *, timeout: float = TIMEOUT) -> DagTest:
    """``airflow dags test <dag_id>`` in a home of its own (logs, a copy of the database)."""
    home = stack.home / "dags-test" / dag_id
    home.mkdir(parents=True, exist_ok=True)
    database = home / "airflow.db"
    shutil.copyfile(stack.home / "airflow.db", database)
    env = {**stack.env(), "AIRFLOW_HOME": str(home), "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{database}"}
    started = time.time()
    try:
        done = subprocess.run([str(BIN / "airflow"), "dags", "test", dag_id], env=env, cwd=home, timeout=timeout,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        returncode, output = done.returncode, done.stdout
    except subprocess.TimeoutExpired as hung:
        returncode, output = -1, (hung.stdout or b"") + f"\n[dags_test] timed out after {timeout:g}s".encode()
    result = DagTest(dag_id, returncode, time.time() - started, output.decode(errors="replace"))
    (home / "dags-test.log").write_text(result.output)
    _read_outcome(result, database)
    return result


def _read_outcome(result: DagTest, database: Path) -> None:
    engine = create_engine(f"sqlite:///{database}")
    try:
        with engine.connect() as db:
            run = db.execute(text("SELECT run_id, state FROM dag_run WHERE dag_id = :d ORDER BY id DESC LIMIT 1"),
                             {"d": result.dag_id}).first()
            if run is None:
                return
            result.state = run.state or "none"
            where = {"d": result.dag_id, "r": run.run_id}
            result.tasks = {row.task_id: row.state or "none" for row in db.execute(
                text("SELECT task_id, state FROM task_instance WHERE dag_id = :d AND run_id = :r"), where)}
            result.retried = {row.task_id: row.tries for row in db.execute(text(
                "SELECT task_id, count(*) + 1 AS tries FROM task_instance_history "
                "WHERE dag_id = :d AND run_id = :r GROUP BY task_id"), where)}
    finally:
        engine.dispose()


def run_all(stack: AirflowStack, dag_ids: list[str], parallel: int = PARALLEL) -> dict[str, DagTest]:
    """Every DAG, ``parallel`` at a time; results in the order given."""
    with ThreadPoolExecutor(max_workers=parallel) as pool:
        return dict(zip(dag_ids, pool.map(lambda dag_id: run_dags_test(stack, dag_id), dag_ids), strict=True))


def main() -> int:
    home = ROOT / ".airflow-demo" / "dags-test"
    shutil.rmtree(home, ignore_errors=True)
    started = time.time()
    stack = dags_test_stack(home)
    try:
        print(f"Database migrated and emulator started in {time.time() - started:.1f}s.", flush=True)
        results = run_all(stack, list(DAGS))
    finally:
        stack.stop()
    ok = True
    for dag_id, result in results.items():
        as_designed = result.state == DAGS[dag_id] and not result.retried
        ok &= as_designed
        print(f"{dag_id:<32} {result.state:<8} {result.seconds:5.1f}s  retried: {result.retried or '-'}  "
              f"{'as designed' if as_designed else 'EXPECTED ' + DAGS[dag_id]}")
    print(f"All done in {time.time() - started:.1f}s; logs in {home}.")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(run_leaving_nothing(main))
