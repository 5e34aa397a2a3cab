"""pytest fixtures for testing your own DAGs against the emulator (installed with the package).

The package registers this module as a pytest plugin (``pytest11`` entry point), so that any
project with airflow-querystatus installed has these fixtures without a ``conftest.py`` line:

``querystatus_emulator``
    The session's emulator (started on 127.0.0.1 on first use), as an :class:`EmulatorHandle`.
    Default scripts and global faults a test sets are forgotten after it.
``querystatus_private_emulator``
    An emulator of the test's own, stopped after it: nothing another test planted is visible.
``querystatus_aws_connection``
    Points the Airflow connection ``querystatus_conn_id`` (``aws_default`` unless you override
    that fixture) at ``querystatus_emulator`` for the test, through ``AIRFLOW_CONN_<ID>``, with
    keys the emulator verifies SigV4 signatures with. Returns the connection id.

Nothing happens at import: the emulator starts only when a test asks for a fixture, and no
environment variable is set outside the tests that ask for the connection.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterable, Iterator, Mapping
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
    ) -> Query:
        """A query your DAG will wait on, as if it had been started: ``kind`` is the operation's
        key (``internet_monitor_query``, ...), ``identifiers`` its scope (``{"monitor_name": ...}``),
        ``steps`` its script and ``faults`` what its calls meet first (docs: "The emulator")."""
        return self.emulator.add_query(kind, identifiers, steps=steps, faults=faults, query_id=query_id,
                                       text=text, result_rows=result_rows)

    def create_log_group(self, name: str, events: Iterable[Mapping[str, Any]] = ()) -> LogGroup:
        """A CloudWatch Logs log group your Logs Insights queries run over (StartQuery refuses one
        that does not exist, as AWS does), with ``events`` (``{"message", "timestamp"}``,
        milliseconds, default now), which a query over it answers as its rows. It stays for
        the session; creating it again adds the events."""
        return self.emulator.create_log_group(name, events)

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
    """The session's emulator; default scripts and global faults are reset after the test."""
    yield querystatus_emulator_session
    querystatus_emulator_session.reset()


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


__all__ = ["ACCESS_KEY", "REGION", "SECRET_KEY", "EmulatorHandle"]
