"""A real PostgreSQL 16 server for the end-to-end and HA stacks, data in a temporary directory.

The binaries come from the ``pgserver`` wheel (PyPI), installed into the project's venv by
the Makefile, so a fresh machine needs nothing else. PostgreSQL refuses to run as root:
when this runs as root (CI, these machines), the server runs as the unprivileged ``nobody``
user through ``setpriv``. It listens on 127.0.0.1 only, trusts local connections (the data
directory is throw-away) and is stopped, and its data removed, on exit.

``python scripts/postgres.py`` starts one and prints its SQLAlchemy URL until Ctrl-C.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path


def _bin_dir() -> Path:
    import pgserver  # the wheel that carries the PostgreSQL binaries

    return Path(pgserver.__file__).parent / "pginstall" / "bin"


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

    @property
    def url(self) -> str:
        """The SQLAlchemy URL Airflow's ``sql_alchemy_conn`` takes (psycopg2 driver)."""
        return f"postgresql+psycopg2://{self.user}@127.0.0.1:{self.port}/{self.database}"

    @property
    def _data(self) -> Path:
        return self.root / "data"

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[bytes]:
        command = [str(_bin_dir() / args[0]), *args[1:]]
        if os.geteuid() == 0:
            command = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", *command]
        return subprocess.run(command, check=check, capture_output=True, cwd=self.root)

    def start(self) -> PostgresServer:
        if os.geteuid() == 0:
            shutil.chown(self.root, "nobody", "nogroup")
        self.root.chmod(0o700)
        self._run("initdb", "-D", str(self._data), "-U", self.user, "--auth=trust", "-E", "UTF8", "--no-sync")
        options = f"-h 127.0.0.1 -p {self.port} -k {self.root} -c fsync=off -c max_connections=300"
        try:
            self._run("pg_ctl", "-D", str(self._data), "-l", str(self.root / "server.log"), "-o", options,
                      "-w", "-t", "60", "start")
        except subprocess.CalledProcessError as err:
            log = (self.root / "server.log").read_text(errors="replace") if (self.root / "server.log").exists() else ""
            raise RuntimeError(f"PostgreSQL did not start: {err.stderr.decode(errors='replace')}\n{log}") from err
        self._run("psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", self.user, "-d", "postgres",
                  "-c", f"CREATE DATABASE {self.database}")
        return self

    def stop(self) -> None:
        if self._data.exists():
            self._run("pg_ctl", "-D", str(self._data), "-m", "fast", "-w", "stop", check=False)
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> PostgresServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


if __name__ == "__main__":
    with PostgresServer() as server:
        print(server.url, flush=True)
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
