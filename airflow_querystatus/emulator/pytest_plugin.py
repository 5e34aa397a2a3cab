"""pytest fixtures for testing your own DAGs against the emulator (installed with the package).

The package registers this module as a pytest plugin (``pytest11`` entry point), so that any
project with airflow-querystatus installed has these fixtures without a ``conftest.py`` line:

``querystatus_emulator``
    The session's emulator (started on 127.0.0.1 on first use), as an :class:`EmulatorHandle`,
    emptied before each test: no query, log group, session, script, fault, quota or request
    count of an earlier test is visible, so counts start at zero.
``querystatus_private_emulator``
    An emulator of the test's own, stopped after it.
``querystatus_aws_connection``
    Points the Airflow connection ``querystatus_conn_id`` (``aws_default`` unless you override
    that fixture) at ``querystatus_emulator`` for the test, through ``AIRFLOW_CONN_<ID>``, with
    keys the emulator verifies SigV4 signatures with. Returns the connection id.
``querystatus_run_dag``
    Runs a DAG once in the test's process (``dag.test()``) and returns a :class:`DagRunResult`:
    the run's state, each task's state and XComs, and the text the run printed (task logs).
``querystatus_airflow_home``
    The session's own Airflow home (a :class:`~pathlib.Path`), when the ``querystatus_dags_folder``
    ini option is set.

One ini option (``pytest.ini``, ``[tool.pytest.ini_options]``...) does the Airflow setup
``dag.test()`` needs: ``querystatus_dags_folder = dags`` (relative to the ini file) gives the
session an Airflow home of its own in a temporary directory (never ``~/airflow``), with that
DAGs folder, no example DAGs, and a SQLite metadata database migrated once per session (a copy
per pytest-xdist worker). It is set up before any conftest or test module imports Airflow.

``querystatus_fast_polls = true`` makes every wait of the package poll at most every 0.1 s
(``[querystatus] max_poll_interval_override``), so DAGs keep their production intervals and the
tests still run fast.

Nothing else happens at import: the emulator starts only when a test asks for a fixture, and no
environment variable is set outside the tests that ask for the connection unless an ini option
above asks for it.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from airflow_querystatus.emulator.logs import LogGroup
    from airflow_querystatus.emulator.model import Emulator, Query
    from airflow_querystatus.emulator.server import EmulatorServer

#: The keys of the connection the fixtures configure; the emulator checks their signatures.
ACCESS_KEY = "querystatus-emulator-key"
SECRET_KEY = "querystatus-emulator-secret"
REGION = "us-east-1"
#: The ini options of the plugin (see the module docstring).
DAGS_FOLDER_OPTION = "querystatus_dags_folder"
FAST_POLLS_OPTION = "querystatus_fast_polls"
#: Where waits poll at most every this many seconds under ``querystatus_fast_polls``.
FAST_POLL_INTERVAL = 0.1


class EmulatorHandle:
    """A running emulator, as a test sees it: its URL, an ``aws`` connection to it, and helpers
    to create, script and fault queries and to create log groups (the same things the
    ``/_emulator/`` API does)."""

    def __init__(self, server: EmulatorServer) -> None:
        self.server = server

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``: the ``endpoint_url`` AWS clients need."""
        return self.server.url

    @property
    def emulator(self) -> Emulator:
        """The emulator's state (every query, request counts, ...)."""
        return self.server.emulator

    def create(
        self,
        kind: str,
        identifiers: Mapping[str, str] | None = None,
        *,
        steps: Iterable[Any] | None = None,
        faults: Iterable[Mapping[str, Any]] = (),
        query_id: str | None = None,
        text: str | None = None,
        result_rows: int = 3,
        session_id: str | None = None,
    ) -> Query:
        """A query your DAG will wait on, as if it had been started: ``kind`` is the operation's
        key (``internet_monitor_query``, ...), ``identifiers`` its scope (``{"monitor_name": ...}``),
        ``steps`` its script and ``faults`` what its calls meet first (docs: "The emulator");
        ``session_id``: the Athena session a calculation runs in (``create_athena_session``), so
        that ListCalculationExecutions lists it."""
        return self.emulator.add_query(kind, identifiers, steps=steps, faults=faults, query_id=query_id,
                                       text=text, result_rows=result_rows, session_id=session_id)

    def create_log_group(self, name: str, events: Iterable[Mapping[str, Any]] = ()) -> LogGroup:
        """A CloudWatch Logs log group your Logs Insights queries run over (StartQuery refuses one
        that does not exist, as AWS does), with ``events`` (``{"message", "timestamp"}``,
        milliseconds, default now), which a query over it answers as its rows. Creating it
        again adds the events."""
        return self.emulator.create_log_group(name, events)

    def create_athena_session(self, work_group: str = "primary", state: str = "IDLE") -> str:
        """An Athena Spark session your DAG starts calculations in (StartCalculationExecution
        refuses an unknown or ended one, as AWS does); returns its ``SessionId``."""
        return self.emulator.create_session(work_group, state)

    def create_loader_job(self, steps: Iterable[Any] | None = None, *,
                          faults: Iterable[Mapping[str, Any]] = ()) -> Query:
        """A Neptune bulk load your DAG waits on (``GetLoaderJobStatus``), as if StartLoaderJob
        had started it: its ``query_id`` is the ``loadId``; ``steps`` are loader states
        (``LOAD_IN_PROGRESS``, ``LOAD_COMPLETED``, ``LOAD_FAILED``...)."""
        return self.create("neptune_loader_job", steps=steps, faults=faults)

    def script(self, kind: str, steps: Iterable[Any]) -> None:
        """The script of every query of ``kind`` your code starts from now on (this test only,
        with ``querystatus_emulator``)."""
        self.emulator.set_default_steps(kind, steps)

    def fault(self, *faults: Mapping[str, Any]) -> None:
        """Faults for the next calls to any query (each may name its ``operations``)."""
        self.emulator.add_global_faults(faults)

    def state(self, query_id: str) -> str:
        """The state the query's next status call would see, without counting as one."""
        query = self.emulator.query(query_id)
        return self.emulator.peek(query).state

    def queries(self, kind: str | None = None) -> list[Query]:
        """Every query (of ``kind``), including those your code started."""
        return self.emulator.queries(kind)

    def requests(self) -> dict[str, int]:
        """How many calls the emulator answered, per operation (``get_query_status``: 3, ...)."""
        return dict(self.emulator.requests)

    def set_quota(self, operation: str, rate: float, burst: float | None = None) -> None:
        """An account-wide quota for ``operation`` (API name, ``GetQueryResults``; ``*``: every
        operation without one): ``rate`` calls a second, ``burst`` at once (default
        ``max(1, rate)``); calls over it meet the service's ``ThrottlingException``. This test only."""
        self.emulator.set_quota(operation, rate, burst)

    def clear_quotas(self) -> None:
        """No quota any more, and the quota counters back to zero."""
        self.emulator.clear_quotas()

    def quota_counters(self) -> dict[str, dict[str, int]]:
        """``{"GetQueryResults": {"served": n, "throttled": m}, ...}``: per operation, the calls
        the quotas let through and those they throttled."""
        return self.emulator.quota_counters()

    def connection(self, **extra: Any) -> dict[str, Any]:
        """An ``aws`` connection to this emulator, as ``AIRFLOW_CONN_<ID>`` JSON takes it."""
        return {"conn_type": "aws", "login": ACCESS_KEY, "password": SECRET_KEY,
                "extra": {"region_name": REGION, "endpoint_url": self.url, **extra}}

    def use_as_connection(self, monkeypatch: pytest.MonkeyPatch, conn_id: str = "aws_default", **extra: Any) -> str:
        """Point Airflow connection ``conn_id`` at this emulator until the test ends."""
        monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(self.connection(**extra)))
        return conn_id

    def reset(self) -> None:
        """Forget default scripts and global faults."""
        self.emulator.reset_defaults()

    def clear(self) -> None:
        """Forget everything: queries, log groups, sessions, scripts, faults, quotas and counts."""
        self.emulator.clear()


@contextlib.contextmanager
def _running() -> Iterator[EmulatorHandle]:
    """An emulator on 127.0.0.1 that knows the plugin's key, stopped when the block ends."""
    from airflow_querystatus.emulator.server import EmulatorServer

    server = EmulatorServer(host="127.0.0.1").start()
    server.emulator.credentials.register(ACCESS_KEY, SECRET_KEY)
    try:
        yield EmulatorHandle(server)
    finally:
        server.stop()


@pytest.fixture(scope="session")
def querystatus_emulator_session() -> Iterator[EmulatorHandle]:
    """The emulator shared by the whole session (prefer ``querystatus_emulator`` in tests)."""
    with _running() as handle:
        yield handle


@pytest.fixture
def querystatus_emulator(querystatus_emulator_session: EmulatorHandle) -> Iterator[EmulatorHandle]:
    """The session's emulator, empty when the test starts (and emptied again after it)."""
    querystatus_emulator_session.clear()
    yield querystatus_emulator_session
    querystatus_emulator_session.clear()


@pytest.fixture
def querystatus_private_emulator() -> Iterator[EmulatorHandle]:
    """An emulator for this test alone."""
    with _running() as handle:
        yield handle


@pytest.fixture
def querystatus_conn_id() -> str:
    """The connection ``querystatus_aws_connection`` configures; override to change it."""
    return "aws_default"


@pytest.fixture
def querystatus_aws_connection(
    querystatus_emulator: EmulatorHandle, querystatus_conn_id: str, monkeypatch: pytest.MonkeyPatch
) -> str:
    """Airflow connection ``querystatus_conn_id`` pointing at the emulator, for this test."""
    # A shared config file or profile must not change the keys or region the connection gives.
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    return querystatus_emulator.use_as_connection(monkeypatch, querystatus_conn_id)


@dataclass
class DagRunResult:
    """One ``dag.test()`` run, as ``querystatus_run_dag`` returns it."""

    dag_id: str
    run_id: str
    #: ``"success"`` or ``"failed"``.
    state: str
    #: Each task's final state: ``{"wait_for_query": "success", ...}``.
    tasks: dict[str, str]
    #: Everything the run printed: ``dag.test()`` writes each task's log to the test's stdout.
    output: str

    def xcom(self, task_id: str, key: str = "return_value") -> Any:
        """A task's XCom as a downstream task reads it (None when it pushed none): a sensor's
        is its final status answer, an operator's what its page says it returns."""
        from airflow_querystatus.compat import read_xcom

        return read_xcom(self.dag_id, self.run_id, task_id, key)


@pytest.fixture
def querystatus_run_dag(capfd: pytest.CaptureFixture[str]) -> Callable[..., DagRunResult]:
    """``run(dag, **params)``: run ``dag`` once with ``params`` as its run conf (``dag.test()``,
    in this process: no scheduler or triggerer; deferred tasks resume in-process) and return
    its :class:`DagRunResult`. Needs a migrated metadata database: set the
    ``querystatus_dags_folder`` ini option."""
    from airflow_querystatus.compat import task_states

    def run(dag: Any, **params: Any) -> DagRunResult:
        capfd.readouterr()  # what the test printed before is not the run's
        dag_run = dag.test(run_conf=params or None)
        printed = capfd.readouterr()
        sys.stdout.write(printed.out)  # still shown by pytest when the test fails
        sys.stderr.write(printed.err)
        state = str(getattr(dag_run.state, "value", dag_run.state))
        return DagRunResult(dag.dag_id, dag_run.run_id, state, task_states(dag.dag_id, dag_run.run_id),
                            printed.out + printed.err)

    return run


# -- the session's Airflow home (ini option querystatus_dags_folder) --------------------------

def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini(DAGS_FOLDER_OPTION, "your DAGs folder (relative to the ini file): the session gets an Airflow "
                  "home of its own with it and a migrated SQLite database (airflow-querystatus)", default="")
    parser.addini(FAST_POLLS_OPTION, "every airflow-querystatus wait polls at most every 0.1 s "
                  "([querystatus] max_poll_interval_override), whatever interval the DAG sets", type="bool",
                  default=False)


#: The temporary home this (controlling) process made, removed when the session ends.
_made_home: Path | None = None


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config: pytest.Config) -> None:
    """Before any conftest, and so before anything imports Airflow (which reads its home and
    configuration once, at import)."""
    global _made_home
    if early_config.getini(FAST_POLLS_OPTION):
        os.environ["AIRFLOW__QUERYSTATUS__MAX_POLL_INTERVAL_OVERRIDE"] = str(FAST_POLL_INTERVAL)
    folder = early_config.getini(DAGS_FOLDER_OPTION)
    if not folder:
        return
    if "airflow" in sys.modules:
        raise pytest.UsageError(f"{DAGS_FOLDER_OPTION}: Airflow was imported before the plugin could give the session "
                                "its own home; do not import it from a plugin loaded earlier (-p)")
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if worker:  # the controlling process made and migrated the home; each worker writes its own copy
        database = Path(os.environ["AIRFLOW_HOME"]) / f"airflow-{worker}.db"
        shutil.copyfile(Path(os.environ["AIRFLOW_HOME"]) / "airflow.db", database)
        os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = f"sqlite:///{database}"
        return
    base = Path(early_config.inipath).parent if early_config.inipath else Path.cwd()
    dags = (base / folder).resolve()
    if not dags.is_dir():
        raise pytest.UsageError(f"{DAGS_FOLDER_OPTION} = {folder}: {dags} is not a directory")
    _made_home = Path(tempfile.mkdtemp(prefix="querystatus-airflow-home-"))
    os.environ.update(
        AIRFLOW_HOME=str(_made_home),
        AIRFLOW__CORE__DAGS_FOLDER=str(dags),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=f"sqlite:///{_made_home / 'airflow.db'}",
    )
    migrated = subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], capture_output=True, text=True)
    if migrated.returncode != 0:
        shutil.rmtree(_made_home, ignore_errors=True)
        raise pytest.UsageError(f"airflow db migrate failed for the session's Airflow home:\n{migrated.stderr[-3000:]}")


def pytest_unconfigure(config: pytest.Config) -> None:
    if _made_home is not None:
        shutil.rmtree(_made_home, ignore_errors=True)


@pytest.fixture(scope="session")
def querystatus_airflow_home(pytestconfig: pytest.Config) -> Path:
    """The session's Airflow home (``querystatus_dags_folder`` ini option)."""
    if not pytestconfig.getini(DAGS_FOLDER_OPTION):
        pytest.fail(f"set the {DAGS_FOLDER_OPTION} ini option (e.g. `{DAGS_FOLDER_OPTION} = dags` in pytest.ini) "
                    "for the session to get an Airflow home of its own", pytrace=False)
    return Path(os.environ["AIRFLOW_HOME"])


__all__ = ["ACCESS_KEY", "REGION", "SECRET_KEY", "DagRunResult", "EmulatorHandle"]
