"""Fixtures: an isolated AIRFLOW_HOME, the emulator, and an ``aws_default`` connection to it."""

from __future__ import annotations

import atexit
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

# Before anything imports airflow: keep tests away from the user's ~/airflow and AWS setup.
# The process that makes the home (the controller under xdist: its workers inherit the
# variable) removes it when it exits, so no run leaves one in the temporary directory.
if "AIRFLOW_HOME" not in os.environ:
    os.environ["AIRFLOW_HOME"] = _HOME = tempfile.mkdtemp(prefix="querystatus-airflow-")
    atexit.register(shutil.rmtree, _HOME, ignore_errors=True)
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
for _var in ("AWS_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
    os.environ.pop(_var, None)
os.environ["AWS_EC2_METADATA_DISABLED"] = "true"

import pytest  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
from process_sweep import sweep, tag_environment  # noqa: E402

#: In the environment of every process this session starts (xdist workers and everything they
#: start: emulators, PostgreSQL servers, Airflow stacks), checked when the session ends.
SESSION_TAG = tag_environment("test_session")

from airflow_querystatus.emulator import Emulator, EmulatorServer  # noqa: E402
from airflow_querystatus.emulator.pytest_plugin import EmulatorHandle  # noqa: E402
from airflow_querystatus.prepared import StatusCall  # noqa: E402

#: Planted in the connection so tests can check it never leaks into logs or events.
SECRET_KEY = "emulator-secret-key-do-not-log"


def aws_connection_uri(endpoint_url: str, **extra: object) -> str:
    return json.dumps(
        {
            "conn_type": "aws",
            "login": "emulator-access-key",
            "password": SECRET_KEY,
            "extra": {"region_name": "us-east-1", "endpoint_url": endpoint_url, **extra},
        }
    )


@pytest.fixture(scope="session")
def emulator_server(querystatus_emulator_session: EmulatorHandle) -> EmulatorServer:
    """The emulator of the package's pytest plugin (the one users get), with ``aws_default``
    pointing at it for the whole session."""
    server = querystatus_emulator_session.server
    # Every request signed with the test connection's key has its signature verified.
    server.emulator.credentials.register("emulator-access-key", SECRET_KEY)
    os.environ["AIRFLOW_CONN_AWS_DEFAULT"] = aws_connection_uri(server.url)
    return server


def edit_aws_default(monkeypatch: pytest.MonkeyPatch, *, password: str | None = None, **extra: object) -> None:
    """Change the ``aws_default`` connection for one test (restored by ``monkeypatch``)."""
    connection = json.loads(os.environ["AIRFLOW_CONN_AWS_DEFAULT"])
    if password is not None:
        connection["password"] = password
    connection["extra"].update(extra)
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", json.dumps(connection))


@pytest.fixture
def assume_role_connection(emulator_server: EmulatorServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """``aws_default`` assumes a role through the emulator's STS (keys with session tokens)."""
    edit_aws_default(monkeypatch, role_arn="arn:aws:iam::123456789012:role/querystatus",
                     assume_role_method="assume_role", service_config={"sts": {"endpoint_url": emulator_server.url}})
    yield
    emulator_server.emulator.sts_key_lifetime = None
    emulator_server.emulator.sts_announced_duration = 3600.0


@pytest.fixture
def emulator(emulator_server: EmulatorServer) -> Iterator[Emulator]:
    """The running emulator; default scripts, global faults and quotas are reset after each test."""
    yield emulator_server.emulator
    emulator_server.emulator.reset_defaults()
    emulator_server.emulator.clear_quotas()


@pytest.fixture
def logs(capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture):
    """Everything logged so far, each line once.

    Airflow's structlog writes to stdout and stdlib logging reaches caplog; on Airflow 3.0
    a line goes to both, so a caplog line already printed to stdout is not counted again.
    """
    caplog.set_level("INFO")
    seen: list[str] = []

    def text() -> str:
        seen.append(capsys.readouterr().out)
        printed = "".join(seen)
        only_in_caplog = [r.getMessage() for r in caplog.records if r.getMessage() not in printed]
        return printed + "".join(f"{line}\n" for line in only_in_caplog)

    return text


#: How many trigger status polls this process has made: the only calls that
#: ``[querystatus] prepared_status_calls`` changes (see airflow_querystatus/prepared.py).
_status_polls = 0
_status_call = StatusCall.__call__


async def _counted_status_call(self: StatusCall, client: object) -> object:
    global _status_polls
    _status_polls += 1
    return await _status_call(self, client)


StatusCall.__call__ = _counted_status_call  # type: ignore[method-assign]


@pytest.fixture
def prepared_calls_on(monkeypatch: pytest.MonkeyPatch) -> None:
    """Prepared status calls on for this test whatever ``[querystatus] prepared_status_calls``
    the suite runs with: the test does not depend on that option."""
    monkeypatch.setenv("AIRFLOW__QUERYSTATUS__PREPARED_STATUS_CALLS", "True")


@pytest.fixture(autouse=True)
def _prepared_sensitive_is_marked(request: pytest.FixtureRequest) -> Iterator[None]:
    """CI runs only ``prepared_sensitive`` tests a second time, with prepared status calls
    off (``make test-fast PREPARED=off``). A test that polls through a trigger but lacks the
    mark would silently lose that run: it fails here instead (unless it pins the option
    itself with ``prepared_calls_on``)."""
    before = _status_polls
    yield
    pinned = "prepared_calls_on" in request.fixturenames
    if _status_polls != before and not pinned and request.node.get_closest_marker("prepared_sensitive") is None:
        pytest.fail(f"{request.node.nodeid} made {_status_polls - before} trigger status poll(s), which "
                    "[querystatus] prepared_status_calls changes: mark it @pytest.mark.prepared_sensitive "
                    "so that CI runs it with prepared calls off too", pytrace=False)


@pytest.hookimpl(trylast=True)  # after pytest-xdist has shut its workers down
def pytest_sessionfinish(session: pytest.Session) -> None:
    """Nothing a test starts may outlive the run: any process still carrying this session's
    tag (see ``scripts/process_sweep.py``) when it ends fails it, named, and is stopped. Run in
    the controlling process only; each xdist worker's own processes carry the tag too."""
    if hasattr(session.config, "workerinput"):
        return
    leftovers = sweep(SESSION_TAG, grace=5.0)
    if leftovers:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        lines = [f"{len(leftovers)} process(es) started by this test run outlived it (now stopped):",
                 *(f"  {leftover}" for leftover in leftovers)]
        if reporter is not None:
            reporter.write_sep("=", "processes left behind", red=True)
            for line in lines:
                reporter.write_line(line)
        else:
            print("\n".join(lines), file=sys.stderr)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
