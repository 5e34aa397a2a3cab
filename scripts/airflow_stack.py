"""A real Airflow deployment on this machine: the demo's and the end-to-end tests' engine.

Airflow 3: separate ``api-server``, ``scheduler``, ``dag-processor`` and ``triggerer``
processes. Airflow 2.11 has no api-server and no Task SDK: ``webserver``, ``scheduler``
(which parses the DAGs itself) and ``triggerer``. LocalExecutor in both, on a real
PostgreSQL server (``scripts/postgres.py``) or, for the demo, SQLite (Airflow 3 only:
Airflow 2 refuses LocalExecutor on SQLite). A fresh AIRFLOW_HOME, the project's example
DAGs, and an ``aws_default`` connection pointing at the emulator (itself a separate
process). Task states are read from the database, so deferral is observed as Airflow
records it.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from airflow import __version__ as AIRFLOW_VERSION
from cryptography.fernet import Fernet
from postgres import PostgresServer
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
TERMINAL = {"success", "failed", "skipped", "upstream_failed", "removed"}
AIRFLOW_3 = int(AIRFLOW_VERSION.split(".")[0]) >= 3


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


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


@dataclass
class AirflowStack:
    home: Path
    dags_folder: Path = ROOT / "dags"
    #: "postgres" (a real server, started here) or "sqlite" (Airflow 3 only).
    database: str = "postgres"
    emulator_port: int = field(default_factory=free_port)
    api_port: int = field(default_factory=free_port)
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    postgres: PostgresServer | None = None
    #: Shared by every process: trigger kwargs are stored encrypted, and every triggerer
    #: must read every trigger.
    fernet_key: str = field(default_factory=lambda: Fernet.generate_key().decode())
    secret: str = field(default_factory=lambda: secrets.token_hex(16))
    _engine: Engine | None = None

    def __post_init__(self) -> None:
        if self.database == "sqlite" and not AIRFLOW_3:
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
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "AWS_"))}
        secret = self.secret
        env.update(
            PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}",
            AIRFLOW_HOME=str(self.home),
            AIRFLOW__CORE__DAGS_FOLDER=str(self.dags_folder),
            AIRFLOW__CORE__LOAD_EXAMPLES="False",
            AIRFLOW__CORE__EXECUTOR="LocalExecutor",
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
        return env

    # -- processes ----------------------------------------------------------------------
    def _spawn(self, name: str, *args: str) -> None:
        log = open(self.home / f"{name}.log", "ab")  # noqa: SIM115 - owned by the child
        self.processes[name] = subprocess.Popen(
            list(args), env=self.env(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True, cwd=self.home
        )

    def start(self, triggerers: int = 1) -> AirflowStack:
        self.home.mkdir(parents=True, exist_ok=True)
        if not AIRFLOW_3:
            # Airflow 2's webserver (Flask-AppBuilder) takes its auth settings from this file:
            # anonymous requests act as Admin on this loopback-only, throw-away stack.
            (self.home / "webserver_config.py").write_text('AUTH_ROLE_PUBLIC = "Admin"\nWTF_CSRF_ENABLED = False\n')
        if self.database == "postgres":
            self.postgres = PostgresServer().start()
        self._spawn("emulator", str(BIN / "python"), "-m", "airflow_querystatus.emulator",
                    "--port", str(self.emulator_port))
        migrate = subprocess.run([str(BIN / "airflow"), "db", "migrate"], env=self.env(), capture_output=True)
        if migrate.returncode != 0:
            raise RuntimeError(f"airflow db migrate failed:\n{migrate.stderr.decode(errors='replace')[-3000:]}")
        if AIRFLOW_3:
            self._spawn("api-server", str(BIN / "airflow"), "api-server", "--port", str(self.api_port))
            self._spawn("dag-processor", str(BIN / "airflow"), "dag-processor")
        else:
            self._spawn("webserver", str(BIN / "airflow"), "webserver", "--port", str(self.api_port))
        self._spawn("scheduler", str(BIN / "airflow"), "scheduler")
        for number in range(1, triggerers + 1):
            self.start_triggerer("triggerer" if triggerers == 1 else f"triggerer-{number}")
        return self

    def start_triggerer(self, name: str = "triggerer") -> None:
        self._spawn(name, str(BIN / "airflow"), "triggerer")

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

    # -- database views ---------------------------------------------------------------------
    def _query(self, sql: str, **params: Any) -> list[tuple]:
        """Read the metadata database; nothing (an empty list) before its tables exist."""
        if self._engine is None:
            if self.database == "sqlite" and not (self.home / "airflow.db").exists():
                return []
            self._engine = create_engine(self.db_url)
        try:
            with self._engine.connect() as db:
                return [tuple(row) for row in db.execute(text(sql), params)]
        except SQLAlchemyError:
            return []

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

    def task_log(self, dag_id: str, run_id: str, task_id: str) -> str:
        paths = sorted((self.home / "logs").glob(f"dag_id={dag_id}/run_id={run_id}/task_id={task_id}/**/*.log"))
        return "\n".join(p.read_text(errors="replace") for p in paths)

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
