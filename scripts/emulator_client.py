"""The emulator as the stack runs it: a separate process, and its control API
(``/_emulator/...``: plant and inspect queries, count requests)."""

from __future__ import annotations

import json
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from postgres import free_port
from stack_environment import BIN


class EmulatorControl:
    """The emulator half of :class:`~airflow_stack.AirflowStack` (a mixin over its fields;
    ``emulator_url`` comes from :class:`~stack_environment.StackEnvironment`)."""

    home: Path
    emulator_port: int
    emulator_args: tuple[str, ...]
    processes: dict[str, Any]
    _spawn: Callable[..., None]
    stop_process: Callable[..., None]
    _reachable: Callable[[str], bool]
    _until: Callable[..., None]

    def _start_emulator(self, attempts: int = 3) -> None:
        """Start the emulator and wait until it answers, before any Airflow process takes its
        URL. Its port was free when picked, but another server (PostgreSQL's, another test's)
        may take it first: then it starts again on a new one."""
        for _ in range(attempts):
            self._spawn("emulator", str(BIN / "python"), "-m", "airflow_querystatus.emulator",
                        "--port", str(self.emulator_port), "--credentials", "demo-access-key:demo-secret-key",
                        *self.emulator_args)
            process, deadline = self.processes["emulator"], time.time() + 60
            while process.poll() is None and time.time() < deadline:
                if self._reachable(self.emulator_url + "/_emulator/stats"):
                    return
                time.sleep(0.2)
            self.stop_process("emulator")
            self.emulator_port = free_port()
        raise RuntimeError(f"the emulator did not start; see {self.home / 'emulator.log'}")

    def emulator_call(self, method: str, path: str, body: object | None = None) -> dict:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(f"{self.emulator_url}{path}", data=data, method=method,
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read() or b"{}")

    def wait_for_emulator(self, timeout: float = 60) -> None:
        self._until(lambda: self._reachable(self.emulator_url + "/_emulator/stats"), timeout, "emulator")

    def emulator_queries(self, kind: str | None = None, text: str | None = None) -> list[dict]:
        """The emulator's queries (of a kind, whose text contains ``text``), oldest first, each
        with ``query_id``, ``state``, ``status_calls``, ``stopped`` and ``history``."""
        params = {k: v for k, v in (("kind", kind), ("text", text)) if v is not None}
        return self.emulator_call("GET", f"/_emulator/queries?{urllib.parse.urlencode(params)}")["queries"]

    def emulator_requests(self) -> dict[str, int]:
        """Requests the emulator answered so far, per operation (``start_query``, ``stop_query``...)."""
        return dict(self.emulator_call("GET", "/_emulator/stats")["requests"])

    def stop_calls(self) -> dict[str, int]:
        """Every stop or cancel request the emulator received, per operation."""
        return {op: n for op, n in self.emulator_requests().items() if op.startswith(("stop_", "cancel_"))}
