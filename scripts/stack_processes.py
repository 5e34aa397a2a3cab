"""The stack's processes: start them, stop them, and inject the faults production sees
(``kill -9`` or freeze a triggerer, kill a task's runner on its worker)."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

from postgres import free_port
from stack_environment import AIRFLOW_3, BIN, HOSTNAME_MODULE


class StackProcesses:
    """The process half of :class:`~airflow_stack.AirflowStack` (a mixin over its fields)."""

    home: Path
    processes: dict[str, subprocess.Popen[bytes]]
    _triggerers: set[str]
    env: Callable[[], dict[str, str]]
    _query: Callable[..., list[tuple[Any, ...]]]

    def _spawn(self, name: str, *args: str, env: dict[str, str] | None = None) -> None:
        log = open(self.home / f"{name}.log", "ab")  # noqa: SIM115 - owned by the child
        self.processes[name] = subprocess.Popen(
            list(args), env={**self.env(), **(env or {})}, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True, cwd=self.home,
        )

    def start_triggerer(self, name: str = "triggerer") -> None:
        """Start one triggerer. One named other than ``triggerer`` (``triggerer-2``) reports its
        name as its hostname, as if on a host of its own, so that its job row in the database
        (which has no pid) says which process it is; and each serves its trigger logs on a
        port of its own (several on one host would contend for the default, 8794)."""
        env = {}
        if name != "triggerer":
            site = self.home / "stack_python"
            site.mkdir(exist_ok=True)
            (site / f"{HOSTNAME_MODULE}.py").write_text(
                '"""Written by scripts/airflow_stack.py: each triggerer\'s hostname is its stack name."""\n'
                "import os\n\n\ndef hostname() -> str:\n"
                '    return os.environ["QUERYSTATUS_STACK_PROCESS"]\n'
            )
            env = {
                "QUERYSTATUS_STACK_PROCESS": name,
                "AIRFLOW__CORE__HOSTNAME_CALLABLE": f"{HOSTNAME_MODULE}.hostname",
                "PYTHONPATH": os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")])),
                "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
            }
        self._spawn(name, str(BIN / "airflow"), "triggerer", env=env)
        self._triggerers.add(name)

    def stop_process(self, name: str, sig: int = signal.SIGTERM, wait: float = 30) -> None:
        proc = self.processes.pop(name, None)
        if proc is None or proc.poll() is not None:
            return
        os.killpg(proc.pid, sig)
        try:
            proc.wait(wait)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)

    def restart_triggerer(self) -> None:
        self.stop_process("triggerer")
        self.start_triggerer()

    def signal_process(self, name: str, sig: int) -> None:
        """Send ``sig`` to one process group the stack started, e.g. ``kill -9`` one triggerer
        (SIGKILL: the process is reaped and forgotten), or freeze (SIGSTOP) and thaw (SIGCONT) it.

        Each process runs in its own session, so the group holds its children too (the
        triggerer's trigger-runner subprocess on Airflow 3)."""
        proc = self.processes[name]
        os.killpg(proc.pid, sig)
        if sig == signal.SIGKILL:
            proc.wait(30)
            del self.processes[name]

    def task_runner_pids(self, dag_id: str, run_id: str, task_id: str) -> list[int]:
        """The process running this task's code on a worker (empty when none runs it now).

        Found by its process title: the Task SDK's runner sets ``airflow worker -- <task
        instance id>`` (Airflow 3; the id changes with each try), Airflow 2's standard task
        runner ``airflow task runner: <dag_id> <task_id> <run_id> <job_id>``."""
        if AIRFLOW_3:
            rows = self._query("SELECT id FROM task_instance WHERE dag_id = :dag_id AND run_id = :run_id "
                               "AND task_id = :task_id", dag_id=dag_id, run_id=run_id, task_id=task_id)
            titles = {f"airflow worker -- {row[0]}" for row in rows}

            def matches(args: str) -> bool:
                return args in titles
        else:
            prefix = f"airflow task runner: {dag_id} {task_id} {run_id}"

            def matches(args: str) -> bool:
                return args == prefix or args.startswith(prefix + " ")

        listing = subprocess.run(["ps", "-eo", "pid=,args="], capture_output=True, text=True, check=True).stdout
        pids = []
        for line in listing.splitlines():
            pid, _, args = line.strip().partition(" ")
            if matches(args.strip()):
                pids.append(int(pid))
        return pids

    def kill_task_runner(self, dag_id: str, run_id: str, task_id: str, sig: int = signal.SIGKILL) -> int:
        """What the OOM killer does to a worker's task process: ``sig`` to its runner. Its
        supervisor reports the try failed (up for retry when it has retries left)."""
        pids = self.task_runner_pids(dag_id, run_id, task_id)
        if not pids:
            raise LookupError(f"no task runner process for {dag_id}.{task_id} ({run_id})")
        for pid in pids:
            os.kill(pid, sig)
        return pids[0]

    def process_log(self, name: str) -> str:
        """What one process the stack started (``triggerer-2``, ``scheduler``) wrote so far."""
        path = self.home / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def task_log(self, dag_id: str, run_id: str, task_id: str) -> str:
        paths = sorted((self.home / "logs").glob(f"dag_id={dag_id}/run_id={run_id}/task_id={task_id}/**/*.log"))
        return "\n".join(p.read_text(errors="replace") for p in paths)
