"""A real Airflow deployment on this machine: the demo's and the end-to-end tests' engine.

Airflow 3: separate ``api-server``, ``scheduler``, ``dag-processor`` and ``triggerer``
processes. Airflow 2.11 has no api-server and no Task SDK: ``webserver``, ``scheduler``
(which parses the DAGs itself) and ``triggerer``. LocalExecutor in both, on a real
PostgreSQL server (``scripts/postgres.py``) or, for the demo, SQLite (Airflow 3 only:
Airflow 2 refuses LocalExecutor on SQLite). A fresh AIRFLOW_HOME, the project's example
DAGs, and an ``aws_default`` connection pointing at the emulator (itself a separate
process). Task states are read from the database, so deferral is observed as Airflow
records it.

High availability (``make demo-ha``, ``tests/e2e/test_ha.py``): ``start(triggerers=2)`` runs
several triggerers on PostgreSQL, ``ha=True`` makes failover fast enough to measure, and the
helpers below say which triggerer runs which trigger and inject process faults (``kill -9``
or freeze one triggerer, kill a task's runner on its worker).
"""

from __future__ import annotations

import datetime
import json
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from airflow import __version__ as AIRFLOW_VERSION
from cryptography.fernet import Fernet
from postgres import PostgresServer, free_port
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
TERMINAL = {"success", "failed", "skipped", "upstream_failed", "removed"}
AIRFLOW_3 = int(AIRFLOW_VERSION.split(".")[0]) >= 3
#: The module a named triggerer takes its hostname from (see AirflowStack.start_triggerer).
HOSTNAME_MODULE = "querystatus_stack_hostname"
#: ``ha=True``: a triggerer whose heartbeat is this many seconds old loses its triggers to
#: another one (Airflow's default is 30).
HA_TRIGGERER_HEALTH_CHECK_THRESHOLD = 10
#: ``ha=True``: a task whose worker stopped heartbeating this long ago is failed (and retried)
#: by the scheduler (Airflow's default is 300). A task runner killed under a live supervisor
#: is reported at once anyway; this bounds the case where the whole worker dies.
HA_TASK_HEARTBEAT_TIMEOUT = 30


def ha_settings() -> dict[str, str]:
    """The settings of a high-availability stack: failover is fast enough to measure."""
    settings = {
        "AIRFLOW__TRIGGERER__TRIGGERER_HEALTH_CHECK_THRESHOLD": str(HA_TRIGGERER_HEALTH_CHECK_THRESHOLD),
    }
    if AIRFLOW_3:
        settings["AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT"] = str(HA_TASK_HEARTBEAT_TIMEOUT)
        settings["AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL"] = "2"
    else:  # the same options under their Airflow 2 names
        settings["AIRFLOW__SCHEDULER__SCHEDULER_ZOMBIE_TASK_THRESHOLD"] = str(HA_TASK_HEARTBEAT_TIMEOUT)
        settings["AIRFLOW__SCHEDULER__ZOMBIE_DETECTION_INTERVAL"] = "2"
    return settings


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


@dataclass
class AirflowStack:
    home: Path
    dags_folder: Path = ROOT / "dags"
    #: "postgres" (a real server, started here) or "sqlite" (Airflow 3 only, unless ``executor``
    #: is not LocalExecutor).
    database: str = "postgres"
    #: The executor every process is configured with; None: Airflow's default (what
    #: ``airflow dags test`` alone needs: it runs tasks in its own process).
    executor: str | None = "LocalExecutor"
    #: Production-shaped high availability (see :func:`ha_settings`): triggers leave a silent
    #: triggerer after 10 s; a task whose whole worker died fails (and retries) after 30 s.
    ha: bool = False
    emulator_port: int = field(default_factory=free_port)
    #: Extra arguments of ``python -m airflow_querystatus.emulator`` (e.g. ``--no-examples``:
    #: without the running queries it plants for the example DAGs).
    emulator_args: tuple[str, ...] = ()
    api_port: int = field(default_factory=free_port)
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    postgres: PostgresServer | None = None
    #: Shared by every process: trigger kwargs are stored encrypted, and every triggerer
    #: must read every trigger.
    fernet_key: str = field(default_factory=lambda: Fernet.generate_key().decode())
    secret: str = field(default_factory=lambda: secrets.token_hex(16))
    _engine: Engine | None = None
    #: The names of the triggerers started so far.
    _triggerers: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        if self.database == "sqlite" and self.executor == "LocalExecutor" and not AIRFLOW_3:
            raise ValueError(f"Airflow {AIRFLOW_VERSION} refuses LocalExecutor on SQLite; use database='postgres'.")

    @property
    def emulator_url(self) -> str:
        return f"http://127.0.0.1:{self.emulator_port}"

    @property
    def db_url(self) -> str:
        if self.database == "postgres":
            if self.postgres is None:
                raise RuntimeError("PostgreSQL is not started yet")
            return self.postgres.url
        return f"sqlite:///{self.home / 'airflow.db'}"

    def env(self) -> dict[str, str]:
        # The caller's Airflow and AWS settings stay out, except this provider's own section
        # (``make test PREPARED=off`` runs the stack with prepared status calls turned off).
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("AIRFLOW", "AWS_")) or k.startswith("AIRFLOW__QUERYSTATUS__")}
        secret = self.secret
        env.update(
            PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}",
            AIRFLOW_HOME=str(self.home),
            AIRFLOW__CORE__DAGS_FOLDER=str(self.dags_folder),
            AIRFLOW__CORE__LOAD_EXAMPLES="False",
            AIRFLOW__CORE__PARALLELISM="8",
            AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION="False",
            AIRFLOW__CORE__EXECUTION_API_SERVER_URL=f"http://127.0.0.1:{self.api_port}/execution/",
            AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=self.db_url,
            AIRFLOW__CORE__FERNET_KEY=self.fernet_key,
            AIRFLOW__WEBSERVER__SECRET_KEY=secret,
            AIRFLOW__WEBSERVER__WEB_SERVER_HOST="127.0.0.1",
            AIRFLOW__WEBSERVER__WEB_SERVER_PORT=str(self.api_port),
            AIRFLOW__WEBSERVER__WORKERS="1",
            # Airflow 2's REST API: no login on this loopback-only throw-away stack.
            AIRFLOW__API__AUTH_BACKENDS="airflow.api.auth.backend.default",
            AIRFLOW__API__PORT=str(self.api_port),
            AIRFLOW__API__HOST="127.0.0.1",
            AIRFLOW__API__SECRET_KEY=secret,
            AIRFLOW__API_AUTH__JWT_SECRET=secret,
            AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS="True",
            AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC="1",
            AIRFLOW__SCHEDULER__MIN_FILE_PROCESS_INTERVAL="5",
            AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL="5",
            AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC="1",
            AIRFLOW__LOGGING__LOGGING_LEVEL="INFO",
            AIRFLOW_CONN_AWS_DEFAULT=json.dumps(
                {
                    "conn_type": "aws",
                    "login": "demo-access-key",
                    "password": "demo-secret-key",
                    "extra": {"region_name": "us-east-1", "endpoint_url": self.emulator_url},
                }
            ),
            AWS_EC2_METADATA_DISABLED="true",
        )
        if self.executor is not None:
            env["AIRFLOW__CORE__EXECUTOR"] = self.executor
        if self.ha:
            env.update(ha_settings())
        return env

    # -- processes ----------------------------------------------------------------------
    def _spawn(self, name: str, *args: str, env: dict[str, str] | None = None) -> None:
        log = open(self.home / f"{name}.log", "ab")  # noqa: SIM115 - owned by the child
        self.processes[name] = subprocess.Popen(
            list(args), env={**self.env(), **(env or {})}, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True, cwd=self.home,
        )

    def start(self, triggerers: int = 1) -> AirflowStack:
        if triggerers > 1 and self.database != "postgres":
            raise ValueError("Several triggerers need PostgreSQL (SQLite has no SKIP LOCKED); use database='postgres'.")
        self.prepare()
        if AIRFLOW_3:
            self._spawn("api-server", str(BIN / "airflow"), "api-server", "--port", str(self.api_port))
            self._spawn("dag-processor", str(BIN / "airflow"), "dag-processor")
        else:
            self._spawn("webserver", str(BIN / "airflow"), "webserver", "--port", str(self.api_port))
        self._spawn("scheduler", str(BIN / "airflow"), "scheduler")
        for number in range(1, triggerers + 1):
            self.start_triggerer("triggerer" if triggerers == 1 else f"triggerer-{number}")
        return self

    def prepare(self) -> AirflowStack:
        """The home, the database (migrated) and the emulator, but no Airflow process: what
        every process needs, and all that ``airflow dags test`` needs."""
        self.home.mkdir(parents=True, exist_ok=True)
        if not AIRFLOW_3:
            # Airflow 2's webserver (Flask-AppBuilder) takes its auth settings from this file:
            # anonymous requests act as Admin on this loopback-only, throw-away stack.
            (self.home / "webserver_config.py").write_text('AUTH_ROLE_PUBLIC = "Admin"\nWTF_CSRF_ENABLED = False\n')
        if self.database == "postgres":
            self.postgres = PostgresServer().start()
        self._start_emulator()
        migrate = subprocess.run([str(BIN / "airflow"), "db", "migrate"], env=self.env(), capture_output=True)
        if migrate.returncode != 0:
            raise RuntimeError(f"airflow db migrate failed:\n{migrate.stderr.decode(errors='replace')[-3000:]}")
        return self

    def _start_emulator(self, attempts: int = 3) -> None:
        """Start the emulator and wait until it answers, before any Airflow process takes its
        URL. Its port was free when picked, but another server (PostgreSQL's, another test's)
        may take it first: then it starts again on a new one."""
        for _ in range(attempts):
            self._spawn("emulator", str(BIN / "python"), "-m", "airflow_querystatus.emulator",
                        "--port", str(self.emulator_port), "--credentials", "demo-access-key:demo-secret-key",
                        *self.emulator_args)
            process, deadline = self.processes["emulator"], time.time() + 60
            while process.poll() is None and time.time() < deadline:
                if self._reachable(self.emulator_url + "/_emulator/stats"):
                    return
                time.sleep(0.2)
            self.stop_process("emulator")
            self.emulator_port = free_port()
        raise RuntimeError(f"the emulator did not start; see {self.home / 'emulator.log'}")

    def start_triggerer(self, name: str = "triggerer") -> None:
        """Start one triggerer. One named other than ``triggerer`` (``triggerer-2``) reports its
        name as its hostname, as if on a host of its own, so that its job row in the database
        (which has no pid) says which process it is; and each serves its trigger logs on a
        port of its own (several on one host would contend for the default, 8794)."""
        env = {}
        if name != "triggerer":
            site = self.home / "stack_python"
            site.mkdir(exist_ok=True)
            (site / f"{HOSTNAME_MODULE}.py").write_text(
                '"""Written by scripts/airflow_stack.py: each triggerer\'s hostname is its stack name."""\n'
                "import os\n\n\ndef hostname() -> str:\n"
                '    return os.environ["QUERYSTATUS_STACK_PROCESS"]\n'
            )
            env = {
                "QUERYSTATUS_STACK_PROCESS": name,
                "AIRFLOW__CORE__HOSTNAME_CALLABLE": f"{HOSTNAME_MODULE}.hostname",
                "PYTHONPATH": os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")])),
                "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
            }
        self._spawn(name, str(BIN / "airflow"), "triggerer", env=env)
        self._triggerers.add(name)

    @property
    def health_url(self) -> str:
        path = "/api/v2/monitor/health" if AIRFLOW_3 else "/health"
        return f"http://127.0.0.1:{self.api_port}{path}"

    def stop_process(self, name: str, sig: int = signal.SIGTERM, wait: float = 30) -> None:
        proc = self.processes.pop(name, None)
        if proc is None or proc.poll() is not None:
            return
        os.killpg(proc.pid, sig)
        try:
            proc.wait(wait)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)

    def restart_triggerer(self) -> None:
        self.stop_process("triggerer")
        self.start_triggerer()

    # -- high availability: who runs what, and faults on one process -------------------------
    def signal_process(self, name: str, sig: int) -> None:
        """Send ``sig`` to one process group the stack started, e.g. ``kill -9`` one triggerer
        (SIGKILL: the process is reaped and forgotten), or freeze (SIGSTOP) and thaw (SIGCONT) it.

        Each process runs in its own session, so the group holds its children too (the
        triggerer's trigger-runner subprocess on Airflow 3)."""
        proc = self.processes[name]
        os.killpg(proc.pid, sig)
        if sig == signal.SIGKILL:
            proc.wait(30)
            del self.processes[name]

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

    def task_runner_pids(self, dag_id: str, run_id: str, task_id: str) -> list[int]:
        """The process running this task's code on a worker (empty when none runs it now).

        Found by its process title: the Task SDK's runner sets ``airflow worker -- <task
        instance id>`` (Airflow 3; the id changes with each try), Airflow 2's standard task
        runner ``airflow task runner: <dag_id> <task_id> <run_id> <job_id>``."""
        if AIRFLOW_3:
            rows = self._query("SELECT id FROM task_instance WHERE dag_id = :dag_id AND run_id = :run_id "
                               "AND task_id = :task_id", dag_id=dag_id, run_id=run_id, task_id=task_id)
            titles = {f"airflow worker -- {row[0]}" for row in rows}

            def matches(args: str) -> bool:
                return args in titles
        else:
            prefix = f"airflow task runner: {dag_id} {task_id} {run_id}"

            def matches(args: str) -> bool:
                return args == prefix or args.startswith(prefix + " ")

        listing = subprocess.run(["ps", "-eo", "pid=,args="], capture_output=True, text=True, check=True).stdout
        pids = []
        for line in listing.splitlines():
            pid, _, args = line.strip().partition(" ")
            if matches(args.strip()):
                pids.append(int(pid))
        return pids

    def kill_task_runner(self, dag_id: str, run_id: str, task_id: str, sig: int = signal.SIGKILL) -> int:
        """What the OOM killer does to a worker's task process: ``sig`` to its runner. Its
        supervisor reports the try failed (up for retry when it has retries left)."""
        pids = self.task_runner_pids(dag_id, run_id, task_id)
        if not pids:
            raise LookupError(f"no task runner process for {dag_id}.{task_id} ({run_id})")
        for pid in pids:
            os.kill(pid, sig)
        return pids[0]

    def stop(self) -> None:
        for name in list(self.processes):
            self.stop_process(name)
        if self._engine is not None:
            self._engine.dispose()
        if self.postgres is not None:
            self.postgres.stop()

    def __enter__(self) -> AirflowStack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- emulator control -------------------------------------------------------------------
    def emulator_call(self, method: str, path: str, body: object | None = None) -> dict:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(f"{self.emulator_url}{path}", data=data, method=method,
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read() or b"{}")

    def wait_for_emulator(self, timeout: float = 60) -> None:
        self._until(lambda: self._reachable(self.emulator_url + "/_emulator/stats"), timeout, "emulator")

    def emulator_queries(self, kind: str | None = None, text: str | None = None) -> list[dict]:
        """The emulator's queries (of a kind, whose text contains ``text``), oldest first, each
        with ``query_id``, ``state``, ``status_calls``, ``stopped`` and ``history``."""
        params = {k: v for k, v in (("kind", kind), ("text", text)) if v is not None}
        return self.emulator_call("GET", f"/_emulator/queries?{urllib.parse.urlencode(params)}")["queries"]

    def emulator_requests(self) -> dict[str, int]:
        """Requests the emulator answered so far, per operation (``start_query``, ``stop_query``...)."""
        return dict(self.emulator_call("GET", "/_emulator/stats")["requests"])

    def stop_calls(self) -> dict[str, int]:
        """Every stop or cancel request the emulator received, per operation."""
        return {op: n for op, n in self.emulator_requests().items() if op.startswith(("stop_", "cancel_"))}

    # -- database views ---------------------------------------------------------------------
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

    def wait_until_parsed(self, dag_ids: Iterable[str], timeout: float = 240) -> None:
        wanted = set(dag_ids)

        def parsed() -> bool:
            rows = self._query("SELECT dag_id FROM serialized_dag")
            return wanted <= {r[0] for r in rows}

        self._until(parsed, timeout, f"DAGs {sorted(wanted)} parsed")
        self._until(lambda: self._reachable(self.health_url), timeout, "api-server" if AIRFLOW_3 else "webserver")

    def trigger(self, dag_id: str, conf: dict | None = None) -> str:
        run_id = f"demo__{dag_id}__{int(time.time() * 1000)}"
        cmd = [str(BIN / "airflow"), "dags", "trigger", dag_id, "--run-id", run_id]
        if conf:
            cmd += ["--conf", json.dumps(conf)]
        subprocess.run(cmd, env=self.env(), check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        return run_id

    def set_task_state(self, dag_id: str, run_id: str, task_id: str, state: str) -> None:
        """What a user does in the UI: mark a task instance (e.g. "failed"), through the REST API."""
        base = f"http://127.0.0.1:{self.api_port}"
        path = f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}"
        headers = {"Content-Type": "application/json"}
        if AIRFLOW_3:
            with urllib.request.urlopen(f"{base}/auth/token", timeout=30) as answer:  # all-admins mode
                headers["Authorization"] = f"Bearer {json.loads(answer.read())['access_token']}"
            url, body = f"{base}/api/v2{path}", {"new_state": state}
        else:
            url, body = f"{base}/api/v1{path}", {"dry_run": False, "new_state": state}
        request = urllib.request.Request(url, data=json.dumps(body).encode(), method="PATCH", headers=headers)
        with urllib.request.urlopen(request, timeout=60):
            pass

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

    def process_log(self, name: str) -> str:
        """What one process the stack started (``triggerer-2``, ``scheduler``) wrote so far."""
        path = self.home / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def task_log(self, dag_id: str, run_id: str, task_id: str) -> str:
        paths = sorted((self.home / "logs").glob(f"dag_id={dag_id}/run_id={run_id}/task_id={task_id}/**/*.log"))
        return "\n".join(p.read_text(errors="replace") for p in paths)

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

    def __init__(self, stack: AirflowStack, interval: float = 0.2) -> None:
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
