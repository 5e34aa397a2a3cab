"""Find and stop every process a run started, however it got away.

Servers leave their parent's process group in several ways: ``pg_ctl start`` daemonizes the
PostgreSQL server, Airflow's processes start sessions of their own, and a parent killed by
SIGKILL (or a test runner stopped mid-run) never reaches its ``finally``. What they all keep
is their environment: every process inherits its parent's. So a run puts a variable of its
own in its environment (``tag_environment``: a new name each time, so that runs inside runs,
such as ``make check-dist``'s pytest inside the suite's, keep every enclosing run's tag too) and,
when it ends, looks for that variable in every process it may see (``/proc/<pid>/environ``) and
stops what it finds (``sweep``).

Used by the stacks the scripts start (``airflow_stack.AirflowStack``: a tag per stack, swept
by ``stop()``; ``postgres.PostgresServer`` likewise), by every script and benchmark that
starts a server (``run_leaving_nothing``: a tag per run) and by the test suite
(``tests/conftest.py``: a tag per session, checked at its end, which fails the run when
anything is left).
"""

from __future__ import annotations

import os
import signal
import sys
import time
import uuid
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

PROC = Path("/proc")


@dataclass(frozen=True)
class Leftover:
    pid: int
    command: str

    def __str__(self) -> str:
        return f"pid {self.pid}: {self.command}"


def new_tag(kind: str) -> str:
    """A variable name no other run uses, e.g. ``QUERYSTATUS_STACK_3f2a...``."""
    return f"QUERYSTATUS_{kind.upper()}_{uuid.uuid4().hex}"


def tagged(tag: str, *, exclude: frozenset[int] = frozenset()) -> list[Leftover]:
    """Every live process (but this one and ``exclude``) whose environment holds ``tag``.
    Processes of other users are skipped unless we are root: their environment cannot be
    read, and a run only starts processes of its own user (or, as root, PostgreSQL's
    ``nobody``)."""
    wanted = f"{tag}=1".encode()
    found = []
    for entry in PROC.iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid() or int(entry.name) in exclude:
            continue
        try:
            environment = (entry / "environ").read_bytes().split(b"\0")
            if wanted not in environment or _is_zombie(entry):
                continue
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:  # gone meanwhile, or not ours to read
            continue
        found.append(Leftover(int(entry.name), command))
    return found


def _is_zombie(entry: Path) -> bool:
    # /proc/<pid>/stat: "pid (comm) state ..."; comm may hold spaces and parentheses.
    return (entry / "stat").read_text().rpartition(")")[2].split()[0] == "Z"


def sweep(tag: str, *, grace: float = 10.0, exclude: frozenset[int] = frozenset()) -> list[Leftover]:
    """Stop every process tagged ``tag``: SIGTERM, then SIGKILL for what is still
    alive after ``grace`` seconds. Returns what was found alive (empty: nothing was left)."""
    leftovers = tagged(tag, exclude=exclude)
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
        alive = tagged(tag, exclude=exclude)
        for process in alive:
            with suppress(ProcessLookupError):  # gone meanwhile
                os.kill(process.pid, sig)
        deadline = time.monotonic() + wait
        while alive and time.monotonic() < deadline:
            time.sleep(0.1)
            alive = tagged(tag, exclude=exclude)
        if not alive:
            break
    return leftovers


def tag_environment(kind: str) -> str:
    """Put a new tag in this process's environment, for every process it starts from now on;
    returns it (for :func:`tagged` and :func:`sweep`)."""
    tag = new_tag(kind)
    os.environ[tag] = "1"
    return tag


def exit_on_sigterm(status: int = 128 + signal.SIGTERM) -> None:
    """Make SIGTERM (``kill``, a CI timeout, systemd) end this script the way Ctrl-C does:
    through its ``finally`` blocks and ``atexit`` handlers, which stop what it started, then
    exit with ``status``. By default SIGTERM ends a Python process without running either."""
    def leave(signum: int, frame: FrameType | None) -> None:
        sys.exit(status)

    if signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, None):
        signal.signal(signal.SIGTERM, leave)


def run_leaving_nothing(main: Callable[[], int | None]) -> int:
    """Run a script's ``main`` so that nothing it starts outlives it: a tag of its own in its
    environment, SIGTERM handled as Ctrl-C is, and a sweep of that tag when it ends, however it
    ends. What the sweep finds is named on stderr: the script should have stopped it."""
    tag = tag_environment("script")
    exit_on_sigterm()
    try:
        return main() or 0
    finally:
        for leftover in sweep(tag):
            print(f"{Path(sys.argv[0]).name}: {leftover} was still running at exit; stopped it", file=sys.stderr)
