"""Where a stack's processes live and what they are told: paths, the Airflow line, and the
environment every process of :class:`~airflow_stack.AirflowStack` starts with (a fresh
AIRFLOW_HOME, the database, the emulator as ``aws_default``, and fast heartbeats)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from postgres import PostgresServer

ROOT = Path(__file__).resolve().parent.parent
#: Names the bin directory of another venv whose Airflow the stacks run (its ``airflow`` CLI,
#: its ``python`` for the emulator), instead of this interpreter's own: ``make check-install``
#: points it at a fresh user-like install of the built wheel, so that the same assertions
#: (tests/e2e/test_dags_test.py) apply to what users get rather than to the project's lock.
AIRFLOW_BIN_VARIABLE = "QUERYSTATUS_AIRFLOW_BIN"


def _airflow_version(bin_dir: Path) -> str:
    """The Airflow version the stacks run: this process's own, or that of the other venv
    (asked of its interpreter, since that Airflow is not importable here)."""
    if bin_dir == Path(sys.executable).parent:
        from airflow import __version__

        return __version__
    ask = "import importlib.metadata as m; print(m.version('apache-airflow'))"
    answer = subprocess.run([str(bin_dir / "python"), "-c", ask], check=True, capture_output=True, text=True)
    return answer.stdout.strip()


BIN = Path(os.environ.get(AIRFLOW_BIN_VARIABLE) or Path(sys.executable).parent)
AIRFLOW_VERSION = _airflow_version(BIN)
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


class StackEnvironment:
    """The environment half of :class:`~airflow_stack.AirflowStack` (a mixin over its fields)."""

    home: Path
    dags_folder: Path
    database: str
    executor: str | None
    ha: bool
    emulator_port: int
    api_port: int
    postgres: PostgresServer | None
    fernet_key: str
    secret: str
    tag: str

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

    @property
    def health_url(self) -> str:
        path = "/api/v2/monitor/health" if AIRFLOW_3 else "/health"
        return f"http://127.0.0.1:{self.api_port}{path}"

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
        env[self.tag] = "1"  # every process of this stack carries it (process_sweep)
        return env
