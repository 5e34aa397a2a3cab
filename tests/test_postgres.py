"""``scripts/postgres.py``, the end-to-end stacks' PostgreSQL, from a clone no other user can
enter (a clone under /root, any 0700 directory) and as an ordinary user.

As root the server runs as ``nobody``; these tests run the script itself in a child process,
with a copy of the ``pgserver`` wheel put first on its path, so where the wheel lives is
chosen here: inside a 0700 directory, as a clone under /root has it.
"""

from __future__ import annotations

import importlib.util
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

pytestmark = pytest.mark.line_independent

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "postgres.py"
#: What the script imports besides the standard library and pgserver.
SCRIPT_MODULES = (SCRIPT, SCRIPT.parent / "process_sweep.py")
AS_ROOT = os.geteuid() == 0


def copy_script(site: Path) -> None:
    for module in SCRIPT_MODULES:
        shutil.copy(module, site)


def copy_wheel(site: Path) -> Path:
    """The installed ``pgserver`` package and its bundled libraries, copied into ``site`` as
    a site-packages directory has them (C headers and bytecode left out)."""
    spec = importlib.util.find_spec("pgserver")
    assert spec is not None and spec.origin is not None
    package = Path(spec.origin).parent
    shutil.copytree(package, site / "pgserver", ignore=shutil.ignore_patterns("include", "__pycache__"))
    for libs in package.parent.glob("pgserver*.libs"):
        shutil.copytree(libs, site / libs.name)
    return site


@contextmanager
def script_server(site: Path, *, python: str = sys.executable, run_as: list[str] | None = None) -> Iterator[str]:
    """``python scripts/postgres.py`` with ``site`` first on its path: its URL while it runs;
    on exit, SIGTERM, which must stop it cleanly."""
    env = {**os.environ, "PYTHONPATH": str(site)}
    process = subprocess.Popen([*(run_as or []), python, str(site / "postgres.py")], env=env, cwd=site,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        if not url:
            process.wait(timeout=60)
            pytest.fail(f"postgres.py exited {process.returncode} without a URL:\n{process.stderr.read()}")
        yield url
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)
    assert process.returncode == 0, process.stderr.read()


def query_as(url: str) -> tuple[str, str]:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            row = connection.execute(text("SELECT current_database(), current_user")).one()
            return row[0], row[1]
    finally:
        engine.dispose()


def test_a_server_starts_from_a_venv_no_other_user_can_enter(tmp_path: Path) -> None:
    """As root the server's user (``nobody``) cannot reach the binaries in such a venv; they are
    copied out for it. Before that copy ``initdb`` exited 127 and every end-to-end test failed."""
    closed = tmp_path / "clone"
    closed.mkdir(mode=0o700)
    site = copy_wheel(closed / "site-packages")
    copy_script(site)
    with script_server(site) as url:
        assert query_as(url) == ("airflow", "airflow")


def as_user(user: str) -> list[str]:
    entry = pwd.getpwnam(user)
    return ["setpriv", f"--reuid={entry.pw_uid}", f"--regid={entry.pw_gid}", "--clear-groups"]


def _python_for(user: str) -> str | None:
    """A Python interpreter ``user`` can run (the venv's may sit in a directory they cannot enter)."""
    candidates = [sys.executable, getattr(sys, "_base_executable", ""), "/usr/bin/python3", "/usr/local/bin/python3"]
    for python in dict.fromkeys(c for c in candidates if c):
        probe = subprocess.run([*as_user(user), python, "-c", ""], capture_output=True)
        if probe.returncode == 0:
            return python
    return None


@pytest.mark.skipif(not AS_ROOT, reason="run as an ordinary user, the test above is this one")
def test_an_ordinary_user_runs_the_server_from_their_own_venv() -> None:
    """Not root: no user switch and no copy; the server runs from the wheel as the user itself."""
    user = "nobody"
    python = _python_for(user)
    if python is None:
        pytest.skip(f"no Python interpreter that {user} may run")
    home = Path(tempfile.mkdtemp(prefix="querystatus-pg-user-"))
    try:
        site = copy_wheel(home / "site-packages")
        copy_script(site)
        subprocess.run(["chown", "-R", f"{user}:", str(home)], check=True)
        home.chmod(0o700)  # the user's own, closed to everybody else
        with script_server(site, python=python, run_as=as_user(user)) as url:
            assert query_as(url) == ("airflow", "airflow")
    finally:
        shutil.rmtree(home, ignore_errors=True)


def test_a_server_that_cannot_start_says_why_and_leaves_nothing_behind() -> None:
    sys.path.insert(0, str(SCRIPT.parent))
    try:
        from postgres import PostgresError, PostgresServer
    finally:
        sys.path.remove(str(SCRIPT.parent))
    with socket.socket() as taken:  # its port is in use: pg_ctl cannot start the server
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        server = PostgresServer(port=taken.getsockname()[1])
        with pytest.raises(PostgresError, match="PostgreSQL did not start") as raised:
            server.start()
    assert "could not" in str(raised.value)  # the server's own log line is in the message
    assert not server.root.exists()
