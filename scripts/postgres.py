"""A real PostgreSQL 16 server for the end-to-end and HA stacks, data in a temporary directory.

The binaries come from the ``pgserver`` wheel (PyPI), installed into the project's venv by
the Makefile, so a fresh machine needs nothing else. PostgreSQL refuses to run as root:
when this runs as root (CI, containers, these machines), the server runs as the unprivileged
``nobody`` user through ``setpriv``. That user may not be able to reach the venv at all (a
clone under ``/root`` or any other 0700 directory), so the server never runs from it: its
binaries and their bundled libraries are copied into the server's own temporary directory,
next to its data, and that directory belongs to the user that runs the server. It listens on
127.0.0.1 only, trusts local connections (the data directory is throw-away) and is stopped,
and its directory removed, on exit. ``pg_ctl`` daemonizes the server, out of our process
group: every program runs with the server's own tag in its environment
(:mod:`process_sweep`), so ``stop()`` finds and ends whatever of it is still alive, also when
``pg_ctl stop`` could not, before its directory goes.

``python scripts/postgres.py`` starts one and prints its SQLAlchemy URL until Ctrl-C.
"""

from __future__ import annotations

import importlib.util
import os
import pwd
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from process_sweep import exit_on_sigterm, new_tag, sweep

#: Who runs the server when this runs as root (PostgreSQL refuses root), with that user's own
#: group (``nogroup`` on Debian, ``nobody`` elsewhere).
UNPRIVILEGED_USER = "nobody"


def _wheel_install() -> tuple[Path, Path]:
    """The wheel's PostgreSQL install (``pgserver/pginstall``) and its site-packages directory.

    The client programs (``initdb``, ``psql``) find the bundled libpq through a relative rpath
    (``$ORIGIN/../../../pgserver.libs``, auditwheel's), so a copy keeps that layout."""
    # Found, not imported: the package itself needs more than the standard library.
    spec = importlib.util.find_spec("pgserver")  # the wheel that carries the PostgreSQL binaries
    if spec is None or spec.origin is None:
        raise PostgresError("the pgserver wheel is not installed (make venv installs it)")
    package = Path(spec.origin).resolve().parent
    return package / "pginstall", package.parent


def install_copy(target: Path) -> Path:
    """Copy the server's binaries, libraries and data files (``bin``, ``lib``, ``share``; not
    the C headers) and the wheel's bundled shared libraries under ``target``, laid out as in
    site-packages so every relative library path still resolves. Returns the copy's ``bin``."""
    pginstall, site = _wheel_install()
    copy = target / pginstall.relative_to(site)
    for part in ("bin", "lib", "share"):
        shutil.copytree(pginstall / part, copy / part, symlinks=True)
    for libs in site.glob("pgserver*.libs"):
        shutil.copytree(libs, target / libs.name, symlinks=True)
    return copy / "bin"


def _first_closed_directory(path: Path) -> Path | None:
    """The first directory from ``/`` down to ``path`` that other users cannot enter, if any."""
    for directory in [*reversed(path.parents), path]:
        if not directory.stat().st_mode & stat.S_IXOTH:
            return directory
    return None


class PostgresError(RuntimeError):
    """A PostgreSQL program failed; the message carries what it printed."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class PostgresServer:
    database: str = "airflow"
    user: str = "airflow"
    port: int = field(default_factory=free_port)
    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="querystatus-pg-")))
    #: The directory the programs run from: the venv's wheel, or (as root) a copy in ``root``.
    bin_dir: Path | None = None
    #: In the environment of every program this server runs, the daemonized server included.
    tag: str = field(default_factory=lambda: new_tag("postgres"))

    @property
    def url(self) -> str:
        """The SQLAlchemy URL Airflow's ``sql_alchemy_conn`` takes (psycopg2 driver)."""
        return f"postgresql+psycopg2://{self.user}@127.0.0.1:{self.port}/{self.database}"

    @property
    def _data(self) -> Path:
        return self.root / "data"

    @staticmethod
    def _as_root() -> bool:
        return os.geteuid() == 0

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[bytes]:
        assert self.bin_dir is not None, "start() first"
        command = [str(self.bin_dir / args[0]), *args[1:]]
        if self._as_root():
            user = pwd.getpwnam(UNPRIVILEGED_USER)
            command = ["setpriv", f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}", "--clear-groups", *command]
        done = subprocess.run(command, capture_output=True, cwd=self.root, env={**os.environ, self.tag: "1"})
        if check and done.returncode != 0:
            # The program's own words: "exit status 127" alone says nothing.
            output = (done.stderr or done.stdout).decode(errors="replace").strip()
            raise PostgresError(f"{args[0]} exited with status {done.returncode}: {output}")
        return done

    def _prepare(self) -> None:
        """Give the server its directory. As root, the server's user gets it, with the programs
        copied in: that user can read nothing of ours but what is in there."""
        self.root.chmod(0o700)
        if not self._as_root():
            self.bin_dir = _wheel_install()[0] / "bin"
            return
        closed = _first_closed_directory(self.root.parent)
        if closed is not None:
            raise PostgresError(
                f"PostgreSQL runs as {UNPRIVILEGED_USER}, who cannot enter {closed}: "
                f"choose a temporary directory others can reach (TMPDIR={self.root.parent})")
        self.bin_dir = install_copy(self.root / "install")
        user = pwd.getpwnam(UNPRIVILEGED_USER)
        for directory, subdirectories, files in os.walk(self.root):
            for name in [directory, *(os.path.join(directory, f) for f in [*subdirectories, *files])]:
                os.chown(name, user.pw_uid, user.pw_gid, follow_symlinks=False)

    def start(self) -> PostgresServer:
        """Start the server; if it cannot start, nothing is left behind (not even the copy)."""
        try:
            self._prepare()
            self._run("initdb", "-D", str(self._data), "-U", self.user, "--auth=trust", "-E", "UTF8", "--no-sync")
            options = f"-h 127.0.0.1 -p {self.port} -k {self.root} -c fsync=off -c max_connections=300"
            try:
                self._run("pg_ctl", "-D", str(self._data), "-l", str(self.root / "server.log"), "-o", options,
                          "-w", "-t", "60", "start")
            except PostgresError as err:
                log_file = self.root / "server.log"
                log = log_file.read_text(errors="replace") if log_file.exists() else ""
                raise PostgresError(f"PostgreSQL did not start: {err}\n{log}") from err
            self._run("psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", self.user, "-d", "postgres",
                      "-c", f"CREATE DATABASE {self.database}")
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        if self._data.exists() and self.bin_dir is not None:
            self._run("pg_ctl", "-D", str(self._data), "-m", "fast", "-w", "stop", check=False)
        for leftover in sweep(self.tag, grace=5.0):
            print(f"PostgreSQL in {self.root} outlived pg_ctl stop; stopped {leftover}", file=sys.stderr)
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> PostgresServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


if __name__ == "__main__":
    exit_on_sigterm(status=0)  # a clean stop, also while the server is starting
    with PostgresServer() as server:
        print(server.url, flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
