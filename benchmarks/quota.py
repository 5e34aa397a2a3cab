"""Waits against an account-wide API quota: the shared rate budget against each wait alone.

    make benchmark-quota                                   # every row, budget adaptive and off
    .venvs/airflow-3.3/bin/python benchmarks/quota.py --rows 1000x50 --budgets adaptive

AWS throttles an account's calls of one operation above its quota, whichever process makes
them. Here the emulator plays that account (``--quota GetCalculationExecutionStatus=Q:Q``, a
token bucket of rate Q and burst Q, in its own process) and N Athena calculation waits
(``AthenaCalculationExecutionTrigger``, ``poll_interval`` = ``max_poll_interval`` = 5 s) run in
one process, or split over two processes that share the quota. Each calculation is RUNNING
for a random 60-120 s from when it was planted, then COMPLETED.

Rows (``--rows``, NxQ[xP]: N waits, Q calls/s, P processes): 200x10, 1000x10, 1000x50,
3000x50 and 1000x50x2 by default, each with ``[querystatus] rate_budget`` adaptive (the shared
budget) and off (each wait backs off on its own, as before the budget; ``--budgets``). The rows
of one budget setting run at the same time, each against its own emulator (its own account):
together they ask about 170 calls/s of two cores, and a whole run takes about 9 minutes.

``--retry-mode adaptive`` sets botocore's adaptive retry mode on the waits' connection and
``--prepared off`` turns prepared status calls off (issue 30's cases).

``--kind logs`` waits on Logs Insights queries instead (``CloudWatchLogsInsightsQueryTrigger``),
the quota applying to GetQueryResults and DescribeQueries alike, and ``--lists auto off`` runs
each row with ``[querystatus] status_lists`` auto (one DescribeQueries call answers every wait)
and off (each wait its own GetQueryResults), both settings' rows at once.

Reported per row: calls (served and throttled, counted by the emulator), the throttled share,
successful calls/s while every wait is still pending (the first 60 s) and that as a share of
the quota, detection delay p50/p95/p99 (from a calculation's completion to its wait's event)
against the ideal ``max(interval, N/Q)``, waits that did not end in success, warning lines (all,
and the most in one minute), and each process's CPU seconds and successful calls/s.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

from process_sweep import run_leaving_nothing  # noqa: E402

#: What a row waits on (``--kind``): the emulator's kind, its running and final states, the
#: trigger, and the API names the quota applies to (calls of each are counted).
KINDS: dict[str, dict[str, Any]] = {
    "athena": {"kind": "athena_calculation", "running": "RUNNING", "done": "COMPLETED",
               "trigger": ("airflow_querystatus.triggers.athena", "AthenaCalculationExecutionTrigger",
                           "calculation_execution_id"),
               "operations": ["GetCalculationExecutionStatus"]},
    "logs": {"kind": "logs_insights_query", "running": "Running", "done": "Complete",
             "trigger": ("airflow_querystatus.triggers.logs", "CloudWatchLogsInsightsQueryTrigger", "query_id"),
             "operations": ["GetQueryResults", "DescribeQueries"]},
}
KIND = dict(KINDS["athena"])  # a copy: main() replaces its contents with --kind's
INTERVAL = 5.0
#: When the calculations complete (seconds after planting); ``--finish`` scales it for a smoke run.
FINISH = [60.0, 120.0]
KEY, SECRET = "bench-key", "bench-secret"
#: The connection's botocore retry mode and the prepared-calls option (``--retry-mode``, ``--prepared``).
OPTIONS: dict[str, Any] = {"retry_mode": "standard", "prepared": "true", "kind": "athena", "attempts": None}


def percentile(values: list[float], q: float) -> float | None:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else None


# ----------------------------------------------------------------------------- the waits
def child(config_path: str) -> None:
    """One process of waits (a triggerer's loop): runs them, writes what it saw."""
    config = json.loads(Path(config_path).read_text())
    os.environ["AIRFLOW_CONN_AWS_DEFAULT"] = json.dumps({
        "conn_type": "aws", "login": KEY, "password": SECRET,
        "extra": {"region_name": "us-east-1", "endpoint_url": config["url"]}})
    os.environ["AIRFLOW__QUERYSTATUS__RATE_BUDGET"] = config["budget"]
    os.environ["AIRFLOW__QUERYSTATUS__PREPARED_STATUS_CALLS"] = config.get("prepared", "true")
    os.environ["AIRFLOW__QUERYSTATUS__STATUS_LISTS"] = config.get("lists", "auto")
    botocore_config = {"retries": {"mode": config.get("retry_mode", "standard"),
                                   **({"total_max_attempts": config["attempts"]} if config.get("attempts") else {})}}
    import importlib

    from airflow_querystatus import metrics

    module, class_name, id_argument = KINDS[config["kind"]]["trigger"]
    trigger_class = getattr(importlib.import_module(module), class_name)

    counts: collections.Counter[str] = collections.Counter()

    class CountingStats:  # the package's metrics, counted here instead of sent to StatsD
        def incr(self, name: str, count: int = 1, **_: Any) -> None:
            counts[name] += count

        def gauge(self, *_: Any, **__: Any) -> None:
            pass

        def timing(self, *_: Any, **__: Any) -> None:
            pass

    metrics.compat.Stats = CountingStats()  # type: ignore[assignment]
    finishes: dict[str, float] = config["finishes"]

    async def one(query_id: str) -> tuple[str, float, str]:
        trigger = trigger_class(**{id_argument: query_id}, poll_interval=INTERVAL, max_poll_interval=INTERVAL,
                                botocore_config=botocore_config)
        async for event in trigger.run():
            return query_id, time.time(), event.payload["status"]
        raise AssertionError("no event")

    async def main() -> list[tuple[str, float, str]]:
        return await asyncio.gather(*(one(q) for q in finishes))

    cpu = time.process_time()
    results = asyncio.run(main())
    cpu = time.process_time() - cpu
    Path(config["out"]).write_text(json.dumps({
        "lags": [at - finishes[q] for q, at, status in results if status == "success"],
        "failed": sum(status != "success" for _, _, status in results),
        "cpu_s": cpu,
        # Polls the tracker judged, less the errors among them: the calls AWS answered.
        "answered": sum(v if k.endswith(".polls") else -v for k, v in counts.items()
                        if k.endswith((".polls", ".throttled", ".transient_errors")) and ".budget." not in k),
        "ended_at": time.time()}))


#: A warning line of Airflow 3's structlog (``... [warning  ] ...``) or Airflow 2's logging
#: (``... WARNING - ...``), and the minute its timestamp names.
_WARNING = re.compile(r"\[warning\s*\]|\bWARNING\b")
_MINUTE = re.compile(r"(\d{4}-\d\d-\d\d[T ]\d\d:\d\d)")


def warning_minutes(log: Path) -> list[str]:
    """The minute of each warning line the waits printed."""
    found = []
    for line in log.read_text(errors="replace").splitlines():
        if _WARNING.search(line):
            minute = _MINUTE.search(line)
            found.append(minute.group(1) if minute else "?")
    return found


# ----------------------------------------------------------------------------- one row
def control(url: str, method: str, path: str, body: Any = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url + path, data=data, method=method, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as answer:
        return json.loads(answer.read())


class Row:
    """One NxQxP row under one budget setting: its emulator and its processes."""

    def __init__(self, waits: int, quota: float, processes: int, budget: str, lists: str, work: Path,
                 seed: int) -> None:
        self.waits, self.quota, self.processes, self.budget, self.lists = waits, quota, processes, budget, lists
        self.name = f"{waits}x{quota:g}" + (f"x{processes}" if processes > 1 else "")
        self.work = work / f"{self.name}-{budget}-{lists}"
        self.work.mkdir(parents=True)
        self.rng = random.Random(seed)
        self.emulator = subprocess.Popen(
            [sys.executable, "-m", "airflow_querystatus.emulator", "--port", "0", "--no-examples",
             "--credentials", f"{KEY}:{SECRET}",
             *(arg for op in KIND["operations"] for arg in ("--quota", f"{op}={quota:g}:{quota:g}"))],
            stdout=subprocess.PIPE, text=True)
        assert self.emulator.stdout is not None
        self.url = self.emulator.stdout.readline().split()[-1]
        self.children: list[subprocess.Popen[bytes]] = []

    def start(self) -> None:
        plan = [self.rng.uniform(*FINISH) for _ in range(self.waits)]
        planted = time.time()
        ids = control(self.url, "POST", "/_emulator/queries", {"queries": [
            {"kind": KIND["kind"], "steps": [{"state": KIND["running"], "seconds": s}, KIND["done"]]} for s in plan]})
        self.started = time.time()
        finishes = dict(zip(ids["query_ids"], (planted + s for s in plan), strict=True))
        self.outs = []
        for p in range(self.processes):
            out = self.work / f"process-{p}.json"
            config = self.work / f"config-{p}.json"
            share = dict(list(finishes.items())[p::self.processes])
            config.write_text(json.dumps({"url": self.url, "budget": self.budget, "lists": self.lists,
                                          "kind": OPTIONS["kind"], "finishes": share, "out": str(out),
                                          "retry_mode": OPTIONS["retry_mode"], "prepared": OPTIONS["prepared"],
                                          "attempts": OPTIONS["attempts"]}))
            self.outs.append(out)
            # What the waits log (Airflow's structlog prints to stdout): warning lines are counted from it.
            with open(self.work / f"process-{p}.log", "wb") as log_file:
                self.children.append(subprocess.Popen([sys.executable, __file__, "--child", str(config)],
                                                      stdout=log_file, stderr=subprocess.STDOUT))
        self.at_start = self.counters()

    def counters(self) -> dict[str, int]:
        """Calls served and throttled, summed over the operations the quota applies to."""
        counted = control(self.url, "GET", "/_emulator/quotas")["counters"]
        return {what: sum(counted.get(op, {}).get(what, 0) for op in KIND["operations"])
                for what in ("served", "throttled")}

    def sample_pending_window(self) -> None:
        self.at_60 = self.counters()

    def finish(self) -> dict[str, Any]:
        for process in self.children:
            process.wait()
        end = self.counters()
        self.emulator.terminate()
        self.emulator.wait()
        parts = [json.loads(out.read_text()) for out in self.outs]
        lags = [lag for part in parts for lag in part["lags"]]
        minutes = collections.Counter(minute for p in range(self.processes)
                                      for minute in warning_minutes(self.work / f"process-{p}.log"))
        calls = end["served"] + end["throttled"] - self.at_start["served"] - self.at_start["throttled"]
        early_ok = self.at_60["served"] - self.at_start["served"]
        # One list call answers every wait (Logs): each is polled at its interval whatever N is.
        listed = self.lists == "auto" and KIND["kind"] == "logs_insights_query"
        ideal = INTERVAL if listed else max(INTERVAL, self.waits / self.quota)
        return {
            "row": self.name, "kind": OPTIONS["kind"], "budget": self.budget, "lists": self.lists, "calls": calls,
            "throttled_share": round((end["throttled"] - self.at_start["throttled"]) / calls, 3),
            "ok_calls_per_s_first_60s": round(early_ok / FINISH[0], 1),
            "quota_used_first_60s": round(early_ok / FINISH[0] / self.quota, 3),
            "detection_s": {name: round(percentile(lags, share) or 0, 1)
                            for name, share in (("p50", .5), ("p95", .95), ("p99", .99))},
            "ideal_s": round(ideal, 1), "p99_over_ideal": round((percentile(lags, .99) or 0) / ideal, 2),
            "not_success": sum(part["failed"] for part in parts),
            "warnings": sum(minutes.values()), "warnings_max_per_minute": max(minutes.values(), default=0),
            "cpu_s": [round(part["cpu_s"], 1) for part in parts],
            "ok_calls_per_s_per_process": [round(part["answered"] / (part["ended_at"] - self.started), 1)
                                           for part in parts],
        }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", nargs="+", default=["200x10", "1000x10", "1000x50", "3000x50", "1000x50x2"])
    parser.add_argument("--budgets", nargs="+", default=["adaptive", "off"], choices=["adaptive", "off"])
    parser.add_argument("--finish", nargs=2, type=float, default=FINISH, metavar=("FIRST", "LAST"),
                        help="seconds after planting between which the calculations complete (default 60 120)")
    parser.add_argument("--retry-mode", default="standard", choices=["standard", "adaptive", "legacy"],
                        help="the connection's botocore_config retries mode (default standard)")
    parser.add_argument("--prepared", default="on", choices=["on", "off"], help="[querystatus] prepared_status_calls")
    parser.add_argument("--attempts", type=int, help="the connection's botocore_config total_max_attempts")
    parser.add_argument("--kind", default="athena", choices=sorted(KINDS), help="what the waits wait on")
    parser.add_argument("--lists", nargs="+", default=["auto"], choices=["auto", "off"],
                        help="[querystatus] status_lists settings, each row run with each at once (default auto)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    options = parser.parse_args()
    FINISH[:] = options.finish
    OPTIONS.update(retry_mode=options.retry_mode, prepared="true" if options.prepared == "on" else "false",
                   kind=options.kind, attempts=options.attempts)
    KIND.clear()
    KIND.update(KINDS[options.kind])
    if options.child:
        child(options.child)
        return 0
    results = []
    with tempfile.TemporaryDirectory(prefix="querystatus-quota-") as tmp:
        for budget in options.budgets:
            rows = []
            for i, spec in enumerate(options.rows):
                n, q, *p = spec.split("x")
                for lists in options.lists:
                    rows.append(Row(int(n), float(q), int(p[0]) if p else 1, budget, lists, Path(tmp), seed=i))
            begun = time.time()
            for row in rows:
                row.start()
            time.sleep(max(0.0, FINISH[0] - (time.time() - begun)))
            for row in rows:
                row.sample_pending_window()
            for row in rows:
                result = row.finish()
                results.append(result)
                print(json.dumps(result), flush=True)
            print(f"[{budget}: {time.time() - begun:.0f}s]", flush=True)
    columns = ("row", "kind", "budget", "lists", "calls", "thr%", "ok/s", "used", "p50", "p95", "p99", "ideal", "x",
               "fail", "warn", "w/min", "cpu", "ok/s/proc")
    print(" | ".join(columns))
    for r in results:
        d = r["detection_s"]
        print(" | ".join(str(v) for v in (
            r["row"], r["kind"], r["budget"], r["lists"],
            r["calls"], f"{100 * r['throttled_share']:.1f}", r["ok_calls_per_s_first_60s"],
            f"{100 * r['quota_used_first_60s']:.0f}%", d["p50"], d["p95"], d["p99"], r["ideal_s"], r["p99_over_ideal"],
            r["not_success"], r["warnings"], r["warnings_max_per_minute"], r["cpu_s"],
            r["ok_calls_per_s_per_process"])))
    return 0


if __name__ == "__main__":
    if "--child" in sys.argv:
        sys.exit(main())
    sys.exit(run_leaving_nothing(main))
