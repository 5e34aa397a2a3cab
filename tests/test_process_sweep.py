"""Nothing a run starts outlives it (issue 28 item 5): what escaped its parent's process group
is still found by the tag in its environment (scripts/process_sweep.py), PostgreSQL is
stopped even when ``pg_ctl stop`` cannot run, and the suite's own end-of-session check fails a
run that leaves a process behind, and only such a run."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tests.conftest import SESSION_TAG

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

from postgres import PostgresServer  # noqa: E402
from process_sweep import new_tag, sweep, tagged  # noqa: E402

pytestmark = pytest.mark.line_independent

#: Starts a grandchild in a session of its own (as a daemon does), prints its pid, and exits.
DAEMONIZE = textwrap.dedent("""
    import subprocess, sys
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"], start_new_session=True,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    print(child.pid, flush=True)
""")


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def daemon(env: dict[str, str]) -> int:
    done = subprocess.run([sys.executable, "-c", DAEMONIZE], env=env, capture_output=True, text=True, check=True)
    return int(done.stdout)


def test_a_process_that_left_its_group_is_found_by_its_tag_and_stopped() -> None:
    tag = new_tag("test")
    pid = daemon({**os.environ, tag: "1"})
    try:
        assert [p.pid for p in tagged(tag)] == [pid]
        assert [p.pid for p in sweep(tag, grace=5)] == [pid]
        assert not alive(pid) and tagged(tag) == []
    finally:
        if alive(pid):
            os.kill(pid, 9)


def test_every_process_of_this_session_carries_its_tag() -> None:
    pid = daemon(dict(os.environ))
    try:
        assert pid in {p.pid for p in tagged(SESSION_TAG)}
    finally:
        sweep(new_tag("unused"))  # a tag nobody has: finds nothing, kills nothing
        os.kill(pid, 9)


def test_postgres_is_stopped_even_when_pg_ctl_cannot_stop_it() -> None:
    server = PostgresServer().start()
    assert tagged(server.tag), "the daemonized server carries its tag"
    server.bin_dir = None  # what stop() sees when its programs are gone: no pg_ctl stop
    server.stop()
    assert tagged(server.tag) == [] and not server.root.exists()


def inner_run(tmp_path: Path, body: str, *args: str) -> subprocess.CompletedProcess[str]:
    """A pytest run of one test file under this suite's conftest (its end-of-session check)."""
    test_file = tmp_path / "test_inner.py"
    test_file.write_text(textwrap.dedent(body))
    return subprocess.run([sys.executable, "-m", "pytest", str(test_file), "-p", "tests.conftest", "-q",
                           "-p", "no:cacheprovider", "--rootdir", str(tmp_path), *args],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_the_suite_fails_a_run_that_leaves_a_process_behind_and_stops_it(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    run = inner_run(tmp_path, f"""
        import subprocess, sys, time
        def test_leaks():
            child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"], start_new_session=True,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            open({str(pid_file)!r}, "w").write(str(child.pid))
    """)
    output = run.stdout + run.stderr
    assert run.returncode == pytest.ExitCode.TESTS_FAILED, output
    assert "1 passed" in output and "outlived it" in output and "time.sleep(300)" in output
    pid = int(pid_file.read_text())
    deadline = time.monotonic() + 10
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not alive(pid)


def test_a_clean_run_passes_the_check_with_xdist_workers_too(tmp_path: Path) -> None:
    run = inner_run(tmp_path, """
        import subprocess, sys
        def test_cleans_up():
            child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"], start_new_session=True)
            child.kill()
            child.wait()
        def test_other():
            pass
    """, "-n", "2")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "outlived" not in run.stdout + run.stderr
