"""Real-triggerer benchmark: what N waits cost in a real Airflow deployment, beside the same
N of Airflow's own cheapest wait.

    make benchmark-triggerer                                  # N = 1,000 and 3,000, one run each
    .venvs/airflow-3.3/bin/python benchmarks/real_triggerer.py --sizes 1000 --runs 3
    .venvs/airflow-3.3/bin/python benchmarks/real_triggerer.py --sizes 200 --window 30 --kinds ours

Needs Airflow >= 3.3 (``start_from_trigger`` with templated fields). Each run is a fresh
deployment from the project's own stack (``scripts/airflow_stack.py``): PostgreSQL, the
api-server, scheduler, dag-processor and one triggerer, LocalExecutor, logging at WARNING
(at INFO every trigger log line costs the triggerer's supervisor a database cycle, which
would dominate), and the emulator over plain HTTP on 127.0.0.1. N waits are spread over
``ceil(N / --tasks-per-dag)`` DAGs (``@once``, so the scheduler starts them itself), every
task ``start_from_trigger=True`` (no worker is involved), one kind per run:

* ``baseline``: Airflow's ``DateTimeSensorAsync`` with a target a year away
  (``end_from_trigger=True``): a trigger that sleeps, the least a deferred wait costs;
* ``ours``: ``AthenaCalculationExecutionSensor`` polling every ``--interval`` seconds (fixed:
  ``max_poll_interval`` equal to it), each on its own calculation, RUNNING until the window
  ends; then all turn COMPLETED at once and the time until each task succeeded (the trigger
  ends the task itself) is the detection latency.

The runs are interleaved (``--runs`` rounds of baseline then ours, per size). In each: the
waits are started and the time until every trigger runs is measured (for ours: the emulator
saw every calculation polled); then ``--settle`` seconds pass, and the steady window
(``--window`` seconds) is measured:

* CPU seconds per minute, from ``/proc`` (user + system, each process's tree), per part:
  triggerer supervisor, trigger runner, scheduler, dag-processor, api-server, database;
  ours minus baseline, per poll, for the runner and the whole triggerer;
* RSS of the trigger runner and the triggerer supervisor;
* event-loop stalls in the runner (a wait over 0.2 s for a callback asked of the loop every
  50 ms, by ``benchmarks/loop_probe/sitecustomize.py``), their count and the longest;
* garbage collections in the runner: full collections per minute and their pauses (longest,
  total), pauses of the young generations, objects promoted into the oldest generation per
  minute and per poll (what brings the next full collection closer, see
  ``benchmarks/loop_probe/gc_watch.py``); and the objects the collector tracks (counted after
  the window);
* polls per second (the emulator's count).

``--freeze-heap`` turns ``[querystatus] freeze_triggerer_heap`` on in the deployment (it acts
only where this package's triggers run, so in the ``ours`` runs).

``--profile DIR`` also writes a cProfile of the trigger runner's loop thread over the window
(``DIR/<kind>-<N>-run<r>.prof``); CPU figures of profiled runs are inflated and marked so.

Printed: progress and a table per size to stderr, the full report as JSON to stdout. The
figures are medians over the runs when ``--runs`` > 1.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

from airflow import __version__ as AIRFLOW_VERSION  # noqa: E402
from airflow_stack import AIRFLOW_3, AirflowStack, wait_until  # noqa: E402
from packaging.version import Version  # noqa: E402
from process_sweep import run_leaving_nothing  # noqa: E402

PROBE = Path(__file__).resolve().parent / "loop_probe"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")
#: The parts of the deployment whose CPU is reported (the stack's process names).
PARTS = ("scheduler", "dag-processor", "api-server")

BASELINE_TASK = """\
DateTimeSensorAsync(
        task_id=f"wait_{{number:05d}}", target_time=TARGET, start_from_trigger=True, end_from_trigger=True,
    )"""
OURS_TASK = """\
AthenaCalculationExecutionSensor(
        task_id=f"wait_{{number:05d}}", calculation_execution_id=f"{dag_id}-{{number:05d}}",
        deferrable=True, start_from_trigger=True, poll_interval={interval}, max_poll_interval={interval},
    )"""
DAG_FILE = '''\
"""Written by benchmarks/real_triggerer.py: {tasks} {kind} waits, started from the trigger."""
import datetime

from airflow.providers.standard.sensors.date_time import DateTimeSensorAsync
from airflow.sdk import DAG

from airflow_querystatus.sensors.athena import AthenaCalculationExecutionSensor

TARGET = datetime.datetime(2027, 12, 31, tzinfo=datetime.timezone.utc)

with DAG("{dag_id}", schedule="@once", start_date=datetime.datetime(2026, 1, 1), catchup=False,
         max_active_tasks={tasks}):
    for number in range({tasks}):
        {task}
'''


@dataclass(frozen=True)
class Plan:
    kind: str  # "baseline" or "ours"
    size: int
    tasks_per_dag: int
    interval: float

    @property
    def dag_ids(self) -> list[str]:
        return [f"bench_{self.kind}_{d:03d}" for d in range(math.ceil(self.size / self.tasks_per_dag))]

    def tasks_of(self, index: int) -> int:
        return min(self.tasks_per_dag, self.size - index * self.tasks_per_dag)

    def calculation_ids(self) -> list[str]:
        return [f"{dag_id}-{n:05d}" for i, dag_id in enumerate(self.dag_ids) for n in range(self.tasks_of(i))]

    def write_dags(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        for index, dag_id in enumerate(self.dag_ids):
            template = OURS_TASK if self.kind == "ours" else BASELINE_TASK
            task = template.format(dag_id=dag_id, interval=self.interval)
            (folder / f"{dag_id}.py").write_text(
                DAG_FILE.format(dag_id=dag_id, tasks=self.tasks_of(index), kind=self.kind, task=task))


@dataclass
class BenchStack(AirflowStack):
    """The project's stack, told what a large deployment is told: room for every trigger in
    one triggerer, WARNING logs, and the probe on the path of every process."""

    probe_dir: Path = field(default_factory=Path)
    capacity: int = 1000
    freeze_heap: bool = False

    def env(self) -> dict[str, str]:
        env = super().env()
        env.update(
            AIRFLOW__TRIGGERER__CAPACITY=str(self.capacity),
            AIRFLOW__LOGGING__LOGGING_LEVEL="WARNING",
            # Airflow's defaults, where the test stack shortens them.
            AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC="5",
            AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC="5",
            AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL="300",
            AIRFLOW__SCHEDULER__MIN_FILE_PROCESS_INTERVAL="30",
            AIRFLOW__QUERYSTATUS__FREEZE_TRIGGERER_HEAP=str(self.freeze_heap),
            QUERYSTATUS_PROBE_DIR=str(self.probe_dir),
            PYTHONPATH=os.pathsep.join(filter(None, [str(PROBE), os.environ.get("PYTHONPATH")])),
        )
        return env


# ---------------------------------------------------------------------------------- /proc


def _stat(pid: int) -> tuple[int, float, int] | None:
    """(parent pid, CPU seconds, RSS bytes) of one process, or None if it is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = raw[raw.rindex(")") + 2:].split()
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / CLOCK_TICKS, int(fields[21]) * PAGE


def _processes() -> dict[int, tuple[int, float, int]]:
    table = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (stat := _stat(int(entry))) is not None:
            table[int(entry)] = stat
    return table


def _tree(table: dict[int, tuple[int, float, int]], root: int) -> set[int]:
    members, frontier = {root}, [root]
    while frontier:
        parent = frontier.pop()
        children = [pid for pid, (ppid, _, _) in table.items() if ppid == parent]
        members.update(children)
        frontier.extend(children)
    return members & set(table)


@dataclass(frozen=True)
class Sample:
    at: float
    cpu: dict[str, float]
    rss: dict[str, int]


def sample(stack: BenchStack, runner_pid: int) -> Sample:
    """CPU seconds so far and RSS of each part of the deployment."""
    table, cpu, rss = _processes(), {}, {}
    supervisor = stack.processes["triggerer"].pid
    parts: dict[str, set[int]] = {
        "triggerer supervisor": {supervisor},
        "trigger runner": _tree(table, runner_pid),
        "database": _tree(table, _postmaster(stack)),
    }
    parts["triggerer other"] = _tree(table, supervisor) - parts["trigger runner"] - {supervisor}
    for name in PARTS:
        if name in stack.processes:
            parts[name] = _tree(table, stack.processes[name].pid)
    for name, pids in parts.items():
        cpu[name] = sum(table[p][1] for p in pids)
        rss[name] = sum(table[p][2] for p in pids)
    return Sample(time.time(), cpu, rss)


def _postmaster(stack: BenchStack) -> int:
    assert stack.postgres is not None
    return int((stack.postgres.root / "data" / "postmaster.pid").read_text().split()[0])


# ---------------------------------------------------------------------------------- probe


def probe_report(probe_dir: Path, pid: int) -> dict[str, Any]:
    path = probe_dir / f"{pid}.json"
    for _ in range(50):
        try:
            return dict(json.loads(path.read_text()))
        except (OSError, ValueError):
            time.sleep(0.1)
    raise RuntimeError(f"the loop probe of process {pid} wrote nothing to {path}")


def find_runner(stack: BenchStack, probe_dir: Path) -> int:
    """The trigger runner: the triggerer's descendant whose event loop the probe watches."""
    def runner() -> int | None:
        descendants = _tree(_processes(), stack.processes["triggerer"].pid)
        probed = [int(p.stem) for p in probe_dir.glob("*.json") if p.stem.isdigit() and int(p.stem) in descendants]
        return probed[0] if len(probed) == 1 else None
    return int(wait_until(runner, 180, "the trigger runner's event loop (probe)"))


def loop_figures(before: dict[str, Any], after: dict[str, Any], start: float, end: float) -> dict[str, Any]:
    minutes = (end - start) / 60
    stalls = [seconds for at, seconds in after["stalls"] if start <= at - seconds and at <= end + 1]
    full = [c for c in after["full"] if start <= c["at"] <= end]
    young = [after["pause_seconds"][g] - before["pause_seconds"][g] for g in (0, 1)]
    young_count = [after["collections"][g] - before["collections"][g] for g in (0, 1)]
    return {
        "loop_stalls": len(stalls),
        "loop_stalls_over_0_5s": sum(1 for s in stalls if s > 0.5),
        "longest_stall_s": round(max(stalls, default=0.0), 3),
        "full_collections_per_min": round(len(full) / minutes, 2),
        "longest_full_collection_s": round(max((c["pause"] for c in full), default=0.0), 3),
        "full_collection_seconds_per_min": round(sum(c["pause"] for c in full) / minutes, 3),
        "young_collections_per_min": round(sum(young_count) / minutes, 1),
        "young_collection_seconds_per_min": round(sum(young) / minutes, 3),
        "promoted_per_min": round((after["promoted"] - before["promoted"]) / minutes),
    }


# ---------------------------------------------------------------------------------- one run


def run_once(plan: Plan, args: argparse.Namespace, run: int, workdir: Path) -> dict[str, Any]:
    home = workdir / f"{plan.kind}-{plan.size}-run{run}"
    shutil.rmtree(home, ignore_errors=True)
    probe_dir = home / "probe"
    probe_dir.mkdir(parents=True)
    plan.write_dags(home / "dags")
    stack = BenchStack(home=home / "airflow", dags_folder=home / "dags", emulator_args=("--no-examples",),
                       probe_dir=probe_dir, capacity=plan.size + 100, freeze_heap=args.freeze_heap)
    result: dict[str, Any] = {"kind": plan.kind, "size": plan.size, "run": run, "interval_s": plan.interval,
                              "dags": len(plan.dag_ids), "profiled": bool(args.profile),
                              "freeze_triggerer_heap": args.freeze_heap}
    try:
        stack.prepare()
        if plan.kind == "ours":
            _plant(stack, plan.calculation_ids(), "RUNNING")
        began = time.time()
        stack.start()
        runner = find_runner(stack, probe_dir)
        result["waits_started_s"] = round(_until_all_waiting(stack, plan, began, args.start_timeout) - began, 1)
        _log(f"  {plan.kind} N={plan.size}: all waits running after {result['waits_started_s']:.0f}s; "
             f"settling {args.settle:.0f}s, then a {args.window:.0f}s window")
        time.sleep(args.settle)
        result.update(_window(stack, runner, probe_dir, plan, args, run))
        if plan.kind == "ours":
            result.update(_detection(stack, plan))
    finally:
        stack.stop()
    if not args.keep:
        shutil.rmtree(home, ignore_errors=True)
    return result


def _plant(stack: BenchStack, calculation_ids: list[str], state: str) -> None:
    for chunk in range(0, len(calculation_ids), 500):
        stack.emulator_call("POST", "/_emulator/queries", {"queries": [
            {"kind": "athena_calculation", "query_id": cid, "steps": [state]}
            for cid in calculation_ids[chunk:chunk + 500]]})


def _until_all_waiting(stack: BenchStack, plan: Plan, began: float, timeout: float) -> float:
    """When every wait runs in the triggerer: every task deferred with its trigger held by
    the triggerer, and (ours) every calculation polled at least once."""
    def waiting() -> bool:
        rows = stack._query(
            "SELECT count(*) FROM task_instance ti JOIN trigger t ON ti.trigger_id = t.id "
            "WHERE ti.state = 'deferred' AND t.triggerer_id IS NOT NULL AND ti.dag_id LIKE :prefix",
            prefix=f"bench_{plan.kind}_%")
        if not rows or rows[0][0] < plan.size:
            return False
        if plan.kind == "ours":
            polled = sum(1 for q in stack.emulator_queries("athena_calculation") if q["status_calls"] > 0)
            return polled >= plan.size
        return True
    wait_until(waiting, timeout, f"{plan.size} {plan.kind} waits running", interval=2)
    return time.time()


def _window(stack: BenchStack, runner: int, probe_dir: Path, plan: Plan, args: argparse.Namespace,
            run: int) -> dict[str, Any]:
    if args.profile:
        (probe_dir / "profile-start").touch()
    polls_before = _polls(stack)
    loop_before, first = probe_report(probe_dir, runner), sample(stack, runner)
    time.sleep(args.window)
    last, loop_after, polls_after = sample(stack, runner), probe_report(probe_dir, runner), _polls(stack)
    if args.profile:
        (probe_dir / "profile-stop").touch()
        profile = probe_dir / f"{runner}.prof"
        wait_until(profile.exists, 120, "the runner's profile")
        args.profile.mkdir(parents=True, exist_ok=True)
        shutil.copy(profile, args.profile / f"{plan.kind}-{plan.size}-run{run}.prof")
    (probe_dir / "count-objects").touch()
    tracked = wait_until(lambda: probe_report(probe_dir, runner)["tracked"], 60, "the runner's object count")
    minutes = (last.at - first.at) / 60
    cpu = {part: round((last.cpu[part] - first.cpu.get(part, 0.0)) / minutes, 2) for part in last.cpu}
    polls = polls_after - polls_before
    figures = {
        "window_s": round(last.at - first.at, 1),
        "cpu_s_per_min": cpu,
        "triggerer_cpu_s_per_min": round(cpu["triggerer supervisor"] + cpu["trigger runner"]
                                         + cpu.get("triggerer other", 0.0), 2),
        "runner_rss_mb": round(last.rss["trigger runner"] / 2**20),
        "supervisor_rss_mb": round(last.rss["triggerer supervisor"] / 2**20),
        "polls_per_s": round(polls / (last.at - first.at), 1),
        "tracked_objects": tracked,
        **loop_figures(loop_before, loop_after, first.at, last.at),
    }
    if polls:
        figures["promoted_per_poll"] = round(figures["promoted_per_min"] / 60 / figures["polls_per_s"], 1)
    return figures


def _polls(stack: BenchStack) -> int:
    return sum(n for op, n in stack.emulator_requests().items() if op.startswith("get_calculation"))


def _detection(stack: BenchStack, plan: Plan) -> dict[str, Any]:
    """Every calculation turns COMPLETED at once; how long until each task succeeded."""
    flipped = time.time()
    _plant(stack, plan.calculation_ids(), "COMPLETED")

    def ended() -> list[float] | None:
        rows = stack._query("SELECT extract(epoch from end_date) FROM task_instance "
                            "WHERE state = 'success' AND dag_id LIKE :prefix", prefix=f"bench_{plan.kind}_%")
        return [float(r[0]) - flipped for r in rows] if len(rows) >= plan.size else None
    latencies = sorted(wait_until(ended, 10 * plan.interval + plan.size / 20, "every wait to succeed", interval=1))
    return {"detection_p50_s": round(statistics.median(latencies), 2),
            "detection_p99_s": round(latencies[int(0.99 * (len(latencies) - 1))], 2)}


# ---------------------------------------------------------------------------------- report


def _median(results: list[dict[str, Any]], key: str) -> Any:
    values = [r[key] for r in results if r.get(key) is not None]
    return statistics.median(values) if values else None


def summary(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for size in sorted({r["size"] for r in results}):
        by_kind = {kind: [r for r in results if r["size"] == size and r["kind"] == kind]
                   for kind in ("baseline", "ours")}
        row: dict[str, Any] = {"size": size}
        for kind, runs in by_kind.items():
            if not runs:
                continue
            row[kind] = {key: _median(runs, key) for key in (
                "waits_started_s", "triggerer_cpu_s_per_min", "polls_per_s", "runner_rss_mb", "loop_stalls",
                "loop_stalls_over_0_5s", "longest_stall_s", "full_collections_per_min",
                "longest_full_collection_s", "promoted_per_min", "promoted_per_poll", "tracked_objects",
                "detection_p50_s", "detection_p99_s")}
            row[kind]["runner_cpu_s_per_min"] = statistics.median(r["cpu_s_per_min"]["trigger runner"] for r in runs)
            row[kind]["scheduler_cpu_s_per_min"] = statistics.median(r["cpu_s_per_min"]["scheduler"] for r in runs)
            row[kind]["database_cpu_s_per_min"] = statistics.median(r["cpu_s_per_min"]["database"] for r in runs)
        if "baseline" in row and "ours" in row and row["ours"]["polls_per_s"]:
            polls_per_min = row["ours"]["polls_per_s"] * 60
            extra = row["ours"]["triggerer_cpu_s_per_min"] - row["baseline"]["triggerer_cpu_s_per_min"]
            extra_runner = row["ours"]["runner_cpu_s_per_min"] - row["baseline"]["runner_cpu_s_per_min"]
            row["ours_minus_baseline_us_per_poll"] = round(extra / polls_per_min * 1e6)
            row["runner_ours_minus_baseline_us_per_poll"] = round(extra_runner / polls_per_min * 1e6)
        rows.append(row)
    return rows


def print_table(rows: list[dict[str, Any]]) -> None:
    _log("\n| N | kind | started (s) | triggerer CPU-s/min | runner CPU-s/min | polls/s | runner RSS (MB) "
         "| stalls >0.2 s (longest) | full GCs/min (longest) | promoted/min | tracked objects "
         "| detection p50/p99 (s) |")
    _log("|---|---|---:|---:|---:|---:|---:|---|---|---:|---:|---|")
    for row in rows:
        for kind in ("baseline", "ours"):
            if kind not in row:
                continue
            r = row[kind]
            detection = f"{r['detection_p50_s']} / {r['detection_p99_s']}" if r["detection_p50_s"] is not None else "-"
            _log(f"| {row['size']:,} | {kind} | {r['waits_started_s']:.0f} | {r['triggerer_cpu_s_per_min']:.2f} "
                 f"| {r['runner_cpu_s_per_min']:.2f} | {r['polls_per_s']:.0f} | {r['runner_rss_mb']:.0f} "
                 f"| {r['loop_stalls']:g} ({r['longest_stall_s']:.2f}) "
                 f"| {r['full_collections_per_min']:.2f} ({r['longest_full_collection_s']:.2f}) "
                 f"| {r['promoted_per_min']:,.0f} | {r['tracked_objects']:,.0f} | {detection} |")
        if "ours_minus_baseline_us_per_poll" in row:
            _log(f"N={row['size']:,}: ours minus baseline, per poll: {row['ours_minus_baseline_us_per_poll']} µs "
                 f"(triggerer), {row['runner_ours_minus_baseline_us_per_poll']} µs (runner alone)")


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 3000])
    parser.add_argument("--kinds", nargs="+", choices=("baseline", "ours"), default=["baseline", "ours"])
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--tasks-per-dag", type=int, default=100)
    parser.add_argument("--interval", type=float, default=5.0, help="ours: seconds between polls")
    parser.add_argument("--window", type=float, default=120.0, help="seconds of the steady window")
    parser.add_argument("--settle", type=float, default=20.0, help="seconds between all waits running and the window")
    parser.add_argument("--start-timeout", type=float, default=900.0)
    parser.add_argument("--profile", type=Path, default=None, help="folder for cProfile files of the runner")
    parser.add_argument("--freeze-heap", action="store_true",
                        help="[querystatus] freeze_triggerer_heap = True in the deployment (acts in ours only)")
    parser.add_argument("--keep", action="store_true", help="keep each run's AIRFLOW_HOME, logs and probe files")
    args = parser.parse_args()
    if not AIRFLOW_3 or Version(AIRFLOW_VERSION) < Version("3.3.0"):
        _log(f"This benchmark needs Airflow >= 3.3 (start_from_trigger); this is {AIRFLOW_VERSION}: "
             "make benchmark-triggerer AIRFLOW=3.3")
        return 2
    workdir = Path(tempfile.mkdtemp(prefix="querystatus-real-triggerer-"))
    results, started = [], time.time()
    for size in args.sizes:
        for run in range(1, args.runs + 1):
            for kind in args.kinds:
                _log(f"run {run}/{args.runs}: {kind}, N={size:,} ({time.time() - started:.0f}s so far)")
                results.append(run_once(Plan(kind, size, args.tasks_per_dag, args.interval), args, run, workdir))
    rows = summary(results)
    print_table(rows)
    _log(f"\nfinished in {time.time() - started:.0f}s")
    json.dump({"airflow": AIRFLOW_VERSION, "results": results, "summary": rows}, sys.stdout, indent=2)
    print()
    if not args.keep:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(run_leaving_nothing(main))
