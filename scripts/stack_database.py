"""What the stack's metadata database says: task and run states, who holds which trigger,
triggerer heartbeats; and :class:`RunWatcher`, which follows runs while a test acts."""

from __future__ import annotations

import datetime
import threading
import time
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from stack_environment import AIRFLOW_3


@dataclass
class TaskTimes:
    state: str = "none"
    deferred_seconds: float = 0.0
    #: When each state was first seen (UNIX time), e.g. to measure time-to-deferred.
    first_seen: dict[str, float] = field(default_factory=dict)
    _deferred_since: float | None = None

    def observe(self, state: str, now: float) -> None:
        self.first_seen.setdefault(state, now)
        if state == "deferred" and self._deferred_since is None:
            self._deferred_since = now
        elif state != "deferred" and self._deferred_since is not None:
            self.deferred_seconds += now - self._deferred_since
            self._deferred_since = None
        self.state = state


@dataclass(frozen=True)
class TriggerRow:
    """One row of the trigger table, with the task that deferred it and who runs it."""

    trigger_id: int
    dag_id: str
    run_id: str
    task_id: str
    #: The triggerer job id (``job.id``) holding it; None while unassigned.
    job_id: int | None
    #: The stack's name of that triggerer process (``triggerer-2``), or ``job-<id>``.
    triggerer: str | None


class MetadataViews:
    """The database half of :class:`~airflow_stack.AirflowStack` (a mixin over its fields;
    ``db_url`` and ``health_url`` come from :class:`~stack_environment.StackEnvironment`)."""

    home: Path
    database: str
    _engine: Engine | None
    _triggerers: set[str]

    def _query(self, sql: str, **params: Any) -> list[tuple]:
        """Read the metadata database; nothing (an empty list) before its tables exist."""
        if self._engine is None and self.database == "sqlite" and not (self.home / "airflow.db").exists():
            return []
        try:
            return self._strict_query(sql, **params)
        except SQLAlchemyError:
            return []

    def _strict_query(self, sql: str, **params: Any) -> list[tuple]:
        """Read the metadata database; errors are raised."""
        if self._engine is None:
            self._engine = create_engine(self.db_url)
        with self._engine.connect() as db:
            return [tuple(row) for row in db.execute(text(sql), params)]

    def triggerer_jobs(self) -> dict[int, str]:
        """Every triggerer job in the database: job id -> the stack's name of its process
        (``triggerer-2``: its hostname, see :meth:`start_triggerer`; a job of the single
        unnamed triggerer is ``triggerer``; anything else ``job-<id>``)."""
        names = {}
        for job_id, hostname in self._query("SELECT id, hostname FROM job WHERE job_type = 'TriggererJob'"):
            if hostname and hostname.startswith("triggerer-"):
                names[job_id] = hostname
            else:
                names[job_id] = "triggerer" if "triggerer" in self._triggerers else f"job-{job_id}"
        return names

    def triggerer_heartbeat_age(self, name: str) -> float | None:
        """Seconds since the newest job of triggerer ``name`` heartbeated (None: no job yet)."""
        jobs = {job_id for job_id, job_name in self.triggerer_jobs().items() if job_name == name}
        if not jobs:
            return None
        rows = self._query("SELECT latest_heartbeat FROM job WHERE id = :job_id", job_id=max(jobs))
        if not rows or rows[0][0] is None:
            return None
        beat: datetime.datetime = rows[0][0]
        if beat.tzinfo is None:  # SQLite: naive UTC
            beat = beat.replace(tzinfo=datetime.timezone.utc)
        return (datetime.datetime.now(datetime.timezone.utc) - beat).total_seconds()

    def wait_for_triggerer(self, name: str, timeout: float = 120) -> None:
        """Until triggerer ``name`` runs its job and heartbeats."""
        def beating() -> bool:
            age = self.triggerer_heartbeat_age(name)
            return age is not None and age < 5
        self._until(beating, timeout, f"triggerer {name} heartbeating")

    def triggers(self, run_ids: Iterable[str] | None = None) -> list[TriggerRow]:
        """The trigger table joined to the deferred task instances (optionally of some runs)."""
        return self._triggers(self._query, run_ids)

    def _triggers(self, query: Callable[..., list[tuple]], run_ids: Iterable[str] | None) -> list[TriggerRow]:
        names = self.triggerer_jobs()
        wanted = set(run_ids) if run_ids is not None else None
        rows = query(
            "SELECT t.id, ti.dag_id, ti.run_id, ti.task_id, t.triggerer_id "
            "FROM trigger t JOIN task_instance ti ON ti.trigger_id = t.id"
        )
        return [
            TriggerRow(trigger_id, dag_id, run_id, task_id, job_id,
                       None if job_id is None else names.get(job_id, f"job-{job_id}"))
            for trigger_id, dag_id, run_id, task_id, job_id in rows
            if wanted is None or run_id in wanted
        ]

    def trigger_counts(self, run_ids: Iterable[str] | None = None) -> dict[str, int]:
        """How many triggers each triggerer holds ("unassigned" for those nobody holds)."""
        counts: dict[str, int] = {}
        for row in self.triggers(run_ids):
            holder = row.triggerer or "unassigned"
            counts[holder] = counts.get(holder, 0) + 1
        return counts

    def wait_for_failover(
        self, trigger_ids: Iterable[int], away_from: str, since: float, timeout: float = 60, interval: float = 0.2
    ) -> dict[int, tuple[str | None, float]]:
        """Poll the trigger table until every trigger in ``trigger_ids`` is held by a triggerer
        other than ``away_from``; return, per trigger, its new holder and how many seconds
        after ``since`` (e.g. the kill) it was first seen there. A trigger whose row is gone
        was picked up, fired and cleaned up in between (holder None). Raises TimeoutError
        naming the triggers still held ``timeout`` seconds after ``since``."""
        pending = set(trigger_ids)
        moved: dict[int, tuple[str | None, float]] = {}
        while pending:
            try:
                rows = {row.trigger_id: row for row in self._triggers(self._strict_query, None)}
            except SQLAlchemyError:  # a failed read says nothing about where the triggers are
                rows = None
            now = time.time()
            if rows is not None:
                for trigger_id in sorted(pending):
                    row = rows.get(trigger_id)
                    if row is None or (row.triggerer is not None and row.triggerer != away_from):
                        moved[trigger_id] = (row.triggerer if row else None, now - since)
                        pending.discard(trigger_id)
            if pending and now - since > timeout:
                raise TimeoutError(f"{len(pending)} trigger(s) still not picked up {timeout:.0f}s after leaving "
                                   f"{away_from}: {sorted(pending)}")
            if pending:
                time.sleep(interval)
        return moved

    def wait_until_parsed(self, dag_ids: Iterable[str], timeout: float = 240) -> None:
        wanted = set(dag_ids)

        def parsed() -> bool:
            rows = self._query("SELECT dag_id FROM serialized_dag")
            return wanted <= {r[0] for r in rows}

        self._until(parsed, timeout, f"DAGs {sorted(wanted)} parsed")
        self._until(lambda: self._reachable(self.health_url), timeout, "api-server" if AIRFLOW_3 else "webserver")

    def task_states(self, run_id: str) -> dict[str, str]:
        rows = self._query("SELECT task_id, state FROM task_instance WHERE run_id = :run_id", run_id=run_id)
        return {task_id: state or "none" for task_id, state in rows}

    def run_state(self, run_id: str) -> str:
        rows = self._query("SELECT state FROM dag_run WHERE run_id = :run_id", run_id=run_id)
        return rows[0][0] if rows else "none"

    def follow(self, run_ids: Iterable[str], timeout: float = 600, on_tick=None) -> dict[str, dict[str, TaskTimes]]:
        """Poll the database until every run ends; record how long each task was deferred."""
        times: dict[str, dict[str, TaskTimes]] = {run_id: {} for run_id in run_ids}
        deadline = time.time() + timeout
        while time.time() < deadline:
            now = time.time()
            for run_id, tasks in times.items():
                for task_id, state in self.task_states(run_id).items():
                    tasks.setdefault(task_id, TaskTimes()).observe(state, now)
            if on_tick is not None:
                on_tick(times)
            if all(self.run_state(r) in {"success", "failed"} for r in times):
                return times
            time.sleep(0.2)
        raise TimeoutError(f"runs did not finish in {timeout}s: { {r: self.run_state(r) for r in times} }")

    def try_number(self, run_id: str, task_id: str) -> int:
        rows = self._query("SELECT try_number FROM task_instance WHERE run_id = :run_id AND task_id = :task_id",
                           run_id=run_id, task_id=task_id)
        return int(rows[0][0] or 0) if rows else 0

    def wait_for_runs(self, run_ids: Iterable[str], timeout: float) -> dict[str, str]:
        """Until every run ends (success or failed); their states."""
        run_ids = list(run_ids)
        self._until(lambda: all(self.run_state(r) in {"success", "failed"} for r in run_ids), timeout,
                    f"runs {run_ids} to end")
        return {r: self.run_state(r) for r in run_ids}

    @staticmethod
    def _reachable(url: str) -> bool:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return True
        except Exception:
            return False

    @staticmethod
    def _until(check, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
        deadline = time.time() + timeout
        while time.time() < deadline:
            if check():
                return
            time.sleep(0.5)
        raise TimeoutError(f"timed out waiting for {what}")


def wait_until(check: Callable[[], Any], timeout: float, what: str, interval: float = 0.2) -> Any:
    """Poll ``check`` until it returns something truthy (returned); TimeoutError after ``timeout`` s."""
    deadline = time.time() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.time() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)

class RunWatcher:
    """Follows the task states of DAG runs in a background thread, as :meth:`AirflowStack.follow`
    does, while the caller acts on the stack (kills, freezes, marks)."""

    def __init__(self, stack: MetadataViews, interval: float = 0.2) -> None:
        self.stack = stack
        self.interval = interval
        self._times: dict[str, dict[str, TaskTimes]] = {}
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="run-watcher", daemon=True)

    def watch(self, run_id: str) -> str:
        with self._lock:
            self._times.setdefault(run_id, {})
        return run_id

    def tasks(self, run_id: str) -> dict[str, TaskTimes]:
        with self._lock:
            return dict(self._times.get(run_id, {}))

    def states(self, run_id: str) -> dict[str, str]:
        return {task_id: times.state for task_id, times in self.tasks(run_id).items()}

    def _run(self) -> None:
        while not self._stopped.is_set():
            with self._lock:
                run_ids = list(self._times)
            for run_id in run_ids:
                states = self.stack.task_states(run_id)
                now = time.time()
                with self._lock:
                    tasks = self._times[run_id]
                    for task_id, state in states.items():
                        tasks.setdefault(task_id, TaskTimes()).observe(state, now)
            self._stopped.wait(self.interval)

    def __enter__(self) -> RunWatcher:
        self.stack._query("SELECT 1")  # create the engine before two threads can race to
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stopped.set()
        self._thread.join(10)
