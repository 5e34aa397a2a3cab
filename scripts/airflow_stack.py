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

import json
import secrets
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.fernet import Fernet
from emulator_client import EmulatorControl
from postgres import PostgresServer, free_port
from process_sweep import new_tag, sweep
from sqlalchemy.engine import Engine
from stack_database import MetadataViews, RunWatcher, TaskTimes, TriggerRow, wait_until
from stack_environment import (
    AIRFLOW_3,
    AIRFLOW_VERSION,
    BIN,
    HA_TASK_HEARTBEAT_TIMEOUT,
    HA_TRIGGERER_HEALTH_CHECK_THRESHOLD,
    ROOT,
    StackEnvironment,
    ha_settings,
)
from stack_processes import StackProcesses

#: What the demo, the e2e tests and the HA demo import from here.
__all__ = ["AIRFLOW_3", "BIN", "HA_TASK_HEARTBEAT_TIMEOUT", "HA_TRIGGERER_HEALTH_CHECK_THRESHOLD", "ROOT",
           "AirflowStack", "RunWatcher", "TaskTimes", "TriggerRow", "ha_settings", "wait_until"]


@dataclass
class AirflowStack(StackEnvironment, StackProcesses, MetadataViews, EmulatorControl):
    """The whole deployment: its settings (the fields), its lifecycle (below) and, from the
    mixins, its environment, processes, database views and emulator control."""

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
    #: In the environment of every process this stack starts (``env()``), whichever session
    #: or group it ends up in: ``stop()`` ends whatever still carries it.
    tag: str = field(default_factory=lambda: new_tag("stack"))
    _engine: Engine | None = None
    #: The names of the triggerers started so far.
    _triggerers: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        if self.database == "sqlite" and self.executor == "LocalExecutor" and not AIRFLOW_3:
            raise ValueError(f"Airflow {AIRFLOW_VERSION} refuses LocalExecutor on SQLite; use database='postgres'.")

    def start(self, triggerers: int = 1) -> AirflowStack:
        """Start every process; if one cannot start, what did is stopped before the error
        propagates (``with AirflowStack(...)`` never reaches ``__exit__`` then)."""
        if triggerers > 1 and self.database != "postgres":
            raise ValueError("Several triggerers need PostgreSQL (SQLite has no SKIP LOCKED); use database='postgres'.")
        try:
            self._start(triggerers)
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self, triggerers: int) -> None:
        self.prepare()
        if AIRFLOW_3:
            self._spawn("api-server", str(BIN / "airflow"), "api-server", "--port", str(self.api_port))
            self._spawn("dag-processor", str(BIN / "airflow"), "dag-processor")
        else:
            self._spawn("webserver", str(BIN / "airflow"), "webserver", "--port", str(self.api_port))
        self._spawn("scheduler", str(BIN / "airflow"), "scheduler")
        for number in range(1, triggerers + 1):
            self.start_triggerer("triggerer" if triggerers == 1 else f"triggerer-{number}")

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

    def stop(self) -> None:
        """Stop every process (each group gracefully, then by SIGKILL), then end anything
        still carrying the stack's tag (a task process that left its group), then the
        database server. Safe to call more than once and after a failed start."""
        try:
            for name in list(self.processes):
                try:
                    self.stop_process(name)
                except (OSError, subprocess.SubprocessError) as err:
                    print(f"stopping {name} failed ({err}); the sweep below ends it", file=sys.stderr)
            for leftover in sweep(self.tag):
                print(f"the stack in {self.home} left {leftover}; stopped it", file=sys.stderr)
        finally:
            if self._engine is not None:
                self._engine.dispose()
                self._engine = None
            if self.postgres is not None:
                self.postgres.stop()
                self.postgres = None

    def __enter__(self) -> AirflowStack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

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
